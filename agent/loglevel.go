package agent

import (
	"context"
	"sync/atomic"

	"github.com/rs/zerolog"

	"github.com/plate-resort/plate-resort/contract"
)

// logLevel is the agent's log level, changeable at run time by
// set_log_level. A zerolog.Logger's own level is fixed when it is copied
// into each part, and zerolog.SetGlobalLevel would also silence the broker
// and bridge running in the same process (plate-resort up). So the agent's
// logger is opened to every level and this hook discards what is below the
// current one (zerolog Event.Discard). The price is that a discarded debug
// line is still formatted; the agent and driver write debug lines only on
// failures and precise-move pulses, never per serial transaction.
type logLevel struct{ lv atomic.Int32 }

func newLogLevel(l zerolog.Level) *logLevel {
	h := &logLevel{}
	h.lv.Store(int32(l))
	return h
}

func (h *logLevel) get() zerolog.Level { return zerolog.Level(h.lv.Load()) }

func (h *logLevel) set(l zerolog.Level) zerolog.Level { return zerolog.Level(h.lv.Swap(int32(l))) }

// Run is the zerolog hook.
func (h *logLevel) Run(e *zerolog.Event, l zerolog.Level, _ string) {
	if l < h.get() {
		e.Discard()
	}
}

// withLiveLevel returns log opened to every level and filtered by a
// logLevel that starts at log's own level. A disabled logger stays as it is.
func withLiveLevel(log zerolog.Logger) (zerolog.Logger, *logLevel) {
	h := newLogLevel(log.GetLevel())
	if log.GetLevel() == zerolog.Disabled {
		return log, h
	}
	return log.Level(zerolog.TraceLevel).Hook(h), h
}

// doSetLogLevel changes the level of every logger of this agent (driver
// included). The broker lets only admins publish it (broker/roles.go).
func (s *service) doSetLogLevel(_ context.Context, req *contract.Request) (any, error) {
	l, err := zerolog.ParseLevel(req.String("level"))
	if err != nil {
		return nil, contract.Errorf(contract.CodeInvalidArg, "level %q: want trace, debug, info, warn or error", req.String("level"))
	}
	prev := s.logLevel.set(l)
	// Logged at warn, so the change shows whatever the new level.
	s.log.Warn().Str("previous", prev.String()).Str("level", l.String()).Str("id", req.ID).Msg("log level changed")
	return contract.LogLevelResult{Previous: prev.String(), Level: l.String()}, nil
}
