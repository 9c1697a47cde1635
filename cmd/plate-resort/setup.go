package main

import (
	"fmt"
	"os"

	"github.com/rs/zerolog"
	"github.com/spf13/pflag"

	"github.com/plate-resort/plate-resort/internal/config"
	"github.com/plate-resort/plate-resort/internal/logging"
)

// loadConfig parses args into fs and loads cfg (pre-filled with defaults)
// from the -c file, the environment and the flags that were set, then
// builds the logger from the loaded log options. Every subcommand that runs
// a long-lived process starts this way.
func loadConfig(fs *pflag.FlagSet, args []string, path *string, cfg any, logOpts *logging.Options) (zerolog.Logger, error) {
	if err := fs.Parse(args); err != nil {
		return zerolog.Nop(), err
	}
	if fs.NArg() > 0 {
		return zerolog.Nop(), fmt.Errorf("unexpected argument %q; the config file goes after -c", fs.Arg(0))
	}
	if err := config.Load(config.Source{Path: *path, Flags: fs}, cfg); err != nil {
		return zerolog.Nop(), err
	}
	return logging.New(*logOpts, os.Stderr)
}
