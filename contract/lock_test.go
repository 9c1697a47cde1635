package contract

import (
	"strings"
	"testing"
)

func TestLockParse(t *testing.T) {
	c := testCatalog()
	r, err := c.Parse(Lock, []byte(`{"lock_id":"flow-7","timeout_s":2.5}`), now)
	if err != nil || r.LockID != "flow-7" || r.Params["timeout_s"] != 2.5 || r.Params[LockIDField] != "flow-7" {
		t.Fatalf("lock: %+v %v", r, err)
	}
	r, err = c.Parse(Lock, []byte(`flow-8`), now) // bare value: the lock id
	if err != nil || r.LockID != "flow-8" || r.Params["timeout_s"] != DefaultLockTimeout {
		t.Fatalf("bare lock: %+v %v", r, err)
	}
	// A numeric lock id keeps its literal, as a numeric id does.
	if r, err := c.Parse(Lock, []byte(`{"lock_id":42}`), now); err != nil || r.LockID != "42" {
		t.Fatalf("numeric lock id: %+v %v", r, err)
	}
	r, err = c.Parse(Unlock, []byte(`{"lock_id":"flow-7","id":"u1"}`), now)
	if err != nil || r.LockID != "flow-7" || r.ID != "u1" {
		t.Fatalf("unlock: %+v %v", r, err)
	}
	// Every command carries lock_id as a common field, not as a parameter.
	r, err = c.Parse(MoveToAngle, []byte(`{"angle":90,"lock_id":"flow-7"}`), now)
	if err != nil || r.LockID != "flow-7" {
		t.Fatalf("move with lock_id: %+v %v", r, err)
	}
	if _, ok := r.Params[LockIDField]; ok {
		t.Fatalf("lock_id leaked into move_to_angle's params: %v", r.Params)
	}
	if r, err := c.Parse(EmergencyStop, []byte(`{"lock_id":"x"}`), now); err != nil || r.LockID != "x" {
		t.Fatalf("e-stop with lock_id: %v", err)
	}
}

// Hostile input: every bad lock_id or timeout is refused with a code and a
// message that names the field.
func TestLockParseRefuses(t *testing.T) {
	c := testCatalog()
	long := strings.Repeat("x", MaxIDLen+1)
	for _, tc := range []struct {
		cmd, payload string
		code         Code
		mention      string
	}{
		{Lock, `{}`, CodeInvalidArg, "lock_id"},
		{Lock, ``, CodeInvalidArg, "lock_id"},
		{Lock, `{"lock_id":""}`, CodeBadRequest, "lock_id"},
		{Lock, `{"lock_id":"` + long + `"}`, CodeBadRequest, "lock_id"},
		{Lock, `{"lock_id":true}`, CodeBadRequest, "lock_id"},
		{Lock, `{"lock_id":{"a":1}}`, CodeBadRequest, "lock_id"},
		{Lock, `{"lock_id":["a"]}`, CodeBadRequest, "lock_id"},
		{Lock, `{"lock_id":null}`, CodeBadRequest, "lock_id"},
		{Lock, `{"lock_id":"a\u0000b"}`, CodeBadRequest, "control"},
		{Lock, `{"lock_id":"a\nb"}`, CodeBadRequest, "control"},
		{Lock, `{"lock_id":"a\u202eb"}`, CodeBadRequest, "control"},
		{Lock, `{"lock_id":"a","timeout_s":0}`, CodeInvalidArg, "timeout_s"},
		{Lock, `{"lock_id":"a","timeout_s":-1}`, CodeInvalidArg, "timeout_s"},
		{Lock, `{"lock_id":"a","timeout_s":1e9}`, CodeInvalidArg, "timeout_s"},
		{Lock, `{"lock_id":"a","timeout_s":86400.5}`, CodeInvalidArg, "timeout_s"},
		{Lock, `{"lock_id":"a","timeout_s":"60"}`, CodeInvalidArg, "timeout_s"},
		{Lock, `{"lock_id":"a","timeout_s":NaN}`, CodeBadRequest, "JSON"},
		{Lock, `{"lock_id":"a","timeout_s":Infinity}`, CodeBadRequest, "JSON"},
		{Lock, `{"lock_id":"a","timeout_s":null}`, CodeInvalidArg, "timeout_s"},
		{Lock, `{"lock_id":"a","owner":"me"}`, CodeInvalidArg, "owner"},
		{Lock, `{"lock_id":"a","lock_id":"b"}`, CodeBadRequest, "twice"},
		{Unlock, `{}`, CodeInvalidArg, "lock_id"},
		{Unlock, `{"lock_id":"a","force":true}`, CodeInvalidArg, "force"},
		{ForceUnlock, `{"lock_id":"a","x":1}`, CodeInvalidArg, "x"},
		{MoveToAngle, `{"angle":1,"lock_id":""}`, CodeBadRequest, "lock_id"},
		{Reset, `{"lock_id":false}`, CodeBadRequest, "lock_id"},
	} {
		r, err := c.Parse(tc.cmd, []byte(tc.payload), now)
		if err == nil {
			t.Errorf("%s %s accepted: %+v", tc.cmd, tc.payload, r.Params)
			continue
		}
		if tc.code != "" && err.Code != tc.code || !strings.Contains(err.Message, tc.mention) {
			t.Errorf("%s %s: %v, want %s mentioning %q", tc.cmd, tc.payload, err, tc.code, tc.mention)
		}
		if r.LockID != "" && strings.Contains(tc.payload, `"lock_id":"`) && !strings.Contains(tc.payload, "timeout_s") && tc.code == CodeBadRequest {
			t.Errorf("%s %s: a refused lock_id was kept: %q", tc.cmd, tc.payload, r.LockID)
		}
	}
}

func TestNeedsLock(t *testing.T) {
	c := testCatalog()
	free := map[string]bool{EmergencyStop: true, Stop: true, GetHealth: true, GetPosition: true, GetActiveHotel: true,
		GetEvents: true, Lock: true, Unlock: true, ForceUnlock: true, SetLogLevel: true}
	for _, s := range c.Specs() {
		if got := NeedsLock(s); got == free[s.Name] {
			t.Errorf("NeedsLock(%s) = %v", s.Name, got)
		}
	}
}

func TestFleetResponseTopic(t *testing.T) {
	for in, want := range map[string]string{
		"plate-resort/responses/alice/_fleet":   "plate-resort/responses/alice/resort-1/_fleet",
		"plate-resort/responses/alice":          "plate-resort/responses/alice/resort-1",
		"plate-resort/responses/alice/x/y":      "plate-resort/responses/alice/resort-1/x/y",
		"plate-resort/responses/alice/":         "",
		"plate-resort/responses//_fleet":        "",
		"plate-resort/responses/+/_fleet":       "",
		"plate-resort/resort-2/reply/emergency": "",
		"elsewhere/answers":                     "",
	} {
		got, ok := FleetResponseTopic("plate-resort", "resort-1", in)
		if got != want || ok != (want != "") {
			t.Errorf("FleetResponseTopic(%q) = %q %v, want %q", in, got, ok, want)
		}
	}
}
