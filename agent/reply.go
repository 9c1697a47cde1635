package agent

import (
	"encoding/json"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/plate-resort/plate-resort/contract"
)

// finish builds the reply, stores it for dedupe and sends it to the caller
// and to anyone who repeated the id meanwhile.
func (s *service) finish(j *job, result any, e *contract.Error) {
	r := contract.Reply{Command: j.req.Command, Status: contract.StatusOK, Error: e, ReceivedAt: j.received.UTC(), FinishedAt: time.Now().UTC()}
	if result != nil {
		raw, err := json.Marshal(result)
		if err != nil {
			raw, e = nil, contract.Errorf(contract.CodeInternal, "result not encodable: %v", err)
			r.Error = e
		}
		r.Result = raw
	}
	if j.req.ID != "" {
		r.ID = idPtr(j.req.ID)
	}
	if e != nil {
		r.Status = contract.StatusError
	}
	ran := !j.started.IsZero() && !j.refused
	if ran {
		st := j.started.UTC()
		r.StartedAt = &st
	}
	s.counters.count(e)
	s.metrics.finished(j, result, e)
	// A read's reply goes out from its own goroutine when it can (the
	// read pool's worker has nothing else to do): one hand-off fewer.
	s.deliver(j.dest, r, true, j.req.Spec != nil && j.req.Spec.Kind == contract.KindRead)
	s.eventFinished(j, result, e)
	if j.req.ID != "" && j.req.Spec != nil {
		// A command that never started (queue_full, expired, cancelled or
		// dropped before running) is forgotten, so resending it with the
		// same id runs it; only executed commands are remembered.
		if j.req.Spec.Kind != contract.KindRead && j.journaled {
			s.journalFinish(j.req, r, ran)
		}
		for _, d := range s.dd.finish(j.req.ID, r, ran, time.Now()) {
			dup := r
			dup.Duplicate = true
			s.sendReply(d, dup, true)
		}
	}
	if j.req.Spec == nil || j.req.Spec.Kind != contract.KindRead {
		// A read changes nothing state shows (busy, queue, torque, e-stop);
		// the position it read wakes telemetry itself when it is new
		// (live.observe).
		s.notify.stateChanged()
	}
}

// sendReply hands r to the outbox for <base>/reply/<command> (when common)
// and for the caller's own response topic: the MQTT 5 Response Topic with
// Correlation Data echoed, else the body's reply_to.
func (s *service) sendReply(d destination, r contract.Reply, common bool) {
	s.deliver(d, r, common, false)
}

// deliver is sendReply; with now, each message is first offered to
// sendNow.
func (s *service) deliver(d destination, r contract.Reply, common, now bool) {
	// Room for a typical reply (~250 bytes) up front; encoding/json's
	// output, byte for byte (contract.Reply.AppendJSON).
	payload, err := r.AppendJSON(make([]byte, 0, 384))
	if err != nil {
		s.log.Error().Err(err).Str("command", r.Command).Msg("reply not encodable")
		return
	}
	if r.Status == contract.StatusError {
		s.log.Info().Str("command", r.Command).Str("code", string(r.Error.Code)).Str("reason", r.Error.Message).Msg("command refused or failed")
	}
	name := r.Command
	if _, ok := s.catalog().Lookup(name); !ok {
		name = "_unknown" // never echo an arbitrary topic level back
	}
	// The caller's own topic first: that is who is waiting.
	own := d.responseTopic
	if own == "" {
		own = d.replyTo
	}
	if own != "" {
		if contract.ValidTopic(own) != nil || !replyAllowed(s.topics, own, s.cfg.HomeAssistant.Prefix) {
			s.log.Warn().Str("topic", own).Msg("reply topic refused: use <prefix>/responses/<your-name>/<device>/... or <base>/reply/...; never telemetry, discovery or another device's responses")
		} else {
			var props *paho.PublishProperties
			if d.responseTopic != "" {
				props = &paho.PublishProperties{CorrelationData: d.correlation, ContentType: "application/json"}
			}
			s.out(outbound{topic: own, payload: payload, props: props, via: d.via}, now)
		}
	}
	if common {
		s.out(outbound{topic: s.topics.Reply(name), payload: payload, via: d.via}, now)
	}
}

func (s *service) out(m outbound, now bool) {
	if now && s.sendNow != nil && s.sendNow(m) {
		return
	}
	s.send(m)
}

func idPtr(s string) *string { return &s }
