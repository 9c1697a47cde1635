package agent_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/plate-resort/plate-resort/contract"
)

// A move refused with estop_latched never ran: the reply has no started_at
// and no result, and the retained state's target stays what it was (the
// reproduction: move_to_angle 10 after an e-stop left target.angle = 10
// and a result with final_angle 0 while the carousel stood at 210°).
func TestRefusedMoveLeavesNoTrace(t *testing.T) {
	e := newEnv(t, opts{})
	rs := e.replies()
	e.pub(contract.MoveToAngle, `{"id":"m1","angle":210,"precise":false}`)
	if r := waitReply(t, rs, contract.MoveToAngle, "m1", 30*time.Second); r.Status != "ok" {
		t.Fatalf("first move: %+v", r)
	}
	e.pub(contract.EmergencyStop, "")
	waitReply(t, rs, contract.EmergencyStop, "", 10*time.Second)
	e.waitRetained("state", func(s string) bool { return strings.Contains(s, `"estop":true`) })

	sub := e.replies()
	e.pub(contract.MoveToAngle, `{"id":"m2","angle":10}`)
	line := sub.Wait(t, 10*time.Second, func(l string) bool { return strings.Contains(l, `"id":"m2"`) })
	_, payload, _ := strings.Cut(line, " ")
	var r contract.Reply
	if err := json.Unmarshal([]byte(payload), &r); err != nil {
		t.Fatal(err)
	}
	if r.Status != contract.StatusError || r.Error == nil || r.Error.Code != contract.CodeEStopLatched {
		t.Fatalf("move while latched: %s", payload)
	}
	if r.StartedAt != nil || (len(r.Result) > 0 && string(r.Result) != "null") {
		t.Fatalf("a refused move reports started_at %v and result %s", r.StartedAt, r.Result)
	}
	time.Sleep(300 * time.Millisecond)
	var st contract.State
	if err := json.Unmarshal([]byte(e.retained("state")), &st); err != nil {
		t.Fatal(err)
	}
	if st.Target == nil || st.Target.Angle != 210 {
		t.Fatalf("state target after a refused move: %+v, want the last move's 210°", st.Target)
	}
}
