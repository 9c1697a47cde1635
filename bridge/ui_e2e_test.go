package bridge

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/plate-resort/plate-resort/bridge/prefect"
)

// artifactsOf waits for the run's artifacts of type typ (they are written
// just after the final state) and returns them.
func artifactsOf(t *testing.T, pc *prefect.Client, runID, typ string) []prefect.Artifact {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		arts, err := pc.FilterArtifacts(context.Background(), runID)
		var out []prefect.Artifact
		for _, a := range arts {
			if a.Type != nil && *a.Type == typ {
				out = append(out, a)
			}
		}
		if err == nil && len(out) > 0 || time.Now().After(deadline) {
			if err != nil {
				t.Fatalf("artifacts of %s: %v", runID, err)
			}
			return out
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// dataText is an artifact's data as the string it was sent as.
func dataText(t *testing.T, a prefect.Artifact) string {
	t.Helper()
	var s string
	if err := json.Unmarshal(a.Data, &s); err != nil {
		t.Fatalf("artifact %s data is not a string: %s", a.ID, a.Data)
	}
	return s
}

// The artifacts a lab user sees on a run's Artifacts tab, read back from
// the real Prefect server: the move's table with what the agent replied,
// the health readings, and the error code of a refused move. The same
// script proves the real server accepts the form's overrides shape
// (anyOf [null, object]) both with overrides set and with None.
func TestRunArtifacts(t *testing.T) {
	r := newRig(t, rigOptions{})
	r.startBridge(r.cfg)
	var out struct{ A, H, E, M pyOutcome }
	r.python(pyRun+`
a = run_deployment("activate-hotel/activate-hotel", parameters={"hotel": "B", "overrides": {"pulse_max": 50}}, timeout=90, poll_interval=0.5)
h = run_deployment("get-motor-health/health", timeout=60, poll_interval=0.5)
e = run_deployment("emergency-stop/emergency-stop", timeout=60, poll_interval=0.5)
m = run_deployment("move-to-angle/move-to-angle", parameters={"angle": 42.0, "overrides": None}, timeout=60, poll_interval=0.5)
print(json.dumps({"A": final(a), "H": final(h), "E": final(e), "M": final(m)}))
`, &out)
	if out.A.Type != "COMPLETED" || out.H.Type != "COMPLETED" || out.E.Type != "COMPLETED" {
		t.Fatalf("runs ended %s / %s / %s: %q %q %q", out.A.Type, out.H.Type, out.E.Type, out.A.Message, out.H.Message, out.E.Message)
	}
	if out.M.Type != "FAILED" || !strings.Contains(out.M.Message, "estop_latched") {
		t.Fatalf("move while e-stop latched ended %s: %q", out.M.Type, out.M.Message)
	}

	// The move: hotel and final angle exactly as the agent replied them.
	res := out.A.Result.(map[string]any)
	final := res["final_angle"].(float64)
	md := artifactsOf(t, r.pc, out.A.ID, prefect.ArtifactMarkdown)
	if len(md) != 1 {
		t.Fatalf("activate-hotel run has %d markdown artifacts, want 1", len(md))
	}
	text := dataText(t, md[0])
	for _, want := range []string{"| Hotel | B |", fmt.Sprintf("| Final angle | %.2f° |", final),
		"| Outcome | Completed: hotel B is at the access position |", `"overrides":{"pulse_max":50}`} {
		if !strings.Contains(text, want) {
			t.Errorf("activate-hotel artifact lacks %q:\n%s", want, text)
		}
	}
	if md[0].Key == nil || *md[0].Key != "plate-resort-resort-1-activate-hotel" || md[0].FlowRunID == nil || *md[0].FlowRunID != out.A.ID {
		t.Errorf("artifact key %v, flow run %v", md[0].Key, md[0].FlowRunID)
	}

	// Health: the table artifact, with the temperature the agent read.
	tables := artifactsOf(t, r.pc, out.H.ID, prefect.ArtifactTable)
	if len(tables) != 1 {
		t.Fatalf("health run has %d table artifacts, want 1", len(tables))
	}
	var rows []healthRow
	if err := json.Unmarshal([]byte(dataText(t, tables[0])), &rows); err != nil {
		t.Fatalf("table data: %v", err)
	}
	temp, _ := out.H.Result.(map[string]any)["temperature_c"].(float64)
	found := false
	for _, row := range rows {
		found = found || row.Reading == "Temperature" && row.Value == temp && row.Unit == "°C"
	}
	if !found || temp == 0 {
		t.Errorf("health table %+v lacks the temperature %v °C the agent replied", rows, temp)
	}

	// The refused move names the error code, in words too.
	md = artifactsOf(t, r.pc, out.M.ID, prefect.ArtifactMarkdown)
	if len(md) != 1 || !strings.Contains(dataText(t, md[0]), "| Error code | estop_latched: an emergency stop is latched (run reset, then try again) |") {
		t.Fatalf("failed move's artifacts %+v do not name estop_latched", md)
	}
}

// A Prefect server that takes everything but artifacts: a 500 with an HTML
// page (the real server cannot be made to fail this way, so a proxy in
// front of it breaks only POST /artifacts/). The run still completes; the
// failure is counted.
func TestArtifactFailureLeavesRunAlone(t *testing.T) {
	r := newRig(t, rigOptions{})
	target, _ := url.Parse(r.prefect.URL)
	proxy := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: target.Scheme, Host: target.Host})
	var refused int
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method == http.MethodPost && strings.HasSuffix(req.URL.Path, "/artifacts/") {
			refused++
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(http.StatusInternalServerError)
			fmt.Fprint(w, "<html><body>\x00 upstream exploded</body></html>")
			return
		}
		proxy.ServeHTTP(w, req)
	}))
	t.Cleanup(ts.Close)
	cfg := r.cfg
	cfg.Prefect.APIURL = ts.URL + target.Path
	b, _ := r.startBridge(cfg)
	fr := createRun(t, r.pc, depID(t, b, "move-to-angle"), map[string]any{"angle": 10.0})
	began := time.Now()
	done := waitFinal(t, r.pc, fr.ID, 60*time.Second)
	if done.State.Type != prefect.StateCompleted {
		t.Fatalf("run ended %s: %s", done.State.Type, done.State.Message)
	}
	deadline := time.Now().Add(10 * time.Second)
	for b.runDeps.artifactFailures.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if n := b.runDeps.artifactFailures.Load(); n != 1 {
		t.Fatalf("artifact failures counted: %d, want 1 (refused %d)", n, refused)
	}
	if arts, err := r.pc.FilterArtifacts(context.Background(), fr.ID); err != nil || len(markdownOnly(arts)) != 0 {
		t.Fatalf("artifacts %v (%v); want none: the proxy refused them", arts, err)
	}
	t.Logf("run completed %s after creation; artifact refused and counted", time.Since(began).Round(time.Millisecond))
}

func markdownOnly(arts []prefect.Artifact) []prefect.Artifact {
	var out []prefect.Artifact
	for _, a := range arts {
		if a.Type != nil && *a.Type == prefect.ArtifactMarkdown {
			out = append(out, a)
		}
	}
	return out
}

func depID(t *testing.T, b *Bridge, flow string) string {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	for id, d := range b.deps {
		if d.Def.Flow == flow {
			return id
		}
	}
	t.Fatalf("no deployment of %s", flow)
	return ""
}

// The schema the real server stored (what its UI renders) has a title and
// a description for every parameter, bounds in words, and the overrides
// last and closed.
func TestStoredSchemasReadWell(t *testing.T) {
	r := newRig(t, rigOptions{})
	b, _ := r.startBridge(r.cfg)
	n := 0
	for _, id := range b.deploymentIDs() {
		d, err := r.pc.ReadDeployment(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		var s map[string]any
		if err := json.Unmarshal(d.ParameterOpenAPISchema, &s); err != nil {
			t.Fatalf("%s: schema %s: %v", d.Name, d.ParameterOpenAPISchema, err)
		}
		n += checkFormText(t, d.Name, s)
		if strings.Contains(string(d.ParameterOpenAPISchema), `"overrides"`) {
			ov := s["properties"].(map[string]any)["overrides"].(map[string]any)
			if alts, _ := ov["anyOf"].([]any); len(alts) != 2 || alts[0].(map[string]any)["type"] != "null" {
				t.Errorf("%s: stored overrides %v are not anyOf [null, object]", d.Name, ov)
			}
		}
		if d.Name == "get-position" && !strings.Contains(d.Description, "alias") {
			t.Errorf("deployment %s description %q does not say which name is the alias", d.Name, d.Description)
		}
	}
	if n < 17 {
		t.Fatalf("checked only %d properties", n)
	}
}
