package bridge

import (
	"strings"
	"testing"
	"time"

	"github.com/plate-resort/plate-resort/bridge/prefect"
	"github.com/plate-resort/plate-resort/contract"
)

// A deployment with retries: the first attempt fails (a hardware fault),
// the run shows AwaitingRetry in Prefect, the bridge runs the retry itself
// after retry_delay (Prefect never re-offers in-process retries to pollers,
// docs/prefect.md §5), and once the fault is cleared by a reboot the retry completes.
// A failure caused by a latched e-stop is never retried.
func TestRetriesGoThroughAwaitingRetry(t *testing.T) {
	r := newRig(t, rigOptions{configure: func(c *Config) {
		c.Deployments = map[string]DeploymentConfig{"activate-hotel": {Retries: 1, RetryDelay: 4 * time.Second}}
	}})
	b, _ := r.startBridge(r.cfg)
	ctx := ctxTimeout(t, 2*time.Minute)
	r.servo.TriggerOverload()
	dep, err := r.pc.ReadDeploymentByName(ctx, "activate-hotel", "activate-hotel")
	if err != nil {
		t.Fatal(err)
	}
	fr := createRun(t, r.pc, dep.ID, map[string]any{"hotel": "B"})
	deadline := time.Now().Add(60 * time.Second)
	for {
		got, err := r.pc.ReadFlowRun(ctx, fr.ID)
		if err == nil && got.State.Name == "AwaitingRetry" {
			if !strings.Contains(got.State.Message, "hardware_error") {
				t.Errorf("AwaitingRetry message %q does not carry the agent's error", got.State.Message)
			}
			break
		}
		if err == nil && got.State.Type.IsFinal() {
			t.Fatalf("run ended %s (%s) without a retry", got.State.Type, got.State.Message)
		}
		if time.Now().After(deadline) {
			t.Fatal("run never reached AwaitingRetry")
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err := r.broker.Server().Publish(contract.DeviceTopics(r.cfg.Prefix, "resort-1").Command(contract.Reboot), []byte("{}"), false, 1); err != nil {
		t.Fatal(err)
	}
	final := waitFinal(t, r.pc, fr.ID, 90*time.Second)
	if final.State.Type != prefect.StateCompleted || final.RunCount != 2 {
		t.Fatalf("run ended %s after %d attempts: %s", final.State.Type, final.RunCount, final.State.Message)
	}
	if !strings.Contains(string(final.State.Data), `"hotel":"B"`) {
		t.Fatalf("result %s", final.State.Data)
	}

	// An e-stop failure is final: a reset must never resume the move.
	if err := r.broker.Server().Publish(contract.DeviceTopics(r.cfg.Prefix, "resort-1").Command(contract.EmergencyStop), []byte("{}"), false, 1); err != nil {
		t.Fatal(err)
	}
	if _, ok := b.devs.await(ctx, "resort-1", func(s deviceStatus) bool { return s.State.EStop }); !ok {
		t.Fatal("e-stop never latched")
	}
	fr2 := createRun(t, r.pc, dep.ID, map[string]any{"hotel": "C"})
	final2 := waitFinal(t, r.pc, fr2.ID, 60*time.Second)
	if final2.State.Type != prefect.StateFailed || final2.RunCount != 1 || !strings.Contains(final2.State.Message, "estop_latched") {
		t.Fatalf("e-stop failure: %s after %d attempts: %s", final2.State.Type, final2.RunCount, final2.State.Message)
	}
}
