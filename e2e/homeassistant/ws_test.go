package homeassistant

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// haWS is Home Assistant's WebSocket API
// (https://developers.home-assistant.io/docs/api/websocket/): auth with the
// access token, then numbered commands whose answers (and subscription
// events) carry the same id. Device triggers are only reachable here.
type haWS struct {
	c      *websocket.Conn
	mu     sync.Mutex
	next   int
	events chan wsMsg
	res    map[int]chan wsMsg
}

type wsMsg struct {
	ID      int             `json:"id"`
	Type    string          `json:"type"`
	Success bool            `json:"success"`
	Result  json.RawMessage `json:"result"`
	Event   json.RawMessage `json:"event"`
	Error   *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func (a *api) websocket(t *testing.T) *haWS {
	t.Helper()
	url := "ws" + strings.TrimPrefix(a.base, "http") + "/api/websocket"
	c, _, err := websocket.DefaultDialer.Dial(url, http.Header{})
	if err != nil {
		t.Fatalf("HA websocket %s: %v", url, err)
	}
	t.Cleanup(func() { c.Close() })
	var m wsMsg
	if err := c.ReadJSON(&m); err != nil || m.Type != "auth_required" {
		t.Fatalf("HA websocket hello: %+v %v", m, err)
	}
	if err := c.WriteJSON(map[string]any{"type": "auth", "access_token": a.access}); err != nil {
		t.Fatal(err)
	}
	if err := c.ReadJSON(&m); err != nil || m.Type != "auth_ok" {
		t.Fatalf("HA websocket auth: %+v %v", m, err)
	}
	w := &haWS{c: c, events: make(chan wsMsg, 64), res: map[int]chan wsMsg{}}
	go func() {
		for {
			var m wsMsg
			if err := c.ReadJSON(&m); err != nil {
				return
			}
			if m.Type == "event" {
				select {
				case w.events <- m:
				default:
				}
				continue
			}
			w.mu.Lock()
			ch := w.res[m.ID]
			w.mu.Unlock()
			if ch != nil {
				ch <- m
			}
		}
	}()
	return w
}

// call sends one command and returns its result (an error if HA refused it).
func (w *haWS) call(cmd map[string]any) (json.RawMessage, int, error) {
	w.mu.Lock()
	w.next++
	id := w.next
	ch := make(chan wsMsg, 1)
	w.res[id] = ch
	cmd["id"] = id
	err := w.c.WriteJSON(cmd)
	w.mu.Unlock()
	if err != nil {
		return nil, id, err
	}
	select {
	case m := <-ch:
		if !m.Success {
			return nil, id, fmt.Errorf("%v: %+v", cmd["type"], m.Error)
		}
		return m.Result, id, nil
	case <-time.After(30 * time.Second):
		return nil, id, fmt.Errorf("%v: no answer in 30 s", cmd["type"])
	}
}

// testDeviceTriggers: HA took the agent's two device triggers (e-stop and
// fault) for the carousel's device, and the e-stop trigger fires when the
// carousel is stopped, which is what an automation on it needs.
func testDeviceTriggers(t *testing.T, ha *hass, w *watcher) {
	dev := ha.api.template(t, "{{ device_id('button.resort_1_emergency_stop') }}")
	ws := ha.api.websocket(t)
	var triggers []map[string]any
	eventually(t, 30*time.Second, "the device's MQTT triggers listed by HA", func() bool {
		raw, _, err := ws.call(map[string]any{"type": "device_automation/trigger/list", "device_id": dev})
		if err != nil {
			t.Logf("trigger list: %v", err)
			return false
		}
		triggers = nil
		if json.Unmarshal(raw, &triggers) != nil {
			return false
		}
		return len(find(triggers, "emergency_stop", "carousel")) > 0 && len(find(triggers, "fault", "servo")) > 0
	})
	estop := find(triggers, "emergency_stop", "carousel")[0]
	if estop["domain"] != "mqtt" {
		t.Fatalf("e-stop trigger %v: not an MQTT device trigger", estop)
	}
	if _, _, err := ws.call(map[string]any{"type": "subscribe_trigger", "trigger": estop}); err != nil {
		t.Fatalf("subscribing to the e-stop trigger: %v", err)
	}
	// HA subscribes the trigger's topic at the broker after a short
	// cooldown (homeassistant/components/mqtt/client.py, SUBSCRIBE_COOLDOWN)
	// and the event stream is not retained: a stop published before that
	// SUBSCRIBE reached the broker is not seen. Wait for the subscription to
	// exist, then stop once.
	time.Sleep(2 * time.Second)
	ha.api.call(t, "button", "press", map[string]any{"entity_id": "button.resort_1_emergency_stop"})
	select {
	case ev := <-ws.events:
		if !strings.Contains(string(ev.Event), `"estop"`) {
			t.Errorf("trigger fired with %s, want the estop event", ev.Event)
		}
	case <-time.After(15 * time.Second):
		ev, _ := w.get("plate-resort/resort-1/event")
		t.Fatalf("the e-stop device trigger %v did not fire within 15 s of the stop; last event on the broker: %s", estop, ev)
	}
	ha.api.call(t, "button", "press", map[string]any{"entity_id": "button.resort_1_reset"})
	waitEntity(t, ha, "binary_sensor.resort_1_estop", "off")
}

// find returns the triggers of type typ and subtype sub.
func find(triggers []map[string]any, typ, sub string) []map[string]any {
	var out []map[string]any
	for _, tr := range triggers {
		if tr["type"] == typ && tr["subtype"] == sub {
			out = append(out, tr)
		}
	}
	return out
}
