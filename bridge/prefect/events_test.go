package prefect

import "testing"

func TestDecodeEventMessageRejectsHostileInput(t *testing.T) {
	for _, msg := range []string{
		``, `null`, `[]`, `{"type":"event"}`, `{"type":"event","event":null}`,
		`{"type":"event","event":{"event":42}}`, `{"type":"event","event":{"resource":"x","event":"e"}}`,
		`{"type":"auth_success"}`, `{"type":"event","event":{"event":""}}`,
	} {
		if ev, ok := decodeEventMessage([]byte(msg)); ok {
			t.Errorf("%q decoded to %+v", msg, ev)
		}
	}
	ev, ok := decodeEventMessage([]byte(`{"type":"event","event":{"id":"e1","event":"prefect.flow-run.Cancelling","resource":{"prefect.resource.id":"prefect.flow-run.abc","prefect.state-type":"CANCELLING","prefect.state-name":"Cancelling"},"related":[{"prefect.resource.id":"prefect.work-pool.p","prefect.resource.role":"work-pool"}],"payload":{"x":[1]}}}`))
	if !ok || ev.FlowRunID() != "abc" || ev.StateType() != StateCancelling || ev.StateName() != "Cancelling" {
		t.Fatalf("%+v %v", ev, ok)
	}
}

func TestEventsURL(t *testing.T) {
	for in, want := range map[string]string{
		"http://127.0.0.1:4200/api":                              "ws://127.0.0.1:4200/api/events/out",
		"https://api.prefect.cloud/api/accounts/a/workspaces/w/": "wss://api.prefect.cloud/api/accounts/a/workspaces/w/events/out",
	} {
		c, err := New(Config{APIURL: in})
		if err != nil {
			t.Fatal(err)
		}
		if got := c.eventsURL(); got != want {
			t.Errorf("%s -> %s, want %s", in, got, want)
		}
	}
}

func TestEventFirstStateAndRelated(t *testing.T) {
	const rel = `"related":[{"prefect.resource.id":"prefect.work-queue.q1","prefect.resource.role":"work-queue","prefect.resource.name":"default"},{"prefect.resource.id":"prefect.tag.auto-scheduled","prefect.resource.role":"tag"}]`
	for _, c := range []struct {
		payload string
		first   bool
	}{
		{`{"intended":{"from":null,"to":"SCHEDULED"}}`, true},
		{`{"intended":{"from":"PENDING","to":"SCHEDULED"}}`, false},
		{`{"intended":{"to":"SCHEDULED"}}`, false}, // from missing: not known to be first
		{`{"intended":null}`, false},
		{`{"intended":"x"}`, false},
		{`{"intended":{"from":0}}`, false},
		{`[]`, false},
		{`"payload"`, false},
		{`null`, false},
	} {
		ev, ok := decodeEventMessage([]byte(`{"type":"event","event":{"event":"prefect.flow-run.Scheduled",` + rel + `,"payload":` + c.payload + `}}`))
		if !ok {
			t.Fatalf("payload %s: event not decoded", c.payload)
		}
		if got := ev.FirstState(); got != c.first {
			t.Errorf("payload %s: FirstState %v, want %v", c.payload, got, c.first)
		}
		if q, ok := ev.RelatedName("work-queue"); !ok || q != "default" {
			t.Errorf("work-queue %q %v", q, ok)
		}
		if !ev.Tagged("auto-scheduled") || ev.Tagged("auto") {
			t.Error("tags")
		}
	}
	// Two work queues, or a name of the wrong type, name none.
	ev, _ := decodeEventMessage([]byte(`{"type":"event","event":{"event":"e","related":[{"prefect.resource.role":"work-queue","prefect.resource.name":"a"},{"prefect.resource.role":"work-queue","prefect.resource.name":"b"},{"prefect.resource.role":7}]}}`))
	if _, ok := ev.RelatedName("work-queue"); ok {
		t.Error("two work queues named one")
	}
	ev, _ = decodeEventMessage([]byte(`{"type":"event","event":{"event":"e","related":[{"prefect.resource.role":"work-queue","prefect.resource.name":5}]}}`))
	if q, ok := ev.RelatedName("work-queue"); q != "" || !ok {
		t.Errorf("wrong-typed name: %q %v", q, ok)
	}
}
