package bridge

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/plate-resort/plate-resort/bridge/prefect"
)

// upserts is how many deployment upserts bridge b has made (its
// plate_resort_bridge_prefect_requests_total for POST /deployments/
// answered 2xx: a busy server's 503 and its retry are one upsert).
func upserts(t *testing.T, b *Bridge) int {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(b.metrics.requests)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	n := 0.0
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			endpoint, code := "", ""
			for _, l := range m.GetLabel() {
				switch l.GetName() {
				case "endpoint":
					endpoint = l.GetValue()
				case "code":
					code = l.GetValue()
				}
			}
			if endpoint == prefect.EndpointClass("POST", "/deployments/") && strings.HasPrefix(code, "2") {
				n += m.GetCounter().GetValue()
			}
		}
	}
	return int(n)
}

// held is every deployment of the pool, by flow id and name, as JSON,
// without its status (READY once a worker polls the pool, which is not
// registration).
func held(t *testing.T, pc *prefect.Client, pool string) map[string]string {
	t.Helper()
	list, err := pc.DeploymentsInPool(context.Background(), pool)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, d := range list {
		d.Status = ""
		b, _ := json.Marshal(d.Deployment)
		out[d.FlowID+"/"+d.Name] = string(b)
	}
	return out
}

// A bridge that starts again with the same devices and config upserts
// nothing (what it would send is what Prefect holds, schedules included)
// and leaves every deployment as it was; a config change upserts only the
// deployments it changes. Two devices register at once.
func TestRegisterSkipsUnchangedDeployments(t *testing.T) {
	health := DeploymentConfig{Paused: true, Schedules: []ScheduleConfig{
		{Interval: 5 * time.Minute}, {Cron: "0 6 * * *", Timezone: "Europe/Paris"},
	}}
	r := newRig(t, rigOptions{configure: func(c *Config) {
		c.Devices = []string{"resort-1", "resort-2"}
		c.Deployments = map[string]DeploymentConfig{"get-motor-health": health}
	}})
	r.extraAgent("resort-2", 0)

	b1, stop1 := r.startBridge(r.cfg)
	want := wantDeployments(b1)
	if want != 2*len(flowDefs) {
		t.Fatalf("%d deployments to register for two devices, want %d", want, 2*len(flowDefs))
	}
	time.Sleep(time.Second) // a re-registration on info, had one started, would be under way
	if n := upserts(t, b1); n < want {
		t.Fatalf("first bridge upserted %d deployments, want at least %d", n, want)
	}
	stop1()
	before := held(t, r.pc, r.cfg.WorkPool)
	if len(before) != want {
		t.Fatalf("%d deployments in the pool, want %d", len(before), want)
	}

	b2, stop2 := r.startBridge(r.cfg)
	time.Sleep(time.Second)
	if n := upserts(t, b2); n != 0 {
		t.Errorf("the same bridge started again upserted %d deployments, want 0", n)
	}
	b2.mu.Lock()
	known := len(b2.deps)
	b2.mu.Unlock()
	if known != want {
		t.Errorf("second bridge knows %d deployments, want %d", known, want)
	}
	stop2()
	after := held(t, r.pc, r.cfg.WorkPool)
	for k, v := range before {
		if after[k] != v {
			t.Errorf("deployment %s changed without a change of config:\nbefore %s\nafter  %s", k, v, after[k])
		}
	}

	// One flow's setting changes: its two deployments are upserted, the
	// others are not.
	cfg := r.cfg
	cfg.Deployments = map[string]DeploymentConfig{"get-motor-health": health, "go-home": {Paused: true}}
	b3, _ := r.startBridge(cfg)
	time.Sleep(time.Second)
	if n := upserts(t, b3); n != 2 {
		t.Errorf("pausing go-home upserted %d deployments, want its 2", n)
	}
	for _, name := range []string{"go-home", "resort-2"} {
		d, err := r.pc.ReadDeploymentByName(context.Background(), "go-home", name)
		if err != nil || !d.Paused {
			t.Errorf("go-home/%s: %+v, %v; want paused", name, d, err)
		}
	}
}
