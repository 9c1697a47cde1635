// Package logging builds the zerolog loggers every subcommand uses: JSON by
// default (machine-readable on the Pi and in journald), human console output
// when stderr is a terminal.
package logging

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/rs/zerolog"
)

// Options selects level and format. Format is "auto" (console on a TTY, JSON
// otherwise), "json" or "console".
type Options struct {
	Level  string `koanf:"level"`
	Format string `koanf:"format"`
}

// New returns a logger writing to w (os.Stderr when nil).
func New(opts Options, w io.Writer) (zerolog.Logger, error) {
	if w == nil {
		w = os.Stderr
	}
	lvlName := strings.TrimSpace(opts.Level)
	if lvlName == "" {
		lvlName = "info"
	}
	lvl, err := zerolog.ParseLevel(strings.ToLower(lvlName))
	if err != nil {
		return zerolog.Nop(), fmt.Errorf("log.level %q: want trace, debug, info, warn or error", opts.Level)
	}
	switch strings.ToLower(opts.Format) {
	case "", "auto":
		if f, ok := w.(*os.File); ok && isatty.IsTerminal(f.Fd()) {
			w = zerolog.ConsoleWriter{Out: w, TimeFormat: time.RFC3339}
		}
	case "json":
	case "console":
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: time.RFC3339, NoColor: true}
	default:
		return zerolog.Nop(), fmt.Errorf("log.format %q: want auto, json or console", opts.Format)
	}
	return zerolog.New(w).Level(lvl).With().Timestamp().Logger(), nil
}
