package agent

import (
	"errors"
	"math"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/plate-resort/plate-resort/contract"
	"github.com/plate-resort/plate-resort/driver/resort"
	"github.com/plate-resort/plate-resort/internal/ops"
)

// Agent metrics. Names follow the Prometheus naming conventions
// (https://prometheus.io/docs/practices/naming/): plate_resort_ prefix,
// base units in the name (_seconds, _degrees, _celsius, _volts, _amperes),
// _total on counters. Events are observed where they happen (a reply, a
// serial attempt); everything that already exists as state (queues, link,
// servo health, journal) is read at scrape time by agentCollector, so
// nothing is counted twice.
type metrics struct {
	commands    *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	moveError   prometheus.Histogram
	estops      prometheus.Counter
	serial      *prometheus.CounterVec
	serialRTT   prometheus.Histogram
	catalogHas  func(string) bool
	healthStamp *ops.Stamp // healthLoop's progress (liveness)
	// counterCache holds the commands counter of each command and outcome:
	// WithLabelValues hashes the labels and locks the vector each time.
	counterCache sync.Map // [2]string -> prometheus.Counter
}

// commandCounter is commands.WithLabelValues(name, outcome), looked up once.
func (m *metrics) commandCounter(name, outcome string) prometheus.Counter {
	k := [2]string{name, outcome}
	if c, ok := m.counterCache.Load(k); ok {
		return c.(prometheus.Counter)
	}
	c := m.commands.WithLabelValues(name, outcome)
	m.counterCache.Store(k, c)
	return c
}

func newMetrics(catalogHas func(string) bool) *metrics {
	return &metrics{
		catalogHas: catalogHas,
		commands: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "plate_resort_agent_commands_total",
			Help: "Commands answered, by command and outcome (ok, or the error code of the reply).",
		}, []string{"command", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "plate_resort_agent_command_duration_seconds",
			Help: "Time from start to reply of commands that ran, by command.",
			// A read takes a few ms; a precise move seconds to a minute.
			Buckets: []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 40, 80},
		}, []string{"command"}),
		moveError: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "plate_resort_agent_move_final_error_degrees",
			Help: "Absolute final error of finished moves (activate_hotel, go_home, move_to_angle), degrees.",
			// position_tolerance defaults to 0.5°, plain_tolerance to 2°.
			Buckets: []float64{0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 2, 3, 5, 10},
		}),
		estops: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "plate_resort_agent_estops_total",
			Help: "Emergency stops received (each torques the servo off and latches).",
		}),
		serial: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "plate_resort_agent_serial_transactions_total",
			Help: "Serial transaction attempts on the wire, by result (ok, timeout, crc, hardware_error, device_error, disconnected, io_error).",
		}, []string{"result"}),
		serialRTT: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "plate_resort_agent_serial_round_trip_seconds",
			Help: "Round trip of one serial transaction attempt (write to end of reply or deadline).",
			// 57600 baud: a read is about 3-5 ms on the wire plus the
			// adapter latency (1 ms tuned, 16 ms FTDI default).
			Buckets: []float64{0.001, 0.002, 0.004, 0.006, 0.008, 0.012, 0.016, 0.025, 0.05, 0.1, 0.25},
		}),
		healthStamp: ops.NewStamp(),
	}
}

// finished records one reply (called from service.finish).
func (m *metrics) finished(j *job, result any, e *contract.Error) {
	name := j.req.Command
	if !m.catalogHas(name) {
		name = "_unknown" // never a label value a caller chose
	}
	outcome := "ok"
	if e != nil {
		outcome = string(e.Code)
	}
	m.commandCounter(name, outcome).Inc()
	if name == contract.EmergencyStop {
		m.estops.Inc()
	}
	if !j.started.IsZero() && !j.refused {
		m.duration.WithLabelValues(name).Observe(time.Since(j.started).Seconds())
	}
	if r, ok := result.(contract.MoveResult); ok && r.Reason != "" {
		m.moveError.Observe(math.Abs(r.FinalError))
	}
}

// serialObserve is the driver's bus observer.
func (m *metrics) serialObserve(d time.Duration, result string) {
	m.serial.WithLabelValues(result).Inc()
	m.serialRTT.Observe(d.Seconds())
}

// agentSources are what the scrape-time collector reads.
type agentSources struct {
	resort   *resort.Resort
	busy     func() (*job, int)
	inbox    func() int
	live     *live
	health   *healthReader
	mqttUp   func() bool
	journal  func() int // -1 before the journal is open
	counters func() contract.Counters
	// eventsDropped: events not published (outbox half full) and not
	// stored (writer queue full or write failed), events.go.
	eventsDropped func() (unpublished, unstored uint64)
}

var (
	descQueue     = prometheus.NewDesc("plate_resort_agent_queue_depth", "Commands waiting: motion = the motion queue (queue_size), inbox = received, not yet dispatched.", []string{"queue"}, nil)
	descRunning   = prometheus.NewDesc("plate_resort_agent_command_running", "1 while a motion or configuration command runs.", nil, nil)
	descTemp      = prometheus.NewDesc("plate_resort_servo_temperature_celsius", "Servo Present Temperature at the last health read.", nil, nil)
	descVolt      = prometheus.NewDesc("plate_resort_servo_voltage_volts", "Servo Present Input Voltage at the last health read.", nil, nil)
	descCurrent   = prometheus.NewDesc("plate_resort_servo_current_amperes", "Servo Present Current at the last health read.", nil, nil)
	descHWError   = prometheus.NewDesc("plate_resort_servo_hardware_error", "Servo Hardware Error Status bits at the last health read (0: none).", nil, nil)
	descPos       = prometheus.NewDesc("plate_resort_servo_position_degrees", "Carousel angle last read from the servo, degrees.", nil, nil)
	descLink      = prometheus.NewDesc("plate_resort_agent_serial_connected", "1 while the servo answers on the serial link.", nil, nil)
	descMQTT      = prometheus.NewDesc("plate_resort_agent_mqtt_connected", "1 while the agent's MQTT session is up and subscribed.", nil, nil)
	descEStop     = prometheus.NewDesc("plate_resort_agent_estop_latched", "1 while an emergency stop is latched (motion refused until reset).", nil, nil)
	descJournal   = prometheus.NewDesc("plate_resort_agent_dedupe_journal_ids", "Command ids in the durable dedupe journal.", nil, nil)
	descDropped   = prometheus.NewDesc("plate_resort_agent_commands_refused_busy_total", "Commands answered queue_full at once because the inbox was full or a reply could not be queued.", nil, nil)
	descEvents    = prometheus.NewDesc("plate_resort_agent_events_dropped_total", "Events of <base>/event dropped rather than delay a command: where=publish (outbox half full), where=store (disk writer behind or a write failed).", []string{"where"}, nil)
	descReconnect = prometheus.NewDesc("plate_resort_agent_serial_reopens_total", "Serial port reopens since the port was opened by connect.", nil, nil)
)

// agentCollector reads the agent's state at scrape time.
type agentCollector struct{ s agentSources }

func (c agentCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descQueue, descRunning, descTemp, descVolt, descCurrent, descHWError, descPos, descLink, descMQTT, descEStop, descJournal, descDropped, descEvents, descReconnect} {
		ch <- d
	}
}

func (c agentCollector) Collect(ch chan<- prometheus.Metric) {
	gauge := func(d *prometheus.Desc, v float64, lv ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, lv...)
	}
	running, queued := c.s.busy()
	gauge(descQueue, float64(queued), "motion")
	gauge(descQueue, float64(c.s.inbox()), "inbox")
	gauge(descRunning, b2f(running != nil))
	gauge(descLink, b2f(c.s.resort.Connected()))
	gauge(descMQTT, b2f(c.s.mqttUp()))
	gauge(descEStop, b2f(c.s.resort.EStopped()))
	if n := c.s.journal(); n >= 0 {
		gauge(descJournal, float64(n))
	}
	ch <- prometheus.MustNewConstMetric(descDropped, prometheus.CounterValue, float64(c.s.counters().Dropped))
	if c.s.eventsDropped != nil {
		pub, st := c.s.eventsDropped()
		ch <- prometheus.MustNewConstMetric(descEvents, prometheus.CounterValue, float64(pub), "publish")
		ch <- prometheus.MustNewConstMetric(descEvents, prometheus.CounterValue, float64(st), "store")
	}
	ch <- prometheus.MustNewConstMetric(descReconnect, prometheus.CounterValue, float64(c.s.resort.Link().Stats.Reconnects))
	if pos, _ := c.s.live.read(); pos != nil && c.s.resort.Connected() {
		gauge(descPos, float64(*pos))
	}
	// Servo values only while they are current: a gauge frozen at its
	// last value after the link went down would hide the outage.
	if h := c.s.health.lastReport(); h != nil && c.s.resort.Connected() && h.TemperatureC != nil {
		gauge(descTemp, *h.TemperatureC)
		if h.VoltageV != nil {
			gauge(descVolt, *h.VoltageV)
		}
		if h.CurrentMA != nil {
			gauge(descCurrent, *h.CurrentMA/1000)
		}
		if h.HardwareError != nil {
			gauge(descHWError, float64(h.HardwareError.Raw))
		}
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// register adds every agent metric to reg.
func (m *metrics) register(reg interface{ MustRegister(...prometheus.Collector) }, src agentSources) {
	reg.MustRegister(m.commands, m.duration, m.moveError, m.estops, m.serial, m.serialRTT, agentCollector{src})
}

// Liveness: a loop is stuck when it stops making progress it must make.
//   - dispatch: a received command waits in the inbox longer than
//     dispatchStall (the dispatch loop only parses and routes, in
//     microseconds; reads run on their own goroutines, motion in the
//     executor).
//   - health: the health loop has not completed a round in 3 health
//     intervals plus its own bounds (2 s read + 5 s publish, health.go and
//     publisher.go), with a margin.
const dispatchStall = 30 * time.Second

func (a *Agent) registerChecks(srv *ops.Server) {
	healthLimit := 3*a.cfg.HealthInterval + 30*time.Second
	srv.Live("health_loop", ops.Stall("health loop", healthLimit, a.metrics.healthStamp.Get))
	srv.Live("dispatch", func() error {
		if at, ok := a.svc.inbox.oldest(); ok {
			if age := time.Since(at); age > dispatchStall {
				return errors.New("dispatch loop stalled: a command has waited " + age.Round(time.Second).String() + " in the inbox (limit " + dispatchStall.String() + ")")
			}
		}
		return nil
	})
	srv.Ready("serial", func() error {
		if a.resort.Connected() {
			return nil
		}
		l := a.resort.Link()
		if a.resort.Opened() {
			return errors.New("serial link down: " + l.Port + " is not answering; reconnecting")
		}
		return errors.New("servo not connected (" + l.Port + ")")
	})
	srv.Ready("mqtt", func() error {
		if a.sess.up.Load() {
			return nil
		}
		return errors.New("MQTT session down: not connected to " + a.cfg.MQTT.Redacted())
	})
}
