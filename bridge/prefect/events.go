package prefect

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/gorilla/websocket"
)

// Event is one Prefect event from the events websocket (docs/prefect.md §10). For flow-run
// state changes, Event is "prefect.flow-run.<StateName>".
type Event struct {
	ID       string            `json:"id"`
	Occurred time.Time         `json:"occurred"`
	Event    string            `json:"event"`
	Resource map[string]string `json:"resource"`
	Related  []map[string]any  `json:"related"`
	// Payload is kept raw: only a flow-run state event's "intended" is read
	// (FirstState), and a payload of any other shape must not cost the
	// rest of the event.
	Payload json.RawMessage `json:"payload"`
}

// FirstState says whether a flow-run state event announces the run's first
// state, the one it was created with: the payload's intended.from is null
// (src/prefect/server/models/events.py flow_run_state_change_event,
// _state_type(None)). A missing or malformed payload is not a first state.
func (e Event) FirstState() bool {
	var p struct {
		Intended *struct {
			From json.RawMessage `json:"from"`
		} `json:"intended"`
	}
	if json.Unmarshal(e.Payload, &p) != nil || p.Intended == nil {
		return false
	}
	return p.Intended.From != nil && string(p.Intended.From) == "null"
}

// RelatedName is the name of the event's related resource with role (e.g.
// "work-queue"), and whether there is exactly one.
func (e Event) RelatedName(role string) (string, bool) {
	name, n := "", 0
	for _, r := range e.Related {
		if ro, _ := r["prefect.resource.role"].(string); ro == role {
			name, _ = r["prefect.resource.name"].(string)
			n++
		}
	}
	return name, n == 1
}

// Tagged says whether the event's related resources include tag t
// (prefect.tag.<t>, role "tag").
func (e Event) Tagged(t string) bool {
	for _, r := range e.Related {
		if id, _ := r["prefect.resource.id"].(string); id == "prefect.tag."+t {
			return true
		}
	}
	return false
}

// FlowRunID returns the run id of a prefect.flow-run.* event, or "".
func (e Event) FlowRunID() string {
	id, ok := strings.CutPrefix(e.Resource["prefect.resource.id"], "prefect.flow-run.")
	if !ok {
		return ""
	}
	return id
}

// StateType and StateName are the labels Prefect puts on flow-run state events.
func (e Event) StateType() StateType { return StateType(e.Resource["prefect.state-type"]) }
func (e Event) StateName() string    { return e.Resource["prefect.state-name"] }

// EventFilter is the subset of Prefect's EventFilter a worker needs. Empty
// fields are not sent. Occurred is always set to [now-1m, now+365d] at each
// (re)connect, as Prefect's own subscriber does.
type EventFilter struct {
	// Names are exact event names, e.g. "prefect.flow-run.Scheduled".
	Names []string
	// Prefixes match event name prefixes, e.g. "prefect.flow-run.".
	Prefixes []string
	// RelatedIDs match related resource ids, e.g. "prefect.work-pool.<uuid>".
	RelatedIDs []string
	// ResourceIDs match the primary resource, e.g. "prefect.flow-run.<uuid>".
	ResourceIDs []string
}

func (f EventFilter) wire(now time.Time) map[string]any {
	m := map[string]any{
		"occurred": map[string]any{"since": now.Add(-time.Minute).UTC(), "until": now.Add(365 * 24 * time.Hour).UTC()},
	}
	ev := map[string]any{}
	if f.Names != nil {
		ev["name"] = f.Names
	}
	if f.Prefixes != nil {
		ev["prefix"] = f.Prefixes
	}
	if len(ev) > 0 {
		m["event"] = ev
	}
	if f.RelatedIDs != nil {
		m["related"] = map[string]any{"id": f.RelatedIDs}
	}
	if f.ResourceIDs != nil {
		m["resource"] = map[string]any{"id": f.ResourceIDs}
	}
	return m
}

// SubscribeOptions tunes Subscribe.
type SubscribeOptions struct {
	Filter EventFilter
	// Backfill asks the server to replay matching stored events first (since
	// now-1m), which closes the gap of a reconnect.
	Backfill bool
	// OnStatus, if set, is called from the subscriber goroutine on every
	// connect (err nil) and every failure (err non-nil, about to back off).
	OnStatus func(connected bool, err error)
	// MaxBackoff caps the reconnect delay; zero means 30 s.
	MaxBackoff time.Duration
}

// Subscribe streams events matching opts.Filter until ctx is done, then closes
// the channel. It reconnects forever with exponential backoff. Events are a
// wake-up hint only: at-least-once, possibly late, possibly repeated after a
// reconnect; the authority is always the REST API (docs/prefect.md §10).
func (c *Client) Subscribe(ctx context.Context, opts SubscribeOptions) <-chan Event {
	out := make(chan Event, 64)
	maxBackoff := opts.MaxBackoff
	if maxBackoff <= 0 {
		maxBackoff = 30 * time.Second
	}
	go func() {
		defer close(out)
		backoff := 250 * time.Millisecond
		for ctx.Err() == nil {
			connected, err := c.streamEvents(ctx, opts, out)
			if ctx.Err() != nil {
				return
			}
			if connected {
				backoff = 250 * time.Millisecond
			}
			if opts.OnStatus != nil {
				opts.OnStatus(false, err)
			}
			if sleepCtx(ctx, backoff) != nil {
				return
			}
			backoff = min(backoff*2, maxBackoff)
		}
	}()
	return out
}

// Keepalive: a silently dead TCP path would otherwise block ReadMessage forever.
const (
	wsPingEvery    = 20 * time.Second
	wsReadDeadline = 60 * time.Second
	wsMaxMessage   = 1 << 20 // one event is a few KiB; anything huge is hostile
)

// eventsURL turns the API URL into the /events/out websocket URL.
func (c *Client) eventsURL() string {
	u := *c.base
	if u.Scheme == "https" {
		u.Scheme = "wss"
	} else {
		u.Scheme = "ws"
	}
	u.Path = strings.TrimRight(u.Path, "/") + "/events/out"
	return u.String()
}

// streamEvents runs one connection: handshake, auth, filter, then read until
// error. connected reports whether the server accepted the subscription.
func (c *Client) streamEvents(ctx context.Context, opts SubscribeOptions, out chan<- Event) (connected bool, err error) {
	dialer := websocket.Dialer{
		Subprotocols:     []string{"prefect"}, // without it the server closes with 1002 (docs/prefect.md §10)
		HandshakeTimeout: c.timeout,
		Proxy:            http.ProxyFromEnvironment,
	}
	hdr := http.Header{"User-Agent": {c.ua}}
	if c.authz != "" {
		hdr.Set("Authorization", c.authz)
	}
	conn, resp, err := dialer.DialContext(ctx, c.eventsURL(), hdr)
	if err != nil {
		if resp != nil {
			return false, fmt.Errorf("prefect: events websocket: handshake: HTTP %d", resp.StatusCode)
		}
		return false, fmt.Errorf("prefect: events websocket: %w", unwrapURLError(err))
	}
	defer conn.Close()
	conn.SetReadLimit(wsMaxMessage)
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stop()

	var token any // JSON null when no credentials, as Prefect's client sends
	if c.wsToken != "" {
		token = c.wsToken
	}
	_ = conn.SetWriteDeadline(time.Now().Add(c.timeout))
	if err := conn.WriteJSON(map[string]any{"type": "auth", "token": token}); err != nil {
		return false, fmt.Errorf("prefect: events websocket: send auth: %w", err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(c.timeout))
	var ack struct {
		Type string `json:"type"`
	}
	if err := conn.ReadJSON(&ack); err != nil {
		return false, fmt.Errorf("prefect: events websocket: auth refused or no answer (check PREFECT_API_KEY / PREFECT_API_AUTH_STRING): %w", err)
	}
	if ack.Type != "auth_success" {
		return false, fmt.Errorf("prefect: events websocket: expected auth_success, got %q", clip(ack.Type))
	}
	if err := conn.WriteJSON(map[string]any{"type": "filter", "backfill": opts.Backfill, "filter": opts.Filter.wire(time.Now())}); err != nil {
		return false, fmt.Errorf("prefect: events websocket: send filter: %w", err)
	}
	_ = conn.SetWriteDeadline(time.Time{})
	if opts.OnStatus != nil {
		opts.OnStatus(true, nil)
	}

	_ = conn.SetReadDeadline(time.Now().Add(wsReadDeadline))
	conn.SetPongHandler(func(string) error { return conn.SetReadDeadline(time.Now().Add(wsReadDeadline)) })
	connCtx, cancelConn := context.WithCancel(ctx)
	defer cancelConn()
	go pinger(connCtx, conn)
	for {
		_, msg, err := conn.ReadMessage()
		if err != nil {
			if ctx.Err() != nil {
				return true, ctx.Err()
			}
			return true, fmt.Errorf("prefect: events websocket: %w", err)
		}
		_ = conn.SetReadDeadline(time.Now().Add(wsReadDeadline))
		ev, ok := decodeEventMessage(msg)
		if !ok {
			continue // a hint channel: skip what we cannot read rather than drop the connection
		}
		select {
		case out <- ev:
		case <-ctx.Done():
			return true, ctx.Err()
		}
	}
}

// pinger keeps the read deadline alive through pongs. WriteControl is safe to
// call concurrently with the reader.
func pinger(ctx context.Context, conn *websocket.Conn) {
	t := time.NewTicker(wsPingEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(5*time.Second)); err != nil {
				return
			}
		}
	}
}

// decodeEventMessage parses {"type":"event","event":{...}}. Anything else,
// including malformed or wrong-typed input, yields ok=false.
func decodeEventMessage(msg []byte) (Event, bool) {
	var m struct {
		Type  string          `json:"type"`
		Event json.RawMessage `json:"event"`
	}
	if json.Unmarshal(msg, &m) != nil || m.Type != "event" || len(m.Event) == 0 {
		return Event{}, false
	}
	var ev Event
	if err := json.Unmarshal(m.Event, &ev); err != nil || ev.Event == "" {
		return Event{}, false
	}
	return ev, true
}
