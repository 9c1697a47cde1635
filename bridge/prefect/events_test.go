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
