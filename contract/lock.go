package contract

import (
	"fmt"
	"strings"
	"time"
)

// Exclusive use of a carousel, modelled on the SiLA 2 core feature
// LockController (org.silastandard/core/LockController, SiLA 2 Part A/B):
// LockServer takes a LockIdentifier and a Timeout, every lock-protected call
// while locked must carry the identifier as metadata, UnlockServer needs it
// too, and the lock lapses by itself when the timeout passes without a call.
// Here the identifier travels as the common field lock_id of every command
// payload (like id and ttl_s), the commands are lock, unlock and the
// admin-only force_unlock, and a refusal is the error code locked.
//
// The lock prevents accidents between cooperating callers (two flows, or a
// flow and a person at the panel), not malice: lock ids travel in command
// payloads that every viewer may read. The broker's roles are the security
// boundary.

// Lock commands.
const (
	Lock        = "lock"
	Unlock      = "unlock"
	ForceUnlock = "force_unlock"
)

// LockIDField is the common field that carries the lock identifier.
const LockIDField = "lock_id"

// Limits of lock's timeout_s, in seconds.
const (
	MinLockTimeout     = 1
	MaxLockTimeout     = 86400
	DefaultLockTimeout = 60
)

// LockOwnerUnknown is the owner of a lock taken by a command without the
// broker's user stamp (a broker other than the embedded one).
const LockOwnerUnknown = "unknown"

// lockExempt are the commands that run whoever holds the lock: safety
// actions (an emergency stop and a controlled stop must always be possible),
// reads, the lock commands themselves (they check lock_id on their own) and
// the admin-only set_log_level, which does not touch the carousel.
var lockExempt = map[string]bool{
	EmergencyStop: true, Stop: true,
	Lock: true, Unlock: true, ForceUnlock: true,
	SetLogLevel: true,
}

// NeedsLock reports whether spec, while the carousel is locked, runs only
// with the matching lock_id. Every command that acts does: motion,
// configuration (set_speed, connect, disconnect, reboot) and the control
// commands reset (clearing an e-stop lets motion resume) and cancel (one
// caller must not cancel the lock holder's move).
func NeedsLock(spec *Spec) bool {
	return spec != nil && spec.Kind != KindRead && !lockExempt[spec.Name]
}

// LockState is the lock as state shows it: never the lock id.
type LockState struct {
	Owner     string    `json:"owner"`
	ExpiresAt time.Time `json:"expires_at"`
}

// LockResult is lock's result: who holds it and until when. Extended is
// true when the same lock_id renewed a lock it already held.
type LockResult struct {
	Owner     string    `json:"owner"`
	ExpiresAt time.Time `json:"expires_at"`
	TimeoutS  float64   `json:"timeout_s"`
	Extended  bool      `json:"extended"`
}

// UnlockResult is unlock's and force_unlock's result. WasLocked is false
// when there was no lock (never taken, or expired): unlocking is idempotent
// so a flow's final unlock after an expiry is not an error.
type UnlockResult struct {
	WasLocked bool   `json:"was_locked"`
	Owner     string `json:"owner,omitempty"`
}

// LockedError is the refusal of a command while someone else holds the
// lock: it names the owner and when the lock lapses, and what to do.
func LockedError(command string, owner string, expires time.Time, gaveID bool) *Error {
	why := "it carries no lock_id"
	if gaveID {
		why = "its lock_id is not the lock's"
	}
	return Errorf(CodeLocked, "%s refused: the carousel is locked by %s until %s and %s; it was not executed. Wait for unlock or expiry (state shows the lock), or send it with the lock's lock_id",
		command, owner, expires.UTC().Format(time.RFC3339), why)
}

// FleetCommands are the commands an agent obeys on
// <prefix>/_fleet/cmd/<command> besides its own topic: the emergency stop
// (operators may publish it) and reset (admins only, broker/roles.go).
var FleetCommands = []string{EmergencyStop, Reset}

// IsFleetCommand reports whether name may be sent fleet-wide.
func IsFleetCommand(name string) bool {
	for _, c := range FleetCommands {
		if c == name {
			return true
		}
	}
	return false
}

// FleetResponseTopic is where one device answers a fleet command whose
// MQTT 5 Response Topic (or reply_to) is <prefix>/responses/<who>[/<rest>]:
// <prefix>/responses/<who>/<device>[/<rest>]. Each device answers below its
// own device level, the only place the embedded broker lets an agent write
// under a caller's responses, and the caller subscribes to
// <prefix>/responses/<who>/+[/<rest>] to count the answers. Any other topic
// is refused (ok false): every device answering on one topic could not be
// told apart.
func FleetResponseTopic(prefix, device, requested string) (string, bool) {
	rest, ok := strings.CutPrefix(requested, ResponsesRoot(prefix))
	if !ok {
		return "", false
	}
	who, sub, hasSub := strings.Cut(rest, "/")
	if who == "" || strings.ContainsAny(who, "+#") {
		return "", false
	}
	out := ResponseTopic(prefix, who, device)
	if hasSub {
		if sub == "" {
			return "", false
		}
		out += "/" + sub
	}
	return out, ValidTopic(out) == nil
}

func lockParams() *Schema {
	return object(map[string]*Schema{
		LockIDField: lockIDSchema("Lock id", "Your identifier for the lock, 1 to %d printable characters; every command while locked must carry it as lock_id. Use a fresh random value per lock (a flow run id, a UUID)."),
		"timeout_s": {Type: "number", Minimum: f64(MinLockTimeout), Maximum: f64(MaxLockTimeout), Default: DefaultLockTimeout, Title: "Timeout (seconds)",
			Description: fmt.Sprintf("The lock lapses by itself this many seconds after it was taken or last renewed (lock again with the same lock_id to renew), from %d to %d.", MinLockTimeout, MaxLockTimeout)},
	}, LockIDField)
}

func unlockParams() *Schema {
	return object(map[string]*Schema{
		LockIDField: lockIDSchema("Lock id", "The lock_id the lock was taken with, 1 to %d printable characters."),
	}, LockIDField)
}

func lockIDSchema(title, desc string) *Schema {
	return &Schema{Type: "string", MinLength: intp(1), MaxLength: intp(MaxIDLen), Title: title, Description: fmt.Sprintf(desc, MaxIDLen)}
}
