package broker

import (
	"fmt"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/plate-resort/plate-resort/internal/ops"
)

// brokerMetrics: what mochi already counts (its server Info, the $SYS
// figures) is read at scrape time; refused logins and ACL denials are
// counted by the auth hook where it decides. Names follow
// https://prometheus.io/docs/practices/naming/.
type brokerMetrics struct {
	refused *prometheus.CounterVec
	denied  *prometheus.CounterVec
}

func newBrokerMetrics() *brokerMetrics {
	return &brokerMetrics{
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "plate_resort_broker_logins_refused_total",
			Help: "CONNECTs refused, by reason (the CONNACK reason, MQTT 5.0 §3.2.2.2): bad_credentials, not_authorized, client_id_not_valid, quota_exceeded.",
		}, []string{"reason"}),
		denied: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "plate_resort_broker_acl_denials_total",
			Help: "Publishes and subscriptions refused by the role ACLs, by kind (publish, subscribe, retained_command).",
		}, []string{"kind"}),
	}
}

// loginRefused counts one refused CONNECT by its reason code.
func (m *brokerMetrics) loginRefused(code packets.Code) {
	if m == nil {
		return
	}
	reason := "other"
	switch code.Code {
	case packets.ErrBadUsernameOrPassword.Code:
		reason = "bad_credentials"
	case packets.ErrNotAuthorized.Code:
		reason = "not_authorized"
	case packets.ErrClientIdentifierNotValid.Code:
		reason = "client_id_not_valid"
	case packets.ErrQuotaExceeded.Code:
		reason = "quota_exceeded"
	}
	m.refused.WithLabelValues(reason).Inc()
}

func (m *brokerMetrics) aclDenied(kind string) {
	if m != nil {
		m.denied.WithLabelValues(kind).Inc()
	}
}

var (
	descClients   = prometheus.NewDesc("plate_resort_broker_clients_connected", "Clients connected now.", nil, nil)
	descSessions  = prometheus.NewDesc("plate_resort_broker_sessions", "Client sessions held (connected, and disconnected persistent ones).", nil, nil)
	descMsgsIn    = prometheus.NewDesc("plate_resort_broker_messages_received_total", "PUBLISH packets received.", nil, nil)
	descMsgsOut   = prometheus.NewDesc("plate_resort_broker_messages_sent_total", "PUBLISH packets sent.", nil, nil)
	descMsgsDrop  = prometheus.NewDesc("plate_resort_broker_messages_dropped_total", "PUBLISH packets dropped for slow subscribers.", nil, nil)
	descBytesIn   = prometheus.NewDesc("plate_resort_broker_received_bytes_total", "Bytes received.", nil, nil)
	descBytesOut  = prometheus.NewDesc("plate_resort_broker_sent_bytes_total", "Bytes sent.", nil, nil)
	descRetained  = prometheus.NewDesc("plate_resort_broker_retained_messages", "Retained messages held.", nil, nil)
	descSubs      = prometheus.NewDesc("plate_resort_broker_subscriptions", "Subscriptions held.", nil, nil)
	descInflight  = prometheus.NewDesc("plate_resort_broker_inflight_messages", "QoS 1/2 messages in flight.", nil, nil)
	brokerDescAll = []*prometheus.Desc{descClients, descSessions, descMsgsIn, descMsgsOut, descMsgsDrop, descBytesIn, descBytesOut, descRetained, descSubs, descInflight}
)

// infoCollector reads mochi's server Info (its atomics) at scrape time.
type infoCollector struct{ srv *mqtt.Server }

func (c infoCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range brokerDescAll {
		ch <- d
	}
}

func (c infoCollector) Collect(ch chan<- prometheus.Metric) {
	i := c.srv.Info
	g := func(d *prometheus.Desc, v int64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v))
	}
	n := func(d *prometheus.Desc, v int64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v))
	}
	g(descClients, atomic.LoadInt64(&i.ClientsConnected))
	g(descSessions, int64(c.srv.Clients.Len()))
	n(descMsgsIn, atomic.LoadInt64(&i.MessagesReceived))
	n(descMsgsOut, atomic.LoadInt64(&i.MessagesSent))
	n(descMsgsDrop, atomic.LoadInt64(&i.MessagesDropped))
	n(descBytesIn, atomic.LoadInt64(&i.BytesReceived))
	n(descBytesOut, atomic.LoadInt64(&i.BytesSent))
	g(descRetained, atomic.LoadInt64(&i.Retained))
	g(descSubs, atomic.LoadInt64(&i.Subscriptions))
	g(descInflight, atomic.LoadInt64(&i.Inflight))
}

// MetricNames are the names of the broker's own metrics.
func (b *Broker) MetricNames() []string { return b.ops.MetricNames() }

// registerOps adds the broker's metrics and its liveness check to srv.
// Liveness: mochi's event loop stamps Info.Time every sys_interval
// (publishSysTopics); a loop that stopped stamping for 3 intervals plus a
// margin is stuck.
func (b *Broker) registerOps(srv *ops.Server, met *brokerMetrics) {
	srv.MustRegister(met.refused, met.denied, infoCollector{b.srv})
	limit := 3*b.cfg.Limits.SysInterval + 10*time.Second
	srv.Live("event_loop", func() error {
		last := atomic.LoadInt64(&b.srv.Info.Time)
		if last == 0 {
			last = atomic.LoadInt64(&b.srv.Info.Started)
		}
		if last == 0 {
			return nil // not started yet
		}
		if age := time.Since(time.Unix(last, 0)); age > limit {
			return fmt.Errorf("broker event loop stalled: last $SYS update %s ago, limit %s", age.Round(time.Second), limit)
		}
		return nil
	})
	srv.Ready("listeners", func() error {
		if b.serving.Load() {
			return nil
		}
		return fmt.Errorf("broker not serving (starting or closed)")
	})
}
