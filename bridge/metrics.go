package bridge

import (
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/plate-resort/plate-resort/bridge/prefect"
	"github.com/plate-resort/plate-resort/contract"
	"github.com/plate-resort/plate-resort/internal/ops"
)

// bridgeMetrics are the bridge's Prometheus metrics, named by the
// Prometheus conventions (https://prometheus.io/docs/practices/naming/).
// Run outcomes and Prefect requests are observed where they happen; ages,
// devices and runs in flight are read at scrape time.
type bridgeMetrics struct {
	runs     *prometheus.CounterVec
	claims   *prometheus.CounterVec
	runTime  *prometheus.HistogramVec
	requests *prometheus.CounterVec
	reqTime  prometheus.Histogram

	poll      *ops.Stamp // last successful poll for scheduled runs
	heartbeat *ops.Stamp // last successful worker heartbeat

	mu       sync.Mutex
	prefectE error // the last Prefect attempt's failure (nil: it answered)
}

func newBridgeMetrics() *bridgeMetrics {
	return &bridgeMetrics{
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "plate_resort_bridge_flow_runs_total",
			Help: "Flow runs the bridge finished, by deployment (flow/deployment) and the final state Prefect holds (COMPLETED, FAILED, CRASHED, CANCELLED).",
		}, []string{"deployment", "state"}),
		claims: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "plate_resort_bridge_claims_total",
			Help: "Flow runs this bridge claimed, by how it found them: \"event\" (claimed on the run's Scheduled event) or \"poll\" (get_scheduled_flow_runs).",
		}, []string{"path"}),
		runTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "plate_resort_bridge_flow_run_created_to_completed_seconds",
			Help: "Created to Completed of completed flow runs, from Prefect's own timestamps (the run's created and its Completed state's timestamp), by deployment.",
			// A read through the bridge takes ~0.1 s; a precise move seconds.
			Buckets: []float64{0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 40, 80, 160, 320},
		}, []string{"deployment"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "plate_resort_bridge_prefect_requests_total",
			Help: "Prefect API HTTP attempts, by endpoint class and HTTP status code (0: no answer).",
		}, []string{"endpoint", "code"}),
		reqTime: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "plate_resort_bridge_prefect_request_duration_seconds",
			Help:    "Duration of Prefect API HTTP attempts.",
			Buckets: []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30},
		}),
		poll:      ops.NewStamp(),
		heartbeat: ops.NewStamp(),
		prefectE:  errors.New("no Prefect request answered yet"),
	}
}

// prefectObserved is the Prefect client's Observe hook.
func (m *bridgeMetrics) prefectObserved(endpoint string, status int, d time.Duration) {
	m.requests.WithLabelValues(endpoint, strconv.Itoa(status)).Inc()
	m.reqTime.Observe(d.Seconds())
	var err error
	switch {
	case status == 0:
		err = fmt.Errorf("Prefect API did not answer %s", endpoint)
	case status >= 500:
		err = fmt.Errorf("Prefect API answered %s with HTTP %d", endpoint, status)
	}
	m.mu.Lock()
	m.prefectE = err
	m.mu.Unlock()
}

func (m *bridgeMetrics) prefectReachable() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.prefectE
}

// finished records a run's final state (called from run.finish).
// claimed counts a won claim.
func (m *bridgeMetrics) claimed(via claimPath) {
	if m == nil {
		return
	}
	m.claims.WithLabelValues(string(via)).Inc()
}

func (m *bridgeMetrics) finished(fr prefect.FlowRun, dep *deployment, st *prefect.State) {
	if m == nil || st == nil {
		return
	}
	switch st.Type {
	case prefect.StateCompleted, prefect.StateFailed, prefect.StateCrashed, prefect.StateCancelled:
	default:
		return // AwaitingRetry and the like: not final
	}
	name := dep.FullName()
	m.runs.WithLabelValues(name, string(st.Type)).Inc()
	if st.Type == prefect.StateCompleted && !fr.Created.IsZero() && !st.Timestamp.IsZero() {
		m.runTime.WithLabelValues(name).Observe(st.Timestamp.Sub(fr.Created).Seconds())
	}
}

var (
	descPollAge      = prometheus.NewDesc("plate_resort_bridge_last_poll_age_seconds", "Seconds since the last successful poll of Prefect for scheduled runs.", nil, nil)
	descHeartbeatAge = prometheus.NewDesc("plate_resort_bridge_last_heartbeat_age_seconds", "Seconds since the last successful worker heartbeat to Prefect.", nil, nil)
	descDevices      = prometheus.NewDesc("plate_resort_bridge_devices_online", "Devices whose retained availability is online.", nil, nil)
	descDevicesCfg   = prometheus.NewDesc("plate_resort_bridge_devices", "Devices the bridge serves (configured or discovered).", nil, nil)
	descInFlight     = prometheus.NewDesc("plate_resort_bridge_runs_in_flight", "Flow runs the bridge is executing now.", nil, nil)
	descArtifacts    = prometheus.NewDesc("plate_resort_bridge_artifact_failures_total", "Result artifacts Prefect did not take (the run's state is set regardless; artifacts.go).", nil, nil)
	descBridgeMQTT   = prometheus.NewDesc("plate_resort_bridge_mqtt_connected", "1 while the bridge's MQTT connection is up and subscribed.", nil, nil)
)

type bridgeCollector struct{ b *Bridge }

func (c bridgeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descPollAge, descHeartbeatAge, descDevices, descDevicesCfg, descInFlight, descArtifacts, descBridgeMQTT} {
		ch <- d
	}
}

func (c bridgeCollector) Collect(ch chan<- prometheus.Metric) {
	b := c.b
	gauge := func(d *prometheus.Desc, v float64) { ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v) }
	gauge(descPollAge, time.Since(b.metrics.poll.Get()).Seconds())
	gauge(descHeartbeatAge, time.Since(b.metrics.heartbeat.Get()).Seconds())
	online, served := 0, b.devs.names()
	for _, d := range served {
		if st, _ := b.devs.get(d); st.Availability == contract.Online {
			online++
		}
	}
	gauge(descDevices, float64(online))
	gauge(descDevicesCfg, float64(len(served)))
	b.mu.Lock()
	n := len(b.inflight)
	b.mu.Unlock()
	gauge(descInFlight, float64(n))
	ch <- prometheus.MustNewConstMetric(descArtifacts, prometheus.CounterValue, float64(b.runDeps.artifactFailures.Load()))
	up := 0.0
	if b.mq.connected() {
		up = 1
	}
	gauge(descBridgeMQTT, up)
}

// stallAfter is the liveness limit: the configured one, or 30 poll
// intervals as Prefect's own worker (src/prefect/workers/base.py,
// BaseWorker.is_worker_still_polling: "interval x 30", served by
// `prefect worker start --with-healthcheck`, src/prefect/workers/server.py),
// and never less than 3 heartbeat intervals.
func (c Config) stallAfter() time.Duration {
	if c.StallAfter > 0 {
		return c.StallAfter
	}
	return max(30*c.PollInterval, 3*c.HeartbeatInterval)
}

// registerOps adds the bridge's metrics and checks to srv.
func (b *Bridge) registerOps(srv *ops.Server) {
	m := b.metrics
	srv.MustRegister(m.runs, m.claims, m.runTime, m.requests, m.reqTime, bridgeCollector{b})
	limit := b.cfg.stallAfter()
	srv.Live("poll", ops.Stall("polling Prefect for scheduled runs", limit, m.poll.Get))
	srv.Live("heartbeat", ops.Stall("worker heartbeat to Prefect", limit, m.heartbeat.Get))
	srv.Ready("mqtt", func() error {
		if b.mq.connected() {
			return nil
		}
		return errors.New("MQTT connection down")
	})
	srv.Ready("prefect", m.prefectReachable)
}
