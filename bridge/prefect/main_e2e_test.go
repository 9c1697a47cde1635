package prefect_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/plate-resort/plate-resort/bridge/prefect"
	"github.com/plate-resort/plate-resort/bridge/prefect/prefecttest"
)

// One real Prefect server for every e2e test of this package (startup costs
// seconds); tests use unique names so they do not see each other's objects.
var srv = prefecttest.NewShared(prefecttest.Options{})

func TestMain(m *testing.M) { os.Exit(srv.Run(m)) }

func client(t testing.TB, s *prefecttest.Server) *prefect.Client {
	t.Helper()
	c, err := prefect.New(prefect.Config{APIURL: s.URL, AuthString: s.AuthString})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// uniq turns the test name into a valid Prefect name (pool names must not
// start with "prefect"; slashes are awkward in URLs).
func uniq(t testing.TB, suffix string) string {
	n := strings.ToLower(strings.NewReplacer("/", "-", "_", "-", "#", "-").Replace(t.Name()))
	return "t-" + n + "-" + suffix
}

// fixture is a pool, flow and deployment with an enum-typed parameter schema,
// the shape the bridge registers.
type fixture struct {
	pool *prefect.WorkPool
	flow *prefect.Flow
	dep  *prefect.Deployment
}

var hotelSchema = map[string]any{
	"title": "Parameters", "type": "object",
	"properties": map[string]any{
		"hotel": map[string]any{"title": "hotel", "position": 0, "type": "string", "enum": []string{"A", "B", "C"}},
	},
	"required": []string{"hotel"},
}

func newFixture(t testing.TB, c *prefect.Client) fixture {
	t.Helper()
	ctx := ctxT(t)
	pool, err := c.EnsureWorkPool(ctx, uniq(t, "pool"), "mqtt-bridge", "test pool")
	if err != nil {
		t.Fatal(err)
	}
	flow, err := c.UpsertFlow(ctx, uniq(t, "flow"), []string{"plate-resort"})
	if err != nil {
		t.Fatal(err)
	}
	dep, err := c.UpsertDeployment(ctx, prefect.DeploymentSpec{
		Name: "dep", FlowID: flow.ID, WorkPoolName: pool.Name, Description: "activate a hotel",
		Tags: []string{"plate-resort"}, ParameterSchema: hotelSchema, EnforceParameterSchema: true,
		Entrypoint: "mqtt://activate-hotel",
	})
	if err != nil {
		t.Fatal(err)
	}
	return fixture{pool, flow, dep}
}

// newRun creates a run of the fixture's deployment for hotel.
func (f fixture) newRun(t testing.TB, c *prefect.Client, hotel string) *prefect.FlowRun {
	t.Helper()
	fr, err := c.CreateFlowRun(ctxT(t), f.dep.ID, prefect.FlowRunCreate{Parameters: map[string]any{"hotel": hotel}})
	if err != nil {
		t.Fatal(err)
	}
	return fr
}

// claim runs the worker's claim sequence and fails the test unless both
// proposals are accepted.
func claim(t testing.TB, c *prefect.Client, id string) {
	t.Helper()
	ctx := ctxT(t)
	for _, s := range []prefect.StateCreate{prefect.Pending(), prefect.Running()} {
		r, err := c.ProposeState(ctx, id, s)
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != prefect.Accept || r.State == nil || r.State.Type != s.Type {
			t.Fatalf("propose %s: got %+v", s.Type, r)
		}
	}
}
