package bridge

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/plate-resort/plate-resort/bridge/prefect"
	"github.com/plate-resort/plate-resort/driver/xseries"
	"github.com/plate-resort/plate-resort/internal/testenv/brokertest"
)

// TestFailoverMidMoveCompletes: the bridge and the agent both have two
// independent brokers in mqtt.urls; the active one dies while a Prefect run
// moves the carousel. Both fail over to the other broker, the bridge sends
// the command again with the same id, the agent joins the running move
// (it never runs an id twice) and the run completes once, with no second
// Goal Position write.
func TestFailoverMidMoveCompletes(t *testing.T) {
	r := newRig(t, rigOptions{speed: 15, noAgent: true}) // hotel C in several seconds
	second := brokertest.Start(t, brokertest.Anonymous())
	urls := []string{"mqtt://" + r.broker.TCPAddr(), "mqtt://" + second.TCPAddr()}
	r.cfg.MQTT.URLs, r.acfg.MQTT.URLs = urls, urls
	r.startAgent()
	b, _ := r.startBridge(r.cfg)
	ctx := ctxTimeout(t, 2*time.Minute)
	fr := r.runMoving(ctx, b, "C")
	writes := r.servo.WriteCount(xseries.GoalPosition.Addr)
	stopped := time.Now()
	_ = r.broker.Close() // the active broker dies mid-move
	final := waitFinal(t, r.pc, fr.ID, 90*time.Second)
	t.Logf("broker stopped mid-move; run final %s after %s: %s", final.State.Type, time.Since(stopped).Round(time.Millisecond), final.State.Message)
	if final.State.Type != prefect.StateCompleted {
		t.Fatalf("run ended %s: %s", final.State.Type, final.State.Message)
	}
	if !strings.Contains(string(final.State.Data), `"hotel":"C"`) {
		t.Fatalf("result %s", final.State.Data)
	}
	// A precise move that ends with PWM pulses writes Goal Position once
	// more, to hold where the pulses left it (driver/resort/precise.go), so
	// one write after the failover is the same move finishing; a second
	// run of the move would add its own stage-1 write on top.
	// (The result sits somewhere in the state's data: found by its key.)
	pulses := 0
	if m := regexp.MustCompile(`"pulses":\s*(\d+)`).FindSubmatch(final.State.Data); m != nil {
		pulses, _ = strconv.Atoi(string(m[1]))
	}
	allowed := 0
	if pulses > 0 {
		allowed = 1
	}
	if extra := r.servo.WriteCount(xseries.GoalPosition.Addr) - writes; extra > allowed {
		t.Errorf("%d Goal Position writes after the failover (%d pulses, so %d is the move's own hold): the move was executed again", extra, pulses, allowed)
	}
	// The bridge now works through the second broker: it sees the device
	// there (retained availability re-read) and said why it re-sent.
	if st, _ := b.devs.get("resort-1"); st.Availability != "online" {
		t.Errorf("device availability after the failover: %q", st.Availability)
	}
	runLogHas(t, r, fr.ID, "re-sent command")
	// A second run goes through the second broker alone.
	dep2, err := r.pc.ReadDeploymentByName(ctx, "get-position", "get-position")
	if err != nil {
		t.Fatal(err)
	}
	fr2 := createRun(t, r.pc, dep2.ID, map[string]any{})
	if f := waitFinal(t, r.pc, fr2.ID, 60*time.Second); f.State.Type != prefect.StateCompleted {
		t.Fatalf("run after the failover ended %s: %s", f.State.Type, f.State.Message)
	}
}
