package bridge

import (
	"context"
	"fmt"
	"time"

	"github.com/rs/zerolog"

	"github.com/plate-resort/plate-resort/bridge/prefect"
)

// runLog sends one flow run's log lines to Prefect (§9), so the run page
// shows what the bridge did. Lines are batched and sent off the run's path:
// a slow log call never delays a state transition.
type runLog struct {
	runID string
	log   zerolog.Logger
	pc    *prefect.Client
	lines chan prefect.Log
	done  chan struct{}
}

const (
	runLogName   = "plate-resort.bridge"
	runLogBuffer = 256
)

func newRunLog(pc *prefect.Client, log zerolog.Logger, runID string) *runLog {
	rl := &runLog{runID: runID, log: log.With().Str("flow_run", runID).Logger(), pc: pc,
		lines: make(chan prefect.Log, runLogBuffer), done: make(chan struct{})}
	go rl.loop()
	return rl
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
	case rl.lines <- prefect.Log{Name: runLogName, Level: level, Message: msg, Timestamp: time.Now().UTC(), FlowRunID: rl.runID}:
	default: // a run that logs this much loses lines rather than memory
	}
}

func (rl *runLog) loop() {
	defer close(rl.done)
	var batch []prefect.Log
	flush := func() {
		if len(batch) == 0 {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := rl.pc.CreateLogs(ctx, batch); err != nil {
			rl.log.Debug().Err(err).Int("lines", len(batch)).Msg("could not send run logs to Prefect")
		}
		batch = batch[:0]
	}
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case l, ok := <-rl.lines:
			if !ok {
				flush()
				return
			}
			batch = append(batch, l)
			if len(batch) >= 50 {
				flush()
			}
		case <-tick.C:
			flush()
		}
	}
}

// close sends what is left; it does not wait longer than a log call.
func (rl *runLog) close() {
	close(rl.lines)
	<-rl.done
}
