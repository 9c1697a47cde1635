package bridge

import (
	"context"
	"fmt"
	"time"

	"github.com/rs/zerolog"

	"github.com/plate-resort/plate-resort/bridge/prefect"
)

// logShipper sends every run's log lines to Prefect (docs/prefect.md §9) from one goroutine,
// in batches: many runs at once cost one request per batch, not one per
// line, which matters on a Prefect server backed by SQLite (its single
// writer lock is the bottleneck). A slow log call never delays a run.
//
// Lines go out when a run has reached its final state (flushSoon), and
// every logFlushEvery for runs still going (Prefect's own engine batches
// every 2 s, PREFECT_LOGGING_TO_API_BATCH_INTERVAL,
// src/prefect/settings/models/logging.py). A fixed 250 ms tick used to
// land inside other runs' state changes, a write the server serialised
// with them.
type logShipper struct {
	pc    *prefect.Client
	log   zerolog.Logger
	lines chan prefect.Log
	now   chan struct{} // flushSoon's requests, coalesced
}

const (
	runLogName      = "plate-resort.bridge"
	logBuffer       = 4096
	logBatch        = 200
	logFlushEvery   = 2 * time.Second
	logFlushTimeout = 10 * time.Second
)

func newLogShipper(pc *prefect.Client, log zerolog.Logger) *logShipper {
	return &logShipper{pc: pc, log: log, lines: make(chan prefect.Log, logBuffer), now: make(chan struct{}, 1)}
}

// flushSoon asks for the lines so far to be sent now; requests made while
// one is pending are one.
func (s *logShipper) flushSoon() {
	if s == nil {
		return // runDeps built by hand in a test
	}
	select {
	case s.now <- struct{}{}:
	default:
	}
}

func (s *logShipper) run(ctx context.Context) {
	var batch []prefect.Log
	flush := func() {
		if len(batch) == 0 {
			return
		}
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), logFlushTimeout)
		defer cancel()
		if err := s.pc.CreateLogs(fctx, batch); err != nil {
			s.log.Debug().Err(err).Int("lines", len(batch)).Msg("could not send run logs to Prefect")
		}
		batch = batch[:0]
	}
	tick := time.NewTicker(logFlushEvery)
	defer tick.Stop()
	for {
		select {
		case l := <-s.lines:
			batch = append(batch, l)
			if len(batch) >= logBatch {
				flush()
			}
		case <-tick.C:
			flush()
		case <-s.now:
			// Lines the run logged just before asking are in the channel.
			for len(s.lines) > 0 && len(batch) < logBatch {
				batch = append(batch, <-s.lines)
			}
			flush()
		case <-ctx.Done():
			for {
				select {
				case l := <-s.lines:
					batch = append(batch, l)
				default:
					flush()
					return
				}
			}
		}
	}
}

// runLog writes one flow run's lines to the bridge's log and to Prefect.
type runLog struct {
	runID string
	log   zerolog.Logger
	ship  *logShipper
}

func newRunLog(log zerolog.Logger, ship *logShipper, runID string) *runLog {
	return &runLog{runID: runID, log: log.With().Str("flow_run", runID).Logger(), ship: ship}
}

func (rl *runLog) Infof(format string, a ...any)  { rl.add(prefect.LevelInfo, format, a...) }
func (rl *runLog) Warnf(format string, a ...any)  { rl.add(prefect.LevelWarning, format, a...) }
func (rl *runLog) Errorf(format string, a ...any) { rl.add(prefect.LevelError, format, a...) }

func (rl *runLog) add(level int, format string, a ...any) {
	msg := fmt.Sprintf(format, a...)
	ev := rl.log.Info()
	if level >= prefect.LevelWarning {
		ev = rl.log.Warn()
	}
	ev.Msg(msg)
	select {
	case rl.ship.lines <- prefect.Log{Name: runLogName, Level: level, Message: msg, Timestamp: time.Now().UTC(), FlowRunID: rl.runID}:
	default: // Prefect unreachable for long: lose lines rather than memory
	}
}
