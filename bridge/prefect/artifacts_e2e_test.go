package prefect_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/plate-resort/plate-resort/bridge/prefect"
)

// Markdown and table artifacts, created the way Python's MarkdownArtifact
// and TableArtifact do (src/prefect/artifacts.py), come back from the real
// server's filter linked to the run, newest first.
func TestArtifactsRoundTrip(t *testing.T) {
	s := srv.Get(t)
	c := client(t, s)
	ctx := ctxT(t)
	f := newFixture(t, c)
	fr := f.newRun(t, c, "A")
	md := "### done\n\n| Field | Value |\n| --- | --- |\n| Hotel | A |\n"
	if _, err := c.CreateArtifact(ctx, prefect.ArtifactCreate{Key: uniq(t, "md"), Type: prefect.ArtifactMarkdown,
		Description: "outcome", Data: md, FlowRunID: fr.ID}); err != nil {
		t.Fatal(err)
	}
	table := `[{"reading":"Temperature","value":35,"unit":"°C"}]`
	if _, err := c.CreateArtifact(ctx, prefect.ArtifactCreate{Type: prefect.ArtifactTable, Data: table, FlowRunID: fr.ID}); err != nil {
		t.Fatal(err)
	}
	arts, err := c.FilterArtifacts(ctx, fr.ID)
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, a := range arts {
		types = append(types, *a.Type)
		if a.FlowRunID == nil || *a.FlowRunID != fr.ID {
			t.Errorf("artifact %s linked to %v, want %s", a.ID, a.FlowRunID, fr.ID)
		}
		var data string
		if err := json.Unmarshal(a.Data, &data); err != nil {
			t.Errorf("artifact %s data %s is not the string sent", a.ID, a.Data)
		}
		if *a.Type == prefect.ArtifactMarkdown && (data != md || a.Key == nil || *a.Key != uniq(t, "md")) {
			t.Errorf("markdown artifact came back as key %v data %q", a.Key, data)
		}
	}
	if strings.Join(types, ",") != "table,markdown" {
		t.Fatalf("artifact types %v, want [table markdown] (newest first)", types)
	}
}

// The real server refuses a run id that is no UUID with a 422; a key it
// would refuse (src/prefect/types/names.py ArtifactKey) is refused before
// any request.
func TestArtifactRefusals(t *testing.T) {
	s := srv.Get(t)
	c := client(t, s)
	ctx := ctxT(t)
	_, err := c.CreateArtifact(ctx, prefect.ArtifactCreate{Type: prefect.ArtifactMarkdown, Data: "x", FlowRunID: "not-a-uuid"})
	if prefect.StatusOf(err) != 422 || !strings.Contains(err.Error(), "flow_run_id") {
		t.Fatalf("err = %v, want the server's 422 naming flow_run_id", err)
	}
	var calls atomic.Int32
	fc := fakeClient(t, func(w http.ResponseWriter, r *http.Request) { calls.Add(1) })
	if _, err := fc.CreateArtifact(ctx, prefect.ArtifactCreate{Key: "Hotel_B", Type: "markdown", Data: "x"}); !errors.Is(err, prefect.ErrBadArtifactKey) || calls.Load() != 0 {
		t.Fatalf("err = %v after %d requests; want ErrBadArtifactKey and none", err, calls.Load())
	}
}

// Broken answers on the artifact path that the real server cannot be made
// to give (a crashed server or a proxy): an error, and exactly one request,
// since a repeated POST would create a second artifact.
func TestArtifactHostileAnswers(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		status     int
	}{
		{"500 HTML", "<html>\x00 boom</html>", 500},
		{"503 JSON", `{"detail":"database is locked"}`, 503},
		{"201 garbage", "\xff\xfe not json", 201},
		{"201 without id", `{"key":"x"}`, 201},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var calls atomic.Int32
			fc := fakeClient(t, func(w http.ResponseWriter, r *http.Request) {
				calls.Add(1)
				w.WriteHeader(tc.status)
				fmt.Fprint(w, tc.body)
			})
			a, err := fc.CreateArtifact(ctxT(t), prefect.ArtifactCreate{Type: "markdown", Data: "x"})
			if err == nil || a != nil || calls.Load() != 1 {
				t.Fatalf("artifact %v, err %v after %d requests; want an error after exactly 1", a, err, calls.Load())
			}
			if strings.ContainsRune(err.Error(), 0) {
				t.Errorf("error carries control bytes: %q", err)
			}
		})
	}
}
