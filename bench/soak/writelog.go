package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"time"

	"github.com/plate-resort/plate-resort/driver/xseries"
)

// Control table addresses the write log is read with.
const (
	addrProfileAcceleration = 108
	addrGoalPosition        = 116
)

// simWrite is one line of `plate-resort sim --write-log` (cmd/plate-resort/sim.go).
type simWrite struct {
	At         time.Time `json:"at"`
	Addr       uint16    `json:"addr"`
	Len        int       `json:"len"`
	Value      *int64    `json:"value"`
	Goal       *int64    `json:"goal"`
	PresentDeg float64   `json:"present_deg"`
}

// goalWrite is a Goal Position write, classified.
//
// The driver writes Goal Position in two ways (driver/resort): a move writes
// its target once (plain: motion.go plain; precise: precise.go stage 1; the
// PWM pulses of stage 2 write Goal PWM, not Goal Position), and "hold" writes
// the present position: enterPositionMode (connect, the end of a precise
// move's pulse stage, a move after torque was off) writes Profile
// Acceleration (108) immediately before it, so a Goal Position write right
// after a 108 write is a hold, never a move. Hold() in position mode (a
// cancelled move) writes the present position too, without the 108 before
// it; such a write lands where the carousel already is (off == 0).
type goalWrite struct {
	At      time.Time
	Goal    int64
	Present float64 // degrees, where the carousel was when the goal was written
	Hold    bool    // the write followed a Profile Acceleration write
	Off     int64   // pulses between the present position and the goal, around the turn
	Seq     int     // line number in the log
}

// inPlace says the goal is where the carousel already stood: a hold, or a
// move re-run where it had already arrived (the log cannot tell them apart).
func (w goalWrite) inPlace() bool { return w.Off <= 1 }

func (w goalWrite) String() string {
	kind := "target"
	if w.Hold {
		kind = "hold"
	}
	return fmt.Sprintf("%s goal=%d (%.3f°) %s present=%.3f° off=%d pulses (log line %d)",
		w.At.Format("15:04:05.000"), w.Goal, float64(xseries.PulsesToDegrees(w.Goal)), kind, w.Present, w.Off, w.Seq)
}

// writeLog is the parsed write log: the goal writes by goal value.
type writeLog struct {
	total  int // every logged write
	goals  []goalWrite
	byGoal map[int64][]goalWrite // target writes only (not holds), in time order
	bad    int                   // unreadable lines
}

func readWriteLog(path string) (*writeLog, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return parseWriteLog(f)
}

func parseWriteLog(r io.Reader) (*writeLog, error) {
	wl := &writeLog{byGoal: map[int64][]goalWrite{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var prev uint16
	line := 0
	for sc.Scan() {
		line++
		var w simWrite
		if err := json.Unmarshal(sc.Bytes(), &w); err != nil {
			wl.bad++ // a line cut off by a kill; the sim is never killed, so this stays 0
			continue
		}
		wl.total++
		if w.Goal != nil {
			g := *w.Goal
			present := int64(math.Round(w.PresentDeg * xseries.PulsesPerRev / 360))
			gw := goalWrite{At: w.At, Goal: g, Present: w.PresentDeg, Hold: prev == addrProfileAcceleration && w.Addr == addrGoalPosition,
				Off: pulseDist(present, g), Seq: line}
			wl.goals = append(wl.goals, gw)
			if !gw.Hold {
				wl.byGoal[g] = append(wl.byGoal[g], gw)
			}
		}
		prev = w.Addr
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	for _, ws := range wl.byGoal {
		sort.SliceStable(ws, func(i, j int) bool { return ws[i].At.Before(ws[j].At) })
	}
	return wl, nil
}

// execution is what the write log says about a move to goal sent at since.
type execution struct {
	First   *goalWrite  // the first target write of the goal after the command was sent
	Again   []goalWrite // later target writes of the goal from elsewhere: the move ran again
	InPlace []goalWrite // later target writes of the goal where the carousel already stood
}

func (wl *writeLog) execution(goal int64, since time.Time) execution {
	var ex execution
	for _, w := range wl.byGoal[goal] {
		if w.At.Before(since) {
			continue
		}
		switch {
		case ex.First == nil:
			w := w
			ex.First = &w
		case w.inPlace():
			ex.InPlace = append(ex.InPlace, w)
		default:
			ex.Again = append(ex.Again, w)
		}
	}
	return ex
}
