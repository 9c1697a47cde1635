package agent

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"time"

	"github.com/plate-resort/plate-resort/agent/journal"
	"github.com/plate-resort/plate-resort/contract"
)

// The durable half of dedupe: ids of commands that act (motion,
// configuration, control) live in a bbolt journal for the whole
// dedupe_window, across restarts, pruned by age only. dedupe.go keeps the
// running commands (to join repeats to them) and the replies of reads.

// journalSeen answers a repeated id from the journal. It reports whether
// the command was answered (and so must not run).
func (s *service) journalSeen(j *job, now time.Time) bool {
	id := j.req.ID
	e, ok, err := s.journal.Lookup(id)
	switch {
	case err != nil:
		s.replyErr(j, contract.Errorf(contract.CodeInternal, "dedupe journal unreadable (%v); nothing was executed", err))
		return true
	case !ok || !e.Done:
		return false // new, or running now (dedupe joins it)
	case e.Command != j.req.Command:
		s.sendReply(j.dest, contract.Reply{ID: idPtr(id), Command: j.req.Command, Status: contract.StatusError,
			Error:      contract.Errorf(contract.CodeBadRequest, "id %q was already used for %s; use a new id per command", id, e.Command),
			ReceivedAt: now, FinishedAt: time.Now().UTC()}, true)
		return true
	case e.Interrupted:
		r := contract.Reply{ID: idPtr(id), Command: e.Command, Status: contract.StatusError, Duplicate: true,
			Error: contract.Errorf(contract.CodeInterrupted, "the agent stopped while this command ran (started %s); its outcome is unknown and it is never run again: check the carousel, then send a new command with a new id",
				e.At.UTC().Format(time.RFC3339)),
			ReceivedAt: now, FinishedAt: time.Now().UTC()}
		started := e.At.UTC() // it did start; only its end is unknown
		r.StartedAt = &started
		s.sendReply(j.dest, r, true)
		return true
	}
	var r contract.Reply
	if json.Unmarshal(e.Reply, &r) != nil {
		s.replyErr(j, contract.Errorf(contract.CodeInternal, "stored reply of id %q unreadable; the command is not run again", id))
		return true
	}
	r.Duplicate = true
	s.sendReply(j.dest, r, true)
	return true
}

// journalBegin records a new id before its command runs (fsynced).
func (s *service) journalBegin(req *contract.Request, now time.Time) *contract.Error {
	err := s.journal.Begin(req.ID, req.Command, now)
	switch {
	case errors.Is(err, journal.ErrFull):
		return contract.Errorf(contract.CodeQueueFull, "%v: ids are kept for dedupe_window (%s); retry later or raise dedupe_size", err, s.cfg.DedupeWindow)
	case err != nil:
		return contract.Errorf(contract.CodeInternal, "dedupe journal not writable (%v); nothing was executed", err)
	}
	return nil
}

// journalFinish keeps the reply of a command that ran, or forgets the id
// of one that never started, so it may be sent again.
func (s *service) journalFinish(req *contract.Request, r contract.Reply, started bool) {
	var err error
	if started {
		raw, _ := json.Marshal(r)
		err = s.journal.Finish(req.ID, raw, time.Now())
	} else {
		err = s.journal.Forget(req.ID)
	}
	if err != nil {
		s.log.Error().Err(err).Str("id", req.ID).Msg("dedupe journal not updated")
	}
}

// JournalPath is where the journal of this agent lives: journal_path, or
// by default a file per device and broker under the state directory
// (systemd's $STATE_DIRECTORY, else $XDG_STATE_HOME, else
// ~/.local/state), so two agents never share one.
func (c Config) JournalPath() string {
	if c.JournalFile != "" {
		return c.JournalFile
	}
	dir := os.Getenv("STATE_DIRECTORY")
	if dir == "" {
		base := os.Getenv("XDG_STATE_HOME")
		if base == "" {
			home, err := os.UserHomeDir()
			if err != nil {
				home = os.TempDir()
			}
			base = filepath.Join(home, ".local", "state")
		}
		dir = filepath.Join(base, "plate-resort")
	}
	return filepath.Join(dir, "agent-"+c.Device+"-"+shortHash(c.Prefix+" "+c.MQTT.Primary())+".journal")
}
