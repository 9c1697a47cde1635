package bridge

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/plate-resort/plate-resort/bridge/prefect"
	"github.com/plate-resort/plate-resort/contract"
	"github.com/plate-resort/plate-resort/internal/logging"
	"github.com/plate-resort/plate-resort/internal/mqttconn"
	"github.com/plate-resort/plate-resort/internal/ops"
)

// Config is everything in configs/bridge.yaml.
type Config struct {
	Prefect PrefectConfig `koanf:"prefect"`
	// WorkPool is the bridge's own pool (docs/prefect.md §1: a dedicated pool, so no Python
	// worker ever picks up these runs and vice versa).
	WorkPool string `koanf:"work_pool"`
	// WorkerName shows in the Prefect UI and marks the runs this bridge owns
	// (infrastructure_pid "<worker_name>/<command id>"); a restarted bridge
	// with the same name recovers them. Two bridges on one pool need
	// different names.
	WorkerName string `koanf:"worker_name"`
	// MQTT is the broker connection, shared with the agent's config;
	// accept_offline_commands is refused (see Validate) and session_expiry
	// unused: the bridge always starts a clean session.
	MQTT mqttconn.Config `koanf:"mqtt"`
	// Prefix is the topic prefix; topics are <prefix>/<device>/...
	Prefix string `koanf:"prefix"`
	// Devices are the carousels to serve, an allow-list: other devices
	// found on the broker are ignored. Empty: every device found from its
	// retained info or availability is served (discovery, README "A fleet").
	Devices []string `koanf:"devices"`
	// PrimaryDevice gets the upstream deployment names
	// (activate-hotel/activate-hotel, ...), every other device
	// <flow>/<device>. Default: the first of devices, else resort-1 (the
	// agent's default id).
	PrimaryDevice string `koanf:"primary_device"`
	// MaxDevices bounds how many devices discovery serves.
	MaxDevices int `koanf:"max_devices"`
	// Hotels and MaxSpeed shape the parameter schemas when a device's
	// retained info (its own command catalogue) is not available.
	Hotels   []string `koanf:"hotels"`
	MaxSpeed int      `koanf:"max_speed"`
	// Deployments holds per-flow settings, keyed by flow name
	// (e.g. get-motor-health); they apply to that flow on every device.
	Deployments map[string]DeploymentConfig `koanf:"deployments"`
	// PollInterval is the safety-net poll for scheduled runs and
	// cancellations (the events websocket wakes the bridge sooner).
	PollInterval time.Duration `koanf:"poll_interval"`
	// HeartbeatInterval keeps the worker ONLINE (docs/prefect.md §2).
	HeartbeatInterval time.Duration `koanf:"heartbeat_interval"`
	// Events turns the events websocket on: it wakes the poll, and runs of
	// the default queue are claimed on their event (eventclaim.go).
	Events         bool           `koanf:"events"`
	CommandTimeout TimeoutsConfig `koanf:"command_timeout"`
	// RunTimeout bounds a run from claim to final state; past it the run is
	// Crashed, so no run stays Running forever.
	RunTimeout time.Duration `koanf:"run_timeout"`
	// AvailabilityWait is how long a run waits for a device's retained
	// availability when the bridge has not seen it yet.
	AvailabilityWait time.Duration `koanf:"availability_wait"`
	// RecoverWindow: a run left Running by a previous bridge life is re-sent
	// with the same command id only if it started less than this long ago
	// (keep it below the agent's dedupe_window, default 10m, so the agent
	// still remembers the id and never runs it twice); older ones are Crashed.
	RecoverWindow time.Duration   `koanf:"recover_window"`
	Log           logging.Options `koanf:"log"`
	// HTTP is the /health, /ready and /metrics endpoint (internal/ops);
	// empty address: off.
	HTTP ops.Config `koanf:"http"`
	// StallAfter: /health turns 503 once the last successful poll or
	// heartbeat is older than this; 0 means 30 poll intervals (at least 3
	// heartbeat intervals), as Prefect's worker healthcheck (metrics.go).
	StallAfter time.Duration `koanf:"stall_after"`
	// HomeAssistant discovery of the bridge's connectivity sensor.
	HomeAssistant HAConfig `koanf:"homeassistant"`
}

// HAConfig configures the bridge's Home Assistant MQTT discovery.
type HAConfig struct {
	Enabled bool   `koanf:"enabled"`
	Prefix  string `koanf:"prefix"`
}

// PrefectConfig says how to reach the Prefect API. The defaults come from the
// variables Prefect users already set: PREFECT_API_URL, PREFECT_API_KEY and
// PREFECT_API_AUTH_STRING. Key and auth string are never logged.
type PrefectConfig struct {
	APIURL     string `koanf:"api_url"`
	APIKey     string `koanf:"api_key"`
	AuthString string `koanf:"auth_string"`
}

// TimeoutsConfig bounds the wait for the agent's reply, per command kind.
// The MQTT message expiry is the same value, so a command the agent did not
// receive in time is never executed late.
type TimeoutsConfig struct {
	Motion  time.Duration `koanf:"motion"`
	Read    time.Duration `koanf:"read"`
	Control time.Duration `koanf:"control"`
}

// DeploymentConfig are the settings of one flow's deployments.
type DeploymentConfig struct {
	// Retries > 0 lets Prefect retry a Failed run (AwaitingRetry, docs/prefect.md §5); the
	// bridge runs the retry itself. Crashed and Cancelled are never retried.
	Retries    int              `koanf:"retries"`
	RetryDelay time.Duration    `koanf:"retry_delay"`
	Schedules  []ScheduleConfig `koanf:"schedules"`
	// Paused registers the deployment paused (no scheduled runs).
	Paused bool `koanf:"paused"`
}

// ScheduleConfig is one deployment schedule: set interval or cron.
type ScheduleConfig struct {
	Interval time.Duration `koanf:"interval"`
	Cron     string        `koanf:"cron"`
	Timezone string        `koanf:"timezone"`
}

// DefaultMaxDevices is max_devices in configs/bridge.yaml.
const DefaultMaxDevices = 256

// primary is the device that keeps the upstream deployment names.
func (c Config) primary() string {
	switch {
	case c.PrimaryDevice != "":
		return c.PrimaryDevice
	case len(c.Devices) > 0:
		return c.Devices[0]
	}
	return "resort-1"
}

// DefaultWorkPool is the pool name of configs/bridge.yaml.
const DefaultWorkPool = "plate-resort-pool"

// Defaults returns the configuration of configs/bridge.yaml, with the Prefect
// connection taken from PREFECT_API_URL, PREFECT_API_KEY and
// PREFECT_API_AUTH_STRING.
func Defaults() Config {
	pc := prefect.FromEnv()
	host, _ := os.Hostname()
	return Config{
		Prefect:    PrefectConfig{APIURL: pc.APIURL, APIKey: pc.APIKey, AuthString: pc.AuthString},
		WorkPool:   DefaultWorkPool,
		WorkerName: defaultWorkerName(host),
		MQTT:       mqttconn.Config{URL: mqttconn.DefaultURL, KeepAlive: 30 * time.Second, ConnectTimeout: mqttconn.DefaultConnectTimeout},
		Prefix:     contract.DefaultPrefix,
		Devices:    []string{"resort-1"},
		MaxDevices: DefaultMaxDevices,
		Hotels:     []string{"A", "B", "C", "D"},
		MaxSpeed:   1023,
		Deployments: map[string]DeploymentConfig{
			"get-motor-health": {Schedules: []ScheduleConfig{{Interval: 5 * time.Minute}}},
		},
		PollInterval:      5 * time.Second,
		HeartbeatInterval: 15 * time.Second,
		Events:            true,
		CommandTimeout:    TimeoutsConfig{Motion: 5 * time.Minute, Read: 15 * time.Second, Control: 15 * time.Second},
		RunTimeout:        30 * time.Minute,
		AvailabilityWait:  3 * time.Second,
		RecoverWindow:     9 * time.Minute,
		Log:               logging.Options{Level: "info", Format: "auto"},
		HomeAssistant:     HAConfig{Enabled: true, Prefix: contract.DefaultHAPrefix},
	}
}

// FlowKey is the flow name a deployments key names. Flow names use "-";
// an environment variable cannot, so PLATE_RESORT_DEPLOYMENTS__GO_HOME__RETRIES
// arrives as deployments.go_home and means go-home.
func FlowKey(k string) string { return strings.ReplaceAll(k, "_", "-") }

// normalize merges deployments keys written with "_" into their flow's
// entry, the "_" spelling's fields winning where set.
func (c *Config) normalize() {
	out := make(map[string]DeploymentConfig, len(c.Deployments))
	for k, v := range c.Deployments {
		if FlowKey(k) == k {
			out[k] = v
		}
	}
	for k, v := range c.Deployments {
		if f := FlowKey(k); f != k {
			d := out[f]
			if v.Retries != 0 {
				d.Retries = v.Retries
			}
			if v.RetryDelay != 0 {
				d.RetryDelay = v.RetryDelay
			}
			if len(v.Schedules) > 0 {
				d.Schedules = v.Schedules
			}
			d.Paused = d.Paused || v.Paused
			out[f] = d
		}
	}
	c.Deployments = out
}

// WithPrefectEnv fills what the configuration left empty of the Prefect
// connection from PREFECT_API_URL, PREFECT_API_KEY and
// PREFECT_API_AUTH_STRING in environ. The defaults come from them already,
// but an example file's explicit `api_url: ""` would otherwise beat the
// environment: empty in a file means "not set here", never "no Prefect".
func (c *Config) WithPrefectEnv(environ []string) {
	pc := prefect.ConfigFromEnviron(environ)
	if c.Prefect.APIURL == "" {
		c.Prefect.APIURL = pc.APIURL
	}
	if c.Prefect.APIKey == "" {
		c.Prefect.APIKey = pc.APIKey
	}
	if c.Prefect.AuthString == "" {
		c.Prefect.AuthString = pc.AuthString
	}
}

// defaultWorkerName is "plate-resort-bridge-<host>", cleaned of the
// characters Prefect's client refuses in worker names (docs/prefect.md §2).
func defaultWorkerName(host string) string {
	var b strings.Builder
	for _, r := range host {
		if isNameRune(r) {
			b.WriteRune(r)
		}
	}
	h := b.String()
	if h == "" {
		return "plate-resort-bridge"
	}
	if len(h) > 40 {
		h = h[:40]
	}
	return "plate-resort-bridge-" + h
}

func isNameRune(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.'
}

// ClientID is the MQTT client id.
func (c Config) ClientID() string {
	if c.MQTT.ClientID != "" {
		return c.MQTT.ClientID
	}
	return c.WorkerName
}

// prefectConfig is the REST client configuration.
func (c Config) prefectConfig() prefect.Config {
	return prefect.Config{APIURL: c.Prefect.APIURL, APIKey: c.Prefect.APIKey, AuthString: c.Prefect.AuthString}
}

// String redacts the secrets, so a Config can be printed.
func (c Config) String() string {
	c.Prefect.APIKey = redact(c.Prefect.APIKey)
	c.Prefect.AuthString = redact(c.Prefect.AuthString)
	c.MQTT.Password = redact(c.MQTT.Password)
	type plain Config // no String method: avoids recursion
	return fmt.Sprintf("%+v", plain(c))
}

// GoString keeps %#v from printing the secrets.
func (c Config) GoString() string { return c.String() }

func redact(s string) string {
	if s == "" {
		return ""
	}
	return "[redacted]"
}
