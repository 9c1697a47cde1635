package prefect_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/plate-resort/plate-resort/bridge/prefect"
)

func TestConfigFromEnviron(t *testing.T) {
	c := prefect.ConfigFromEnviron([]string{"PREFECT_API_URL=http://h:4200/api", "PREFECT_API_KEY=k=with=equals", "PREFECT_API_AUTH_STRING=u:p", "OTHER=1", "garbage"})
	if c.APIURL != "http://h:4200/api" || c.APIKey != "k=with=equals" || c.AuthString != "u:p" {
		t.Fatalf("%#v", c)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	for _, cfg := range []prefect.Config{
		{},
		{APIURL: "ftp://x/api"},
		{APIURL: "http:///api"},
		{APIURL: "http://admin:hunter2@h/api"},
		{APIURL: "http://h/api?x=1"},
		{APIURL: "http://h/api", AuthString: "no-colon-hunter2"},
		{APIURL: "::not a url hunter2"},
	} {
		_, err := prefect.New(cfg)
		if err == nil {
			t.Errorf("New(%v) accepted", cfg)
			continue
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("error leaks secret: %v", err)
		}
	}
}

func TestSecretsNeverPrinted(t *testing.T) {
	cfg := prefect.Config{APIURL: "http://127.0.0.1:1/api", APIKey: "pnu_TOPSECRET", AuthString: "admin:PASSWORD9"}
	for _, s := range []string{fmt.Sprint(cfg), fmt.Sprintf("%+v", cfg), fmt.Sprintf("%#v", cfg), fmt.Sprintf("%v", &cfg)} {
		if strings.Contains(s, "TOPSECRET") || strings.Contains(s, "PASSWORD9") {
			t.Fatalf("config printed a secret: %s", s)
		}
	}
	c, err := prefect.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if s := fmt.Sprintf("%v %+v", c, c); strings.Contains(s, "TOPSECRET") {
		t.Fatalf("client printed a secret: %s", s)
	}
	// Connection refused (port 1): the transport error must not carry them either.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, err := range []error{c.Health(context.Background()), c.Health(ctx)} {
		if err == nil || strings.Contains(err.Error(), "TOPSECRET") || strings.Contains(err.Error(), "PASSWORD9") {
			t.Fatalf("err = %v", err)
		}
	}
}

func TestEndpointClass(t *testing.T) {
	id := "0b7f2b3e-1c2d-4e5f-8a9b-0c1d2e3f4a5b"
	for in, want := range map[[2]string]string{
		{"POST", "/flow_runs/" + id + "/set_state"}:                       "POST /flow_runs/{id}/set_state",
		{"GET", "/flow_runs/" + id}:                                       "GET /flow_runs/{id}",
		{"POST", "/flow_runs/filter"}:                                     "POST /flow_runs/filter",
		{"GET", "/flow_run_states/?flow_run_id=" + id}:                    "GET /flow_run_states",
		{"POST", "/work_pools/plate-resort-pool/workers/heartbeat"}:       "POST /work_pools/{name}/workers/heartbeat",
		{"POST", "/work_pools/plate-resort-pool/get_scheduled_flow_runs"}: "POST /work_pools/{name}/get_scheduled_flow_runs",
		{"POST", "/work_pools/"}:                                          "POST /work_pools",
		{"GET", "/flows/name/activate-hotel"}:                             "GET /flows/name/{name}",
		{"GET", "/deployments/name/activate-hotel/activate-hotel"}:        "GET /deployments/name/{name}/{name}",
		{"POST", "/deployments/" + id + "/create_flow_run"}:               "POST /deployments/{id}/create_flow_run",
		{"GET", "/health"}:                                                "GET /health",
	} {
		if got := prefect.EndpointClass(in[0], in[1]); got != want {
			t.Errorf("%s %s: %q, want %q", in[0], in[1], got, want)
		}
	}
}
