package prefect_test

import (
	"context"
	"testing"
	"time"

	"github.com/plate-resort/plate-resort/bridge/prefect"
)

func TestEventsDeliverScheduledForNewRun(t *testing.T) {
	c := client(t, srv.Get(t))
	f := newFixture(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	connected := make(chan struct{}, 8)
	events := c.Subscribe(ctx, prefect.SubscribeOptions{
		Filter: prefect.EventFilter{
			Names:      []string{"prefect.flow-run.Scheduled", "prefect.flow-run.Cancelling"},
			RelatedIDs: []string{"prefect.work-pool." + f.pool.ID},
		},
		OnStatus: func(up bool, err error) {
			if up {
				connected <- struct{}{}
			} else {
				t.Logf("events websocket down: %v", err)
			}
		},
	})
	select {
	case <-connected:
	case <-ctx.Done():
		t.Fatal("events websocket never connected")
	}
	fr := f.newRun(t, c, "A")
	created := time.Now()
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				t.Fatal("event channel closed before the Scheduled event")
			}
			if ev.FlowRunID() != fr.ID {
				continue
			}
			if ev.Event != "prefect.flow-run.Scheduled" || ev.StateType() != prefect.StateScheduled || ev.StateName() != "Scheduled" {
				t.Fatalf("event %+v", ev)
			}
			t.Logf("Scheduled event %s after create", time.Since(created).Round(time.Millisecond))
			cancel()
			for range events { // the channel must close once ctx is done
			}
			return
		case <-ctx.Done():
			t.Fatal("no Scheduled event for the new run")
		}
	}
}
