package agent

import (
	"errors"
	"fmt"
	"github.com/plate-resort/plate-resort/contract"
	"strings"
	"time"

	"github.com/plate-resort/plate-resort/driver/resort"
	"github.com/plate-resort/plate-resort/internal/logging"
	"github.com/plate-resort/plate-resort/internal/mqttconn"
	"github.com/plate-resort/plate-resort/internal/ops"
)

// Config is everything in configs/agent.yaml.
type Config struct {
	Device string          `koanf:"device"` // device id, part of every topic
	Prefix string          `koanf:"prefix"` // topic prefix
	MQTT   mqttconn.Config `koanf:"mqtt"`
	Resort resort.Config   `koanf:"resort"`
	// AllowedPorts are the serial ports a remote connect command may name;
	// resort.device is always allowed. A caller can never make the agent
	// open any other path.
	AllowedPorts []string `koanf:"allowed_ports"`
	// ConnectOnStart opens the servo at start (and keeps retrying in the
	// background until it answers).
	ConnectOnStart bool `koanf:"connect_on_start"`
	// QueueSize bounds waiting motion commands; more get queue_full.
	QueueSize int `koanf:"queue_size"`
	// DedupeWindow is how long a command id is remembered.
	DedupeWindow time.Duration `koanf:"dedupe_window"`
	// DedupeSize is the most ids remembered at once. Ids leave by age only
	// (after dedupe_window); at this cap new ids are refused (queue_full),
	// never an old one forgotten early.
	DedupeSize int `koanf:"dedupe_size"`
	// JournalFile is the durable dedupe journal; empty: a file per device
	// and broker under the state directory (Config.JournalPath).
	JournalFile string `koanf:"journal_path"`
	// EventsFile is the on-disk event ring get_events reads; empty: next to
	// the journal (Config.EventsPath). EventsSize bounds it (oldest dropped).
	EventsFile string `koanf:"events_path"`
	EventsSize int    `koanf:"events_size"`
	// HealthInterval is how often health is read and published.
	HealthInterval time.Duration `koanf:"health_interval"`
	// StateInterval is how often an idle carousel's position is re-read.
	StateInterval time.Duration `koanf:"state_interval"`
	// MovingStateInterval is the state publish period while moving (≥ 5 Hz).
	MovingStateInterval time.Duration `koanf:"moving_state_interval"`
	// ReconnectInterval is the first delay between serial reopen attempts.
	ReconnectInterval time.Duration `koanf:"reconnect_interval"`
	// HomeAssistant discovery.
	HomeAssistant HAConfig        `koanf:"homeassistant"`
	Log           logging.Options `koanf:"log"`
	// HTTP is the /health, /ready and /metrics endpoint (internal/ops);
	// empty address: off.
	HTTP ops.Config `koanf:"http"`
}

// HAConfig configures Home Assistant MQTT discovery.
type HAConfig struct {
	Enabled bool   `koanf:"enabled"`
	Prefix  string `koanf:"prefix"`
}

// Defaults returns the configuration of configs/agent.yaml.
func Defaults() Config {
	return Config{
		Device: "resort-1", Prefix: "plate-resort",
		MQTT:           mqttconn.Config{URL: mqttconn.DefaultURL, KeepAlive: 30 * time.Second, ConnectTimeout: mqttconn.DefaultConnectTimeout, SessionExpiry: 10 * time.Minute},
		Resort:         resort.Defaults(),
		AllowedPorts:   []string{},
		ConnectOnStart: true,
		QueueSize:      8, DedupeWindow: 10 * time.Minute, DedupeSize: 100_000,
		EventsSize:     10_000,
		HealthInterval: 10 * time.Second, StateInterval: 2 * time.Second, MovingStateInterval: 100 * time.Millisecond,
		ReconnectInterval: time.Second,
		HomeAssistant:     HAConfig{Enabled: true, Prefix: "homeassistant"},
		Log:               logging.Options{Level: "info", Format: "auto"},
	}
}

// Validate refuses every invalid value, naming its key.
func (c Config) Validate() error {
	var errs []error
	bad := func(key, format string, a ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, a...)))
	}
	if err := contract.ValidDeviceID(c.Device); err != nil {
		bad("device", "%v (it is part of topics and Home Assistant ids)", err)
	}
	if err := contract.ValidPrefix(c.Prefix); err != nil {
		bad("prefix", "%v", err)
	}
	c.MQTT.Check(bad)
	if err := c.Resort.Validate(); err != nil {
		errs = append(errs, err)
	}
	for _, p := range c.AllowedPorts {
		if !strings.HasPrefix(p, "/") {
			bad("allowed_ports", "%q must be an absolute path", p)
		}
	}
	if c.QueueSize < 1 || c.QueueSize > 1000 {
		bad("queue_size", "%d is outside 1..1000", c.QueueSize)
	}
	if c.DedupeWindow < time.Second || c.DedupeWindow > 24*time.Hour {
		bad("dedupe_window", "%s is outside 1s..24h", c.DedupeWindow)
	}
	if c.DedupeSize < 16 || c.DedupeSize > 1_000_000 {
		bad("dedupe_size", "%d is outside 16..1000000", c.DedupeSize)
	}
	if c.EventsSize < 10 || c.EventsSize > 1_000_000 {
		bad("events_size", "%d is outside 10..1000000", c.EventsSize)
	}
	if c.HealthInterval < 100*time.Millisecond || c.HealthInterval > time.Hour {
		bad("health_interval", "%s is outside 100ms..1h", c.HealthInterval)
	}
	if c.StateInterval < 100*time.Millisecond || c.StateInterval > time.Hour {
		bad("state_interval", "%s is outside 100ms..1h", c.StateInterval)
	}
	if c.MovingStateInterval < 10*time.Millisecond || c.MovingStateInterval > 200*time.Millisecond {
		bad("moving_state_interval", "%s is outside 10ms..200ms (state must be published at 5 Hz or more while moving)", c.MovingStateInterval)
	}
	if c.ReconnectInterval < 10*time.Millisecond || c.ReconnectInterval > time.Minute {
		bad("reconnect_interval", "%s is outside 10ms..1m", c.ReconnectInterval)
	}
	for _, h := range c.Resort.Hotels {
		if err := contract.ValidHotel(h); err != nil {
			bad("resort.hotels", "%v", err)
		}
	}
	if c.HomeAssistant.Enabled {
		if err := contract.ValidPrefix(c.HomeAssistant.Prefix); err != nil {
			bad("homeassistant.prefix", "%v", err)
		}
	}
	c.HTTP.Check("http", bad)
	return errors.Join(errs...)
}

// Ports lists the serial ports connect may name.
func (c Config) Ports() []string {
	out := []string{c.Resort.Device}
	for _, p := range c.AllowedPorts {
		if p != c.Resort.Device {
			out = append(out, p)
		}
	}
	return out
}

// Topics are the device's topics.
func (c Config) Topics() contract.Topics { return contract.DeviceTopics(c.Prefix, c.Device) }

// ClientID is the MQTT client id.
func (c Config) ClientID() string {
	if c.MQTT.ClientID != "" {
		return c.MQTT.ClientID
	}
	return "plate-resort-agent-" + c.Device
}
