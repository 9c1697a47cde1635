package main

import (
	"context"
	"fmt"
	"runtime"

	"github.com/plate-resort/plate-resort/internal/buildinfo"
)

func init() {
	register("version", "print the version and build of this binary", func(ctx context.Context, args []string) error {
		fmt.Printf("plate-resort %s (%s, %s/%s)\n", buildinfo.Version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
		return nil
	})
}
