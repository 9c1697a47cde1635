package homeassistant

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"testing"
	"time"
)

// api is HA's REST API as an admin user: onboarding, tokens, config flows,
// states, services and templates (developers.home-assistant.io, "REST API"
// and "Authentication API").
type api struct {
	base         string
	http         *http.Client
	clientID     string
	access       string
	refreshToken string
}

// onboard creates the owner through the onboarding step "user", which
// answers with an auth code, and trades that code for tokens at /auth/token.
// That is all the API needs. The other steps are left open: finishing
// core_config starts the met, radio_browser and google_translate config
// flows, which want the internet.
func (a *api) onboard(t testing.TB) {
	t.Helper()
	a.clientID = a.base + "/"
	var created struct {
		AuthCode string `json:"auth_code"`
	}
	a.mustDo(t, "POST", "/api/onboarding/users", map[string]any{
		"client_id": a.clientID, "name": "E2E Owner", "username": "e2e",
		"password": "plate-resort-e2e-password", "language": "en",
	}, &created)
	if created.AuthCode == "" {
		t.Fatal("onboarding gave no auth_code")
	}
	a.token(t, url.Values{"grant_type": {"authorization_code"}, "code": {created.AuthCode}, "client_id": {a.clientID}})
}

// refresh gets a fresh access token with the refresh token (after a
// restart, as soon as HA's auth endpoint answers again).
func (a *api) refresh(t *testing.T) {
	t.Helper()
	var err error
	defer func() {
		if t.Failed() && err != nil {
			t.Logf("last /auth/token answer: %v", err)
		}
	}()
	eventually(t, 60*time.Second, "a new access token", func() bool {
		err = a.tryToken(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {a.refreshToken}, "client_id": {a.clientID}})
		return err == nil
	})
}

func (a *api) token(t testing.TB, form url.Values) {
	t.Helper()
	if err := a.tryToken(form); err != nil {
		t.Fatal(err)
	}
}

func (a *api) tryToken(form url.Values) error {
	resp, err := a.http.PostForm(a.base+"/auth/token", form)
	if err != nil {
		return fmt.Errorf("/auth/token: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("/auth/token (%s): %s: %s", form.Get("grant_type"), resp.Status, body)
	}
	var tok struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
	}
	if err := json.Unmarshal(body, &tok); err != nil || tok.AccessToken == "" {
		return fmt.Errorf("/auth/token: %v: %s", err, body)
	}
	a.access = tok.AccessToken
	if tok.RefreshToken != "" {
		a.refreshToken = tok.RefreshToken
	}
	return nil
}

// setupMQTT adds the MQTT integration the way a user does in the UI: the
// config flow of handler mqtt, whose broker step tries the connection.
func (a *api) setupMQTT(t testing.TB, host string, port int) {
	t.Helper()
	var step struct {
		FlowID string            `json:"flow_id"`
		Type   string            `json:"type"`
		StepID string            `json:"step_id"`
		Reason string            `json:"reason"`
		Errors map[string]string `json:"errors"`
	}
	a.mustDo(t, "POST", "/api/config/config_entries/flow", map[string]any{"handler": "mqtt", "show_advanced_options": false}, &step)
	if step.Type != "form" || step.StepID != "broker" {
		t.Fatalf("mqtt config flow: want the broker form, got %+v", step)
	}
	flow := step.FlowID
	a.mustDo(t, "POST", "/api/config/config_entries/flow/"+flow, map[string]any{"broker": host, "port": port}, &step)
	if step.Type != "create_entry" {
		t.Fatalf("mqtt config flow: broker step gave %+v", step)
	}
}

// state is one entity's state object.
type state struct {
	EntityID   string         `json:"entity_id"`
	State      string         `json:"state"`
	Attributes map[string]any `json:"attributes"`
}

// state returns the entity's state; ok is false while HA does not know it.
func (a *api) state(t testing.TB, entityID string) (state, bool) {
	t.Helper()
	var s state
	err := a.tryGet("/api/states/"+entityID, &s)
	var se *statusError
	if errors.As(err, &se) && se.code == http.StatusNotFound {
		return s, false
	}
	if err != nil {
		t.Fatal(err)
	}
	return s, true
}

// states returns every state by entity id.
func (a *api) states(t testing.TB) map[string]state {
	t.Helper()
	var list []state
	if err := a.tryGet("/api/states", &list); err != nil {
		t.Fatal(err)
	}
	m := make(map[string]state, len(list))
	for _, s := range list {
		m[s.EntityID] = s
	}
	return m
}

// call runs a service (action), as the UI or an automation does.
func (a *api) call(t testing.TB, domain, service string, data map[string]any) {
	t.Helper()
	a.mustDo(t, "POST", "/api/services/"+domain+"/"+service, data, nil)
}

// template renders a template on the server (device registry look-ups).
func (a *api) template(t testing.TB, tpl string) string {
	t.Helper()
	var out string
	if err := a.do("POST", "/api/template", map[string]any{"template": tpl}, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func (a *api) tryGet(path string, out any) error { return a.do("GET", path, nil, out) }

func (a *api) mustDo(t testing.TB, method, path string, in, out any) {
	t.Helper()
	if err := a.do(method, path, in, out); err != nil {
		t.Fatal(err)
	}
}

// do sends one request; a string out receives the body as text.
func (a *api) do(method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, a.base+path, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if a.access != "" {
		req.Header.Set("Authorization", "Bearer "+a.access)
	}
	resp, err := a.http.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		return &statusError{code: resp.StatusCode, msg: fmt.Sprintf("%s %s: %s: %s", method, path, resp.Status, b)}
	}
	switch o := out.(type) {
	case nil:
		return nil
	case *string:
		*o = string(b)
		return nil
	default:
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("%s %s: %w: %s", method, path, err, b)
		}
		return nil
	}
}

// statusError is an answer other than 2xx.
type statusError struct {
	code int
	msg  string
}

func (e *statusError) Error() string { return e.msg }
