package bridge

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/plate-resort/plate-resort/contract"
	"github.com/plate-resort/plate-resort/internal/config"
)

func timeNow() time.Time { return time.Now() }

func validConfig() Config {
	c := Defaults()
	c.Prefect = PrefectConfig{APIURL: "http://127.0.0.1:4200/api"}
	c.WorkerName = "bridge-1"
	return c
}

func TestDefaultsValid(t *testing.T) {
	if err := validConfig().Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestValidateHostile(t *testing.T) {
	cases := map[string]func(*Config){
		"no api url":      func(c *Config) { c.Prefect.APIURL = "" },
		"api url scheme":  func(c *Config) { c.Prefect.APIURL = "ftp://x/api" },
		"api url creds":   func(c *Config) { c.Prefect.APIURL = "http://admin:pw@x/api" },
		"auth string":     func(c *Config) { c.Prefect.AuthString = "nocolon" },
		"newline in key":  func(c *Config) { c.Prefect.APIKey = "k\r\nX-Evil: 1" },
		"reserved pool":   func(c *Config) { c.WorkPool = "Prefect-pool" },
		"pool slash":      func(c *Config) { c.WorkPool = "a/b" },
		"worker percent":  func(c *Config) { c.WorkerName = "w%2f" },
		"worker empty":    func(c *Config) { c.WorkerName = "" },
		"mqtt scheme":     func(c *Config) { c.MQTT.URL = "http://x:1" },
		"mqtt no host":    func(c *Config) { c.MQTT.URL = "mqtt://" },
		"mqtt creds":      func(c *Config) { c.MQTT.URL = "http://admin:pw@x:1" },
		"mqtt offline":    func(c *Config) { c.MQTT.AcceptOfflineCommands = true },
		"client id wild":  func(c *Config) { c.MQTT.ClientID = "a/#" },
		"prefix wildcard": func(c *Config) { c.Prefix = "a/+/b" },
		"max devices":     func(c *Config) { c.MaxDevices = 0 },
		"fewer max":       func(c *Config) { c.Devices, c.MaxDevices = []string{"a", "b"}, 1 },
		"primary unknown": func(c *Config) { c.PrimaryDevice = "elsewhere" },
		"primary bad":     func(c *Config) { c.Devices, c.PrimaryDevice = nil, "_x" },
		"device wildcard": func(c *Config) { c.Devices = []string{"#"} },
		"device reserved": func(c *Config) { c.Devices = []string{"responses"} },
		"device system":   func(c *Config) { c.Devices = []string{"_fleet"} },
		"device dup":      func(c *Config) { c.Devices = []string{"a", "a"} },
		"hotel long":      func(c *Config) { c.Hotels = []string{strings.Repeat("H", 17)} },
		"no hotels":       func(c *Config) { c.Hotels = nil },
		"speed":           func(c *Config) { c.MaxSpeed = 5000 },
		"unknown flow":    func(c *Config) { c.Deployments = map[string]DeploymentConfig{"rm-rf": {}} },
		"retries":         func(c *Config) { c.Deployments = map[string]DeploymentConfig{"reboot": {Retries: -1}} },
		"retry delay":     func(c *Config) { c.Deployments = map[string]DeploymentConfig{"reboot": {RetryDelay: 48 * time.Hour}} },
		"schedule both": func(c *Config) {
			c.Deployments = map[string]DeploymentConfig{"reboot": {Schedules: []ScheduleConfig{{Interval: time.Hour, Cron: "* * * * *"}}}}
		},
		"schedule neither": func(c *Config) {
			c.Deployments = map[string]DeploymentConfig{"reboot": {Schedules: []ScheduleConfig{{}}}}
		},
		"schedule tiny": func(c *Config) {
			c.Deployments = map[string]DeploymentConfig{"reboot": {Schedules: []ScheduleConfig{{Interval: time.Second}}}}
		},
		"cron bad": func(c *Config) {
			c.Deployments = map[string]DeploymentConfig{"reboot": {Schedules: []ScheduleConfig{{Cron: "sometimes"}}}}
		},
		"timezone": func(c *Config) {
			c.Deployments = map[string]DeploymentConfig{"reboot": {Schedules: []ScheduleConfig{{Cron: "0 6 * * *", Timezone: "Mars/Base"}}}}
		},
		"poll slow":         func(c *Config) { c.PollInterval = time.Minute },
		"poll zero":         func(c *Config) { c.PollInterval = 0 },
		"heartbeat slow":    func(c *Config) { c.HeartbeatInterval = time.Minute },
		"timeout negative":  func(c *Config) { c.CommandTimeout.Read = -time.Second },
		"run < motion":      func(c *Config) { c.RunTimeout = time.Minute },
		"availability wait": func(c *Config) { c.AvailabilityWait = time.Hour },
	}
	for name, mut := range cases {
		t.Run(name, func(t *testing.T) {
			c := validConfig()
			mut(&c)
			err := c.Validate()
			if err == nil {
				t.Fatal("accepted")
			}
			for _, secret := range []string{"pw@", "X-Evil"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error leaks a secret: %v", err)
				}
			}
		})
	}
}

// Errors name their key, so the operator knows what to fix.
func TestValidateNamesTheKey(t *testing.T) {
	for key, mut := range map[string]func(*Config){
		"mqtt.accept_offline_commands: ": func(c *Config) { c.MQTT.AcceptOfflineCommands = true },
		"mqtt.url: ":                     func(c *Config) { c.MQTT.URL = "http://x:1" },
		"devices: ":                      func(c *Config) { c.Devices = []string{"a/b"} },
		"hotels: ":                       func(c *Config) { c.Hotels = []string{"A+"} },
		"prefix: ":                       func(c *Config) { c.Prefix = "a/#" },
		"work_pool: ":                    func(c *Config) { c.WorkPool = "prefect-x" },
		"worker_name: ":                  func(c *Config) { c.WorkerName = "a/b" },
	} {
		c := validConfig()
		mut(&c)
		if err := c.Validate(); err == nil || !strings.HasPrefix(err.Error(), key) {
			t.Errorf("want an error starting %q, got %v", key, err)
		}
	}
}

func TestConfigStringRedactsSecrets(t *testing.T) {
	c := validConfig()
	c.Prefect.APIKey, c.Prefect.AuthString, c.MQTT.Password = "pnu_SECRET1", "admin:SECRET2", "SECRET3"
	for _, s := range []string{c.String(), c.GoString()} {
		if strings.Contains(s, "SECRET") {
			t.Fatalf("secret printed: %s", s)
		}
	}
}

func TestExampleConfigLoads(t *testing.T) {
	_, file, _, _ := runtime.Caller(0)
	path := filepath.Join(filepath.Dir(file), "..", "configs", "bridge.yaml")
	c := Defaults()
	if err := config.Load(config.Source{Path: path, Environ: []string{"PLATE_RESORT_PREFECT__API_URL=http://127.0.0.1:4200/api"}}, &c); err != nil {
		t.Fatal(err)
	}
	c.WorkerName = "w"
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if got := c.Deployments["get-motor-health"].Schedules; len(got) != 1 || got[0].Interval != 5*time.Minute {
		t.Fatalf("health schedule %+v", got)
	}
}

// Per-deployment retries are configurable: the documented (commented)
// retries/retry_delay under a flow of configs/bridge.yaml, uncommented, load
// and validate; so does PLATE_RESORT_DEPLOYMENTS__GO_HOME__RETRIES, whose
// "_" spelling means the go-home flow.
func TestDeploymentRetriesConfigurable(t *testing.T) {
	_, file, _, _ := runtime.Caller(0)
	raw, err := os.ReadFile(filepath.Join(filepath.Dir(file), "..", "configs", "bridge.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	body := strings.NewReplacer("#   retries:", "    retries:", "#   retry_delay:", "    retry_delay:", "# activate-hotel:", "activate-hotel:").Replace(string(raw))
	path := filepath.Join(t.TempDir(), "bridge.yaml")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	c := Defaults()
	err = config.Load(config.Source{Path: path, Environ: []string{
		"PLATE_RESORT_PREFECT__API_URL=http://127.0.0.1:4200/api", "PLATE_RESORT_DEPLOYMENTS__GO_HOME__RETRIES=1"}}, &c)
	if err != nil {
		t.Fatal(err)
	}
	c.WorkerName = "w"
	c.normalize()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.Deployments["go-home"].Retries != 1 {
		t.Fatalf("go-home retries from the environment: %+v", c.Deployments)
	}
	if d := c.Deployments["activate-hotel"]; d.Retries == 0 {
		t.Fatalf("activate-hotel retries from the file: %+v (file:\n%s)", d, body)
	}
	if _, ok := c.Deployments["go_home"]; ok {
		t.Fatal("the _ spelling stayed a separate entry")
	}
}

// No devices list: serve every device found (discovery); the upstream
// names go to primary_device, else resort-1.
func TestConfigEmptyDevicesDiscoversAll(t *testing.T) {
	c := validConfig()
	c.Devices = nil
	if err := c.Validate(); err != nil {
		t.Fatalf("devices: [] refused: %v", err)
	}
	if p := c.primary(); p != "resort-1" {
		t.Fatalf("primary %q, want resort-1", p)
	}
	c.PrimaryDevice = "lab-a"
	if err := c.Validate(); err != nil || c.primary() != "lab-a" {
		t.Fatalf("primary_device lab-a: %v, %q", err, c.primary())
	}
	d := newDevices("plate-resort", nil, contract.Options{Hotels: []string{"A"}})
	if !d.handle("plate-resort/lab-b/availability", []byte("online"), time.Now()) || !d.handle("plate-resort/lab-b/state", []byte("{}"), time.Now()) {
		t.Fatal("a new device's topics were not taken")
	}
	if d.handle("plate-resort/lab-c/availability", []byte("offline"), time.Now()) {
		t.Fatal("a device known only by a retained offline was served")
	}
	if got := d.names(); len(got) != 1 || got[0] != "lab-b" {
		t.Fatalf("devices %v, want [lab-b]", got)
	}
	d.handle("plate-resort/lab-b/info", nil, time.Now())
	if st, _ := d.get("lab-b"); !st.Gone {
		t.Fatal("removing the retained info did not mark the device gone")
	}
}
