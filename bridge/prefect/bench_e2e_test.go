package prefect_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/plate-resort/plate-resort/bridge/prefect"
)

// BenchmarkSetState measures one set_state round trip against the real
// server: each iteration creates a run and walks it Pending -> Running ->
// Completed, timing the three proposals. Reports p50/p99 per proposal.
//
//	PLATE_RESORT_TEST_PREFECT=DIR/bin/prefect go test -run '^$' -bench SetState -benchtime 100x ./bridge/prefect/
func BenchmarkSetState(b *testing.B) {
	c := client(b, srv.Get(b))
	f := newFixture(b, c)
	ctx := context.Background()
	done, _ := prefect.Completed("", map[string]any{"success": true})
	var lat []time.Duration
	i := 0
	for b.Loop() {
		i++
		b.StopTimer()
		fr, err := c.CreateFlowRun(ctx, f.dep.ID, prefect.FlowRunCreate{Parameters: map[string]any{"hotel": "A"},
			// SQLite under load answers 503 "database is locked"; a key makes the create retryable.
			IdempotencyKey: fmt.Sprintf("bench-%d-%d", time.Now().UnixNano(), i)})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		for _, s := range []prefect.StateCreate{prefect.Pending(), prefect.Running(), done} {
			t0 := time.Now()
			r, err := c.SetFlowRunState(ctx, fr.ID, s, false)
			lat = append(lat, time.Since(t0))
			if err != nil || r.Status != prefect.Accept {
				b.Fatalf("%s: %+v %v", s.Type, r, err)
			}
		}
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms/set_state")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms/set_state")
	b.ReportMetric(0, "ns/op")
}
