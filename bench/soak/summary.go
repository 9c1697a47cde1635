package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/plate-resort/plate-resort/bridge/prefect"
	"github.com/plate-resort/plate-resort/internal/benchstat"
)

// summary is what a soak run found.
type summary struct {
	Seed            int64
	Duration        time.Duration
	Drained         time.Duration
	Dir             string // work directory, when kept
	MotionTimeout   time.Duration
	WritesLogged    int
	GoalWrites      int
	UnattributedGW  int // target writes of goals no command of ours had
	Direct          []directRow
	Resend          resendRow
	Runs            []runRow
	Faults          []faultRow
	FaultLog        []faultRec
	LatchHeals      int
	StrayReplies    int
	HarnessOutages  int
	MoveTook        []time.Duration // started -> finished of direct moves that ran (from their replies)
	ExecutedTwice   int             // commands and runs whose goal was written again from elsewhere
	RepeatRan       int             // a re-sent id of a command that had started (without moving) ran
	InPlaceRepeats  int             // later target writes of an executed goal where the carousel stood
	Lost            int
	NotDelivered    int
	UnansweredExec  int // executed, accepted, never answered
	Contradictions  int // answered "never ran" (or ok without moving) but the log says otherwise
	Interrupted     int // first answer was 'interrupted' (the agent died while it ran)
	NonFinal        int
	Broken          []string // promises that broke
	Findings        []string // evidence, one item per event
	ReplyCodes      map[string]map[string]int
	RunFinalReasons map[string]int
}

type directRow struct {
	Kind         kind
	QoS          byte
	Sent         int
	Attempts     int
	NotDelivered int
	Answered     int
	FirstTry     int // answered to the first publish
	AfterResend  int // answered only after a re-send with the same id
	Executed     int
	Twice        int
	Lost         int
	Unanswered   int // accepted, executed, no reply
}

// resendRow counts deliberate re-sends of answered ids. An id whose command
// started must come back duplicate:true and never run again; one that never
// started (queue_full, dropped by an e-stop, ...) is forgotten by contract,
// so its re-send may run it (for the first time).
type resendRow struct {
	Sent, Answered, Duplicate, Twice  int
	OfStarted, OfNeverStarted, RanNow int
}

type runRow struct {
	Kind                                                   runKind
	Created, CreateFailed                                  int
	Completed, Failed, Crashed, Cancelled, Other, NonFinal int
	Executed, Twice, CompletedNotExecuted                  int
	ExecutedNotCompleted                                   int // the carousel moved, the run ended Failed/Crashed
}

type faultRow struct {
	Kind                faultKind
	Count, Recovered    int
	P50, P99, Max       time.Duration
	RestoreP50          time.Duration
	NotRecoveredOrError int
}

func (s *soak) summarize(wl *writeLog, drained time.Duration) *summary {
	sum := &summary{Seed: s.o.seed, Duration: s.o.duration, Drained: drained, MotionTimeout: s.o.motionTimeout,
		WritesLogged: wl.total, GoalWrites: len(wl.goals), ReplyCodes: map[string]map[string]int{}, RunFinalReasons: map[string]int{}}
	s.fmu.Lock()
	sum.FaultLog = append([]faultRec(nil), s.faults...)
	s.fmu.Unlock()
	ours := map[int64]bool{}
	cmds := s.reg.snapshot()
	s.reg.mu.Lock()
	defer s.reg.mu.Unlock()
	sum.StrayReplies = s.reg.stray
	sum.HarnessOutages = len(s.reg.harnessDown)

	rows := map[string]*directRow{}
	for _, c := range cmds {
		if c.Kind == kProbe {
			continue
		}
		if c.Kind == kHeal {
			sum.LatchHeals++
		}
		if c.Goal >= 0 {
			ours[c.Goal] = true
		}
		if c.Kind == kRunDup {
			s.countRunDup(sum, wl, c)
			continue
		}
		key := fmt.Sprintf("%s/%d", c.Kind, c.QoS)
		row := rows[key]
		if row == nil {
			row = &directRow{Kind: c.Kind, QoS: c.QoS}
			rows[key] = row
		}
		row.Sent++
		deliberate := -1
		for i, a := range c.Attempts {
			if a.Deliberate {
				if deliberate < 0 {
					deliberate = i
				}
				continue
			}
			row.Attempts++
		}
		codes := sum.ReplyCodes[string(c.Kind)]
		if codes == nil {
			codes = map[string]int{}
			sum.ReplyCodes[string(c.Kind)] = codes
		}
		first := c.firstReply()
		if first != nil && c.Kind == kMove && first.Started && !first.Duplicate {
			sum.MoveTook = append(sum.MoveTook, first.Took)
		}
		if first != nil {
			row.Answered++
			codes[replyCode(*first)]++
			if answeredAttempt(c) == 0 {
				row.FirstTry++
			} else {
				row.AfterResend++
			}
		}
		if c.NotDelivered {
			row.NotDelivered++
			sum.NotDelivered++
		}
		var ex execution
		if c.Goal >= 0 {
			ex = wl.execution(c.Goal, c.Created)
			if ex.First != nil {
				row.Executed++
			}
			if len(ex.Again) > 0 {
				row.Twice++
				sum.ExecutedTwice++
				sum.Findings = append(sum.Findings, s.twiceEvidence(c.ID, string(c.Kind), c.Angle, c.Goal, ex, c, nil))
			}
			if len(ex.InPlace) > 0 {
				sum.InPlaceRepeats += len(ex.InPlace)
				sum.Findings = append(sum.Findings, fmt.Sprintf("note: %s goal %d written again where the carousel already stood (a hold, or a re-run that had nothing to move; not counted as twice): %s",
					c.ID, c.Goal, joinWrites(ex.InPlace)))
			}
		}
		if c.Kind == kMove && deliberate >= 0 {
			sum.Resend.Sent++
			s.resendOutcome(sum, c.ID, first, ex, c.ResendAt)
			for _, r := range c.Replies {
				if r.Attempt == deliberate || (r.Attempt < 0 && !r.At.Before(c.ResendAt)) {
					sum.Resend.Answered++
					if r.Duplicate {
						sum.Resend.Duplicate++
					}
					break
				}
			}
			if len(ex.Again) > 0 {
				sum.Resend.Twice++
			}
		}
		executed := ex.First != nil
		switch {
		case first != nil:
			// A re-send of a command that never started may run it: the
			// contract forgets such ids.
			ranBeforeResend := executed && (c.ResendAt.IsZero() || ex.First.At.Before(c.ResendAt))
			if first.Code == "interrupted" {
				// The agent died while it ran; the outcome is unknown by
				// contract, so a goal write (or none) is no contradiction.
				sum.Interrupted++
				if !first.Started {
					sum.Findings = append(sum.Findings, fmt.Sprintf("note: %s answered %q with started_at null although it ran (goal written: %v)", c.ID, first.String(), executed))
				}
			} else if c.Kind == kMove && ranBeforeResend && !first.Started && first.Status == "error" {
				sum.Contradictions++
				sum.Findings = append(sum.Findings, fmt.Sprintf("answer contradicts the servo: %s was answered %q (never started) but goal %d was written at %s; attempts %s",
					c.ID, first.String(), c.Goal, ex.First.At.Format("15:04:05.000"), attemptsString(c)))
			}
			if c.Kind == kMove && !executed && first.Status == "ok" {
				sum.Contradictions++
				sum.Findings = append(sum.Findings, fmt.Sprintf("answer contradicts the servo: %s answered ok but goal %d was never written; replies %s", c.ID, c.Goal, repliesString(c)))
			}
		case c.NotDelivered:
		case !c.accepted():
			// QoS 1 that never got a PUBACK: it never went out.
			row.NotDelivered++
			sum.NotDelivered++
		case executed:
			row.Unanswered++
			sum.UnansweredExec++
			sum.Findings = append(sum.Findings, fmt.Sprintf("executed but never answered: %s (%s, QoS %d) goal written %s; attempts %s; %s",
				c.ID, c.Kind, c.QoS, ex.First.At.Format("15:04:05.000"), attemptsString(c), s.faultsNear(c.Created, c.Created.Add(time.Minute))))
		default:
			row.Lost++
			sum.Lost++
			sum.Findings = append(sum.Findings, fmt.Sprintf("LOST: %s (%s, QoS %d) went out, no reply, not executed; attempts %s; %s",
				c.ID, c.Kind, c.QoS, attemptsString(c), s.faultsNear(c.Created, c.Created.Add(time.Minute))))
		}
	}
	order := []kind{kMove, kRead, kEStop, kReset, kHeal}
	keys := make([]string, 0, len(rows))
	for k := range rows {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := rows[keys[i]], rows[keys[j]]
		if a.Kind != b.Kind {
			return slices.Index(order, a.Kind) < slices.Index(order, b.Kind)
		}
		return a.QoS < b.QoS
	})
	for _, k := range keys {
		sum.Direct = append(sum.Direct, *rows[k])
	}

	s.summarizeRuns(sum, wl, ours)
	for g := range wl.byGoal {
		if !ours[g] {
			sum.UnattributedGW += len(wl.byGoal[g])
		}
	}
	sum.Faults = faultRows(sum.FaultLog)

	if sum.ExecutedTwice > 0 {
		sum.Broken = append(sum.Broken, fmt.Sprintf("executed twice: %d (must be 0)", sum.ExecutedTwice))
	}
	if sum.RepeatRan > 0 {
		sum.Broken = append(sum.Broken, fmt.Sprintf("re-sent ids of started commands that ran: %d (must be 0)", sum.RepeatRan))
	}
	if sum.Lost > 0 {
		sum.Broken = append(sum.Broken, fmt.Sprintf("lost without an answer: %d (must be 0)", sum.Lost))
	}
	if sum.NonFinal > 0 {
		sum.Broken = append(sum.Broken, fmt.Sprintf("runs non-final after the drain: %d (must be 0)", sum.NonFinal))
	}
	return sum
}

// resendOutcome counts a deliberate re-send at `at` of a command whose
// first reply said it had (or had not) started. One that started must not
// run again: a goal write after the re-send is a second execution (counted
// as twice when the first one moved) or, when the first one never got to
// write its goal (not_connected after it started, say), a repeated id that
// ran. One that never started is forgotten by contract and may run now.
func (s *soak) resendOutcome(sum *summary, id string, orig *replyRec, ex execution, at time.Time) {
	started := orig != nil && orig.Started
	ranAfter := ex.First != nil && !ex.First.At.Before(at)
	for _, w := range ex.Again {
		ranAfter = ranAfter || !w.At.Before(at)
	}
	switch {
	case !started:
		sum.Resend.OfNeverStarted++
		if ex.First != nil && !ex.First.At.Before(at) {
			sum.Resend.RanNow++ // its first execution (a second one is counted as twice)
		}
	default:
		sum.Resend.OfStarted++
		if ranAfter && ex.First != nil && !ex.First.At.Before(at) {
			sum.RepeatRan++
			sum.Findings = append(sum.Findings, fmt.Sprintf("REPEATED ID RAN: %s had started (its reply had started_at: %s) without moving; re-sent unchanged at %s it ran: %s; %s",
				id, orig.String(), at.Format("15:04:05.000"), ex.First.String(), s.faultsNear(orig.At, ex.First.At)))
		}
	}
}

// countRunDup counts a re-send of a bridge run's command id.
func (s *soak) countRunDup(sum *summary, wl *writeLog, c *command) {
	sum.Resend.Sent++
	rr := s.reg.runReplies[c.ID] // only runs with a reply there are re-sent
	var since time.Time
	if r := s.runs.byID(c.ID); r != nil {
		since = r.Created
	}
	var orig *replyRec
	if len(rr) > 0 {
		orig = &rr[0]
	}
	s.resendOutcome(sum, "run "+c.ID, orig, wl.execution(c.Goal, since), c.Created)
	if r := c.firstReply(); r != nil {
		sum.Resend.Answered++
		if r.Duplicate {
			sum.Resend.Duplicate++
		}
	}
	// A second execution is counted on the run itself (summarizeRuns).
	if ex := wl.execution(c.Goal, time.Time{}); len(ex.Again) > 0 {
		sum.Resend.Twice++
	}
}

func (s *soak) summarizeRuns(sum *summary, wl *writeLog, ours map[int64]bool) {
	s.runs.mu.Lock()
	defer s.runs.mu.Unlock()
	rows := map[runKind]*runRow{}
	for _, k := range []runKind{runMove, runRead, runProbe} {
		rows[k] = &runRow{Kind: k}
	}
	for _, r := range s.runs.list {
		row := rows[r.Kind]
		if r.ID == "" {
			row.CreateFailed++
			continue
		}
		row.Created++
		if r.Goal >= 0 {
			ours[r.Goal] = true
		}
		st := prefect.StateType("")
		if r.Final != nil && r.Final.State != nil {
			st = r.Final.State.Type
		}
		switch st {
		case prefect.StateCompleted:
			row.Completed++
		case prefect.StateFailed:
			row.Failed++
		case prefect.StateCrashed:
			row.Crashed++
		case prefect.StateCancelled:
			row.Cancelled++
		default:
			if st.IsFinal() {
				row.Other++
			}
		}
		if !st.IsFinal() {
			row.NonFinal++
			sum.NonFinal++
			name := "no state"
			if r.Final != nil && r.Final.State != nil {
				name = fmt.Sprintf("%s (%s) since %s: %s", r.Final.State.Type, r.Final.State.Name, r.Final.State.Timestamp.Format("15:04:05.000"), r.Final.State.Message)
			}
			sum.Findings = append(sum.Findings, fmt.Sprintf("NON-FINAL run %s (%s, created %s): %s; %s", r.ID, r.Kind, r.Created.Format("15:04:05.000"), name,
				s.faultsNear(r.Created, r.Created.Add(2*time.Minute))))
		} else if st != prefect.StateCompleted {
			sum.RunFinalReasons[fmt.Sprintf("%s %s: %s", r.Kind, st, reasonOf(r.Final.State.Message))]++
		}
		if r.Goal < 0 {
			continue
		}
		ex := wl.execution(r.Goal, r.Created)
		if ex.First != nil {
			row.Executed++
			if st.IsFinal() && st != prefect.StateCompleted {
				row.ExecutedNotCompleted++
			}
			if st == prefect.StateCrashed {
				sum.Findings = append(sum.Findings, fmt.Sprintf("note: run %s ended Crashed (%s) but the carousel did move: %s; replies seen on the common topic: %d; %s",
					r.ID, contractClip(r.Final.State.Message, 160), ex.First.String(), len(s.reg.runReplies[r.ID]), s.faultsNear(r.Created, r.Final.State.Timestamp)))
			}
		} else if st == prefect.StateCompleted {
			row.CompletedNotExecuted++
			sum.Contradictions++
			sum.Findings = append(sum.Findings, fmt.Sprintf("answer contradicts the servo: run %s Completed but goal %d (%.4f°) was never written", r.ID, r.Goal, r.Angle))
		}
		if len(ex.Again) > 0 {
			row.Twice++
			sum.ExecutedTwice++
			sum.Findings = append(sum.Findings, s.twiceEvidence(r.ID, "run "+string(r.Kind), r.Angle, r.Goal, ex, nil, r))
		}
		if len(ex.InPlace) > 0 {
			sum.InPlaceRepeats += len(ex.InPlace)
			sum.Findings = append(sum.Findings, fmt.Sprintf("note: run %s goal %d written again where the carousel already stood (not counted as twice): %s", r.ID, r.Goal, joinWrites(ex.InPlace)))
		}
	}
	for _, k := range []runKind{runMove, runRead, runProbe} {
		sum.Runs = append(sum.Runs, *rows[k])
	}
}

// reasonOf shortens a final state's message to what a tally can group.
func reasonOf(msg string) string {
	if i := strings.IndexAny(msg, ";("); i > 0 {
		msg = msg[:i]
	}
	msg = strings.TrimSpace(msg)
	// Drop ids and times so equal reasons group.
	f := strings.Fields(msg)
	for i, w := range f {
		if len(w) > 20 || strings.ContainsAny(w, "0123456789") {
			f[i] = "…"
		}
	}
	return contractClip(strings.Join(f, " "), 110)
}

func contractClip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

func (s *soak) twiceEvidence(id, what string, angle float64, goal int64, ex execution, c *command, r *flowRun) string {
	var b strings.Builder
	fmt.Fprintf(&b, "EXECUTED TWICE: %s %s, target %.6f° = goal %d; first execution %s; again %s",
		what, id, angle, goal, ex.First.String(), joinWrites(ex.Again))
	from := ex.First.At
	if c != nil {
		fmt.Fprintf(&b, "; created %s; attempts %s; replies %s", c.Created.Format("15:04:05.000"), attemptsString(c), repliesString(c))
		from = c.Created
	}
	if r != nil {
		fmt.Fprintf(&b, "; run created %s", r.Created.Format("15:04:05.000"))
		if r.Final != nil && r.Final.State != nil {
			fmt.Fprintf(&b, ", final %s at %s: %s", r.Final.State.Type, r.Final.State.Timestamp.Format("15:04:05.000"), contractClip(r.Final.State.Message, 200))
		}
		if rr := s.reg.runReplies[r.ID]; len(rr) > 0 {
			var parts []string
			for _, x := range rr {
				parts = append(parts, x.String())
			}
			fmt.Fprintf(&b, "; replies seen on the common topic: %s", strings.Join(parts, ", "))
		}
		from = r.Created
	}
	to := ex.Again[len(ex.Again)-1].At
	fmt.Fprintf(&b, "; %s", s.faultsNear(from, to))
	return b.String()
}

// faultsNear lists the faults injected between from and to.
func (s *soak) faultsNear(from, to time.Time) string {
	s.fmu.Lock()
	defer s.fmu.Unlock()
	var parts []string
	for _, f := range s.faults {
		if !f.At.Before(from.Add(-5*time.Second)) && !f.At.After(to) {
			parts = append(parts, fmt.Sprintf("%s at %s (restored %s)", f.Kind, f.At.Format("15:04:05.000"), f.Restored.Format("15:04:05.000")))
		}
	}
	if len(parts) == 0 {
		return "no fault injected around then"
	}
	return "faults around then: " + strings.Join(parts, ", ")
}

func joinWrites(ws []goalWrite) string {
	var parts []string
	for _, w := range ws {
		parts = append(parts, w.String())
	}
	return strings.Join(parts, "; ")
}

func attemptsString(c *command) string {
	var parts []string
	for i, a := range c.Attempts {
		p := fmt.Sprintf("#%d %s", i, a.At.Format("15:04:05.000"))
		if !a.Accepted {
			p += " not out (" + a.Err + ")"
		}
		if a.Deliberate {
			p += " deliberate re-send"
		}
		parts = append(parts, p)
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

func repliesString(c *command) string {
	var parts []string
	for _, r := range c.Replies {
		parts = append(parts, r.String())
	}
	if len(parts) == 0 {
		return "none"
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// answeredAttempt is the attempt the first reply answered: from its
// Correlation Data, or (a reply seen only on the common topic) the last
// attempt before it arrived.
func answeredAttempt(c *command) int {
	if len(c.Replies) == 0 {
		return -1
	}
	best := -1
	for _, r := range c.Replies {
		if r.Attempt >= 0 && (best < 0 || r.Attempt < best) {
			best = r.Attempt
		}
	}
	if best >= 0 {
		return best
	}
	at := c.Replies[0].At
	for i := len(c.Attempts) - 1; i >= 0; i-- {
		if !c.Attempts[i].At.After(at) {
			return i
		}
	}
	return 0
}

func replyCode(r replyRec) string {
	code := r.Status
	if r.Code != "" {
		code = r.Code
	}
	if r.Duplicate {
		code += " (duplicate)"
	}
	return code
}

func faultRows(fs []faultRec) []faultRow {
	var rows []faultRow
	for _, k := range faultKinds {
		row := faultRow{Kind: k}
		var rec, restore []time.Duration
		for _, f := range fs {
			if f.Kind != k {
				continue
			}
			row.Count++
			if f.Err != "" || f.Recovered.IsZero() {
				row.NotRecoveredOrError++
				continue
			}
			row.Recovered++
			rec = append(rec, f.recovery())
			restore = append(restore, f.Restored.Sub(f.At))
		}
		if len(rec) > 0 {
			row.P50, row.P99 = benchstat.Percentile(rec, 50), benchstat.Percentile(rec, 99)
			row.Max = slices.Max(rec)
			row.RestoreP50 = benchstat.Percentile(restore, 50)
		}
		rows = append(rows, row)
	}
	return rows
}

func ms(d time.Duration) string { return fmt.Sprintf("%.0f ms", float64(d)/float64(time.Millisecond)) }

// print writes the summary tables.
func (sum *summary) print(w io.Writer) {
	fmt.Fprintf(w, "\nsoak: %s of load and faults (seed %d), drained in %s; bridge motion timeout %s\n",
		sum.Duration, sum.Seed, sum.Drained.Round(time.Millisecond), sum.MotionTimeout)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "\nDirect MQTT commands (re-sent with the same id while unanswered):")
	fmt.Fprintln(tw, "command\tQoS\tsent\tpublishes\tnot delivered\tanswered\t1st try\tafter re-send\texecuted\ttwice\tlost\tno reply (executed)\t")
	var tot directRow
	for _, r := range sum.Direct {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t%s\t%d\t%s\t\n", r.Kind, r.QoS, r.Sent, r.Attempts, r.NotDelivered, r.Answered, r.FirstTry, r.AfterResend,
			moveOnly(r.Kind, r.Executed), moveOnly(r.Kind, r.Twice), r.Lost, moveOnly(r.Kind, r.Unanswered))
		tot.Sent += r.Sent
		tot.Attempts += r.Attempts
		tot.NotDelivered += r.NotDelivered
		tot.Answered += r.Answered
		tot.FirstTry += r.FirstTry
		tot.AfterResend += r.AfterResend
		tot.Executed += r.Executed
		tot.Twice += r.Twice
		tot.Lost += r.Lost
		tot.Unanswered += r.Unanswered
	}
	fmt.Fprintf(tw, "total\t\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t\n", tot.Sent, tot.Attempts, tot.NotDelivered, tot.Answered, tot.FirstTry, tot.AfterResend,
		tot.Executed, tot.Twice, tot.Lost, tot.Unanswered)
	tw.Flush()
	fmt.Fprintf(w, "Re-sends of ids already answered: %d (direct moves and bridge runs' command ids; %d of commands that had started, %d of never-started ones, %d of which ran now as the contract allows); answered %d, with duplicate:true %d, executed again %d\n",
		sum.Resend.Sent, sum.Resend.OfStarted, sum.Resend.OfNeverStarted, sum.Resend.RanNow, sum.Resend.Answered, sum.Resend.Duplicate, sum.Resend.Twice)
	if len(sum.MoveTook) > 0 {
		fmt.Fprintf(w, "  direct moves that ran: %d, started -> finished p50 %s, p99 %s\n", len(sum.MoveTook),
			ms(benchstat.Percentile(sum.MoveTook, 50)), ms(benchstat.Percentile(sum.MoveTook, 99)))
	}
	for _, k := range []kind{kMove, kRead, kEStop, kReset, kHeal} {
		if codes := sum.ReplyCodes[string(k)]; len(codes) > 0 {
			fmt.Fprintf(w, "  first replies to %s: %s\n", k, tally(codes))
		}
	}

	fmt.Fprintln(w, "\nPrefect runs (created through the REST API, as run_deployment does):")
	fmt.Fprintln(tw, "deployment\tcreated\tcreate failed\tCompleted\tFailed\tCrashed\tCancelled\tnon-final\texecuted\ttwice\tCompleted, not executed\texecuted, not Completed\t")
	for _, r := range sum.Runs {
		mv := r.Kind == runMove
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t%s\t%s\t%s\t\n", r.Kind, r.Created, r.CreateFailed, r.Completed, r.Failed, r.Crashed, r.Cancelled, r.NonFinal,
			iff(mv, r.Executed), iff(mv, r.Twice), iff(mv, r.CompletedNotExecuted), iff(mv, r.ExecutedNotCompleted))
	}
	tw.Flush()
	if len(sum.RunFinalReasons) > 0 {
		fmt.Fprintf(w, "  runs not Completed, by reason: %s\n", tally(sum.RunFinalReasons))
	}

	fmt.Fprintln(w, "\nFaults (recovery: injected -> first successful get_position round trip; direct MQTT, or a get-position run for bridge and Prefect):")
	fmt.Fprintln(tw, "fault\tinjected\trecovered\trecovery p50\tp99\tmax\tdown for (p50)\t")
	for _, r := range sum.Faults {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\t%s\t%s\t\n", r.Kind, r.Count, r.Recovered, durOrDash(r.P50), durOrDash(r.P99), durOrDash(r.Max), durOrDash(r.RestoreP50))
	}
	tw.Flush()

	fmt.Fprintf(w, "\nsimulator: %d register writes logged, %d Goal Position writes, %d target writes of goals no soak command had\n",
		sum.WritesLogged, sum.GoalWrites, sum.UnattributedGW)
	fmt.Fprintf(w, "harness MQTT connection lost %d times; replies for unknown ids %d; e-stop latch heals %d; in-place goal repeats %d; answered 'interrupted' %d; answers contradicting the servo %d\n",
		sum.HarnessOutages, sum.StrayReplies, sum.LatchHeals, sum.InPlaceRepeats, sum.Interrupted, sum.Contradictions)
	fmt.Fprintf(w, "\nPromises: executed twice %d (must be 0), lost %d (must be 0), runs non-final %d (must be 0), re-sent started ids that ran %d (must be 0); not delivered (QoS 0 while the broker was down) %d; executed but never answered %d\n",
		sum.ExecutedTwice, sum.Lost, sum.NonFinal, sum.RepeatRan, sum.NotDelivered, sum.UnansweredExec)
	if len(sum.Findings) > 0 {
		fmt.Fprintln(w, "\nEvidence:")
		for _, f := range sum.Findings {
			fmt.Fprintln(w, "  - "+f)
		}
	}
	if len(sum.Broken) > 0 {
		fmt.Fprintf(w, "\nBROKEN: %s\n", strings.Join(sum.Broken, "; "))
	} else {
		fmt.Fprintln(w, "\nOK: no promise broke")
	}
	if sum.Dir != "" {
		fmt.Fprintf(w, "logs, write log and databases: %s\n", sum.Dir)
	}
}

func moveOnly(k kind, n int) string { return iff(k == kMove, n) }

func iff(ok bool, n int) string {
	if !ok {
		return "-"
	}
	return fmt.Sprint(n)
}

func durOrDash(d time.Duration) string {
	if d == 0 {
		return "-"
	}
	return ms(d)
}

func tally(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if m[keys[i]] != m[keys[j]] {
			return m[keys[i]] > m[keys[j]]
		}
		return keys[i] < keys[j]
	})
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

// dump writes every command, run and fault with what happened to it to
// <dir>/soak.json, the raw material behind the summary.
func (s *soak) dump(wl *writeLog) error {
	type cmdOut struct {
		*command
		Execution *execution `json:",omitempty"`
	}
	type runOut struct {
		Seq       int
		Kind      runKind
		ID        string
		Angle     float64
		Goal      int64
		Precise   bool
		Created   time.Time
		Err       string     `json:",omitempty"`
		State     string     `json:",omitempty"`
		StateAt   time.Time  `json:",omitempty"`
		Message   string     `json:",omitempty"`
		Replies   []replyRec `json:",omitempty"` // seen on the common reply topic
		Execution *execution `json:",omitempty"`
	}
	var out struct {
		Seed     int64
		Commands []cmdOut
		Runs     []runOut
		Faults   []faultRec
	}
	out.Seed = s.o.seed
	cmds := s.reg.snapshot()
	s.reg.mu.Lock()
	for _, c := range cmds {
		co := cmdOut{command: c}
		if c.Goal >= 0 {
			ex := wl.execution(c.Goal, c.Created)
			co.Execution = &ex
		}
		out.Commands = append(out.Commands, co)
	}
	s.runs.mu.Lock()
	for _, r := range s.runs.list {
		ro := runOut{Seq: r.Seq, Kind: r.Kind, ID: r.ID, Angle: r.Angle, Goal: r.Goal, Precise: r.Precise, Created: r.Created, Err: r.Err,
			Replies: s.reg.runReplies[r.ID]}
		if r.Final != nil && r.Final.State != nil {
			ro.State, ro.StateAt, ro.Message = string(r.Final.State.Type)+" ("+r.Final.State.Name+")", r.Final.State.Timestamp, r.Final.State.Message
		}
		if r.Goal >= 0 {
			ex := wl.execution(r.Goal, r.Created)
			ro.Execution = &ex
		}
		out.Runs = append(out.Runs, ro)
	}
	s.runs.mu.Unlock()
	s.reg.mu.Unlock()
	s.fmu.Lock()
	out.Faults = append(out.Faults, s.faults...)
	s.fmu.Unlock()
	b, err := json.MarshalIndent(out, "", " ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(s.dir, "soak.json"), b, 0o644)
}
