package bridge

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/plate-resort/plate-resort/bridge/prefect"
	"github.com/plate-resort/plate-resort/internal/logging"
)

// Config is everything in configs/bridge.yaml.
type Config struct {
	Prefect PrefectConfig `koanf:"prefect"`
	// WorkPool is the bridge's own pool (§1: a dedicated pool, so no Python
	// worker ever picks up these runs and vice versa).
	WorkPool string `koanf:"work_pool"`
	// WorkerName shows in the Prefect UI and marks the runs this bridge owns
	// (infrastructure_pid "<worker_name>/<command id>"); a restarted bridge
	// with the same name recovers them. Two bridges on one pool need
	// different names.
	WorkerName string     `koanf:"worker_name"`
	MQTT       MQTTConfig `koanf:"mqtt"`
	// Prefix is the topic prefix; topics are <prefix>/<device>/...
	Prefix string `koanf:"prefix"`
	// Devices are the carousels; the first gets the upstream deployment
	// names, the others <flow>/<device>.
	Devices []string `koanf:"devices"`
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
	// HeartbeatInterval keeps the worker ONLINE (§2).
	HeartbeatInterval time.Duration `koanf:"heartbeat_interval"`
	// Events turns the events websocket wake-up on.
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
}

// PrefectConfig says how to reach the Prefect API. The defaults come from the
// variables Prefect users already set: PREFECT_API_URL, PREFECT_API_KEY and
// PREFECT_API_AUTH_STRING. Key and auth string are never logged.
type PrefectConfig struct {
	APIURL     string `koanf:"api_url"`
	APIKey     string `koanf:"api_key"`
	AuthString string `koanf:"auth_string"`
}

// MQTTConfig is the broker connection.
type MQTTConfig struct {
	URL      string `koanf:"url"`
	ClientID string `koanf:"client_id"`
	Username string `koanf:"username"`
	Password string `koanf:"password"`
	// CAFile for tls:// and wss:// URLs (system roots when empty).
	CAFile    string        `koanf:"ca_file"`
	KeepAlive time.Duration `koanf:"keepalive"`
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
	// Retries > 0 lets Prefect retry a Failed run (AwaitingRetry, §5); the
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
		MQTT:       MQTTConfig{URL: "mqtt://127.0.0.1:1883", KeepAlive: 30 * time.Second},
		Prefix:     "plate-resort",
		Devices:    []string{"resort-1"},
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
	}
}

// defaultWorkerName is "plate-resort-bridge-<host>", cleaned of the
// characters Prefect's client refuses in worker names (§2).
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
