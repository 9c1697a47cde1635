package agent

import (
	"strings"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/plate-resort/plate-resort/contract"
)

// destination is where one request's reply goes besides <base>/reply/<cmd>.
type destination struct {
	responseTopic string // MQTT 5 Response Topic
	correlation   []byte // MQTT 5 Correlation Data, echoed
	replyTo       string // reply_to from the JSON body (MQTT 3.1.1 callers)
}

// inbound is a received command, copied out of the paho packet so the read
// loop can return at once.
type inbound struct {
	topic    string
	payload  []byte
	retain   bool
	dest     destination
	expiry   *uint32 // remaining MQTT 5 message expiry, seconds
	received time.Time
}

// onPublish runs on paho's read goroutine: copy and hand off, never block
// (docs/mqtt.md §4: a slow handler stalls keepalives and drops the connection).
func (s *session) onPublish(p *paho.Publish) {
	in := inbound{topic: p.Topic, payload: append([]byte(nil), p.Payload...), retain: p.Retain, received: time.Now()}
	if p.Properties != nil {
		in.dest.responseTopic = p.Properties.ResponseTopic
		in.dest.correlation = append([]byte(nil), p.Properties.CorrelationData...)
		if p.Properties.MessageExpiry != nil {
			v := *p.Properties.MessageExpiry
			in.expiry = &v
		}
	}
	if in.topic == contract.HAStatus(s.cfg.HomeAssistant.Prefix) {
		// Not a command: Home Assistant restarted and needs discovery and
		// state again. Telemetry does that on its own goroutine.
		if strings.TrimSpace(string(in.payload)) == "online" && s.cfg.HomeAssistant.Enabled {
			s.haOnline()
		}
		return
	}
	select {
	case s.inbox <- in:
	default:
		if in.topic == s.topics.Command(contract.EmergencyStop) && !in.retain {
			// Never drop an emergency stop, not even in a flood.
			go s.urgent(in)
			return
		}
		s.dropped()
		s.log.Error().Str("topic", p.Topic).Msg("inbox full; message dropped")
	}
}
