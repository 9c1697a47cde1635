package bridge

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/plate-resort/plate-resort/contract"
	"github.com/plate-resort/plate-resort/internal/mqttconn"
)

// Validate refuses every invalid value, naming its key.
func (c Config) Validate() error {
	var errs []error
	bad := func(key, format string, a ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, a...)))
	}
	if c.Prefect.APIURL == "" {
		bad("prefect.api_url", "empty: set PREFECT_API_URL (e.g. http://127.0.0.1:4200/api) or prefect.api_url")
	} else if u, err := url.Parse(c.Prefect.APIURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		bad("prefect.api_url", "%q is not an http(s) URL such as http://127.0.0.1:4200/api", mqttconn.Redact(c.Prefect.APIURL))
	} else if u.User != nil {
		bad("prefect.api_url", "credentials in the URL are not supported; use prefect.auth_string (PREFECT_API_AUTH_STRING) or prefect.api_key")
	}
	if c.Prefect.AuthString != "" && !strings.Contains(c.Prefect.AuthString, ":") {
		bad("prefect.auth_string", "must be user:password, as PREFECT_API_AUTH_STRING")
	}
	if strings.ContainsAny(c.Prefect.APIKey+c.Prefect.AuthString, "\r\n") {
		bad("prefect", "api_key and auth_string must not contain line breaks")
	}
	if contract.ValidWorkerName(c.WorkPool) != nil {
		bad("work_pool", "%q must be 1-100 letters, digits, '.', '_' or '-', starting with a letter or digit", c.WorkPool)
	} else if strings.HasPrefix(strings.ToLower(c.WorkPool), "prefect") {
		bad("work_pool", "%q: names starting with \"prefect\" are reserved by Prefect", c.WorkPool)
	}
	if err := contract.ValidWorkerName(c.WorkerName); err != nil {
		bad("worker_name", "%v (Prefect refuses '/' and '%%')", err)
	}
	c.checkMQTT(bad)
	if err := contract.ValidPrefix(c.Prefix); err != nil {
		bad("prefix", "%v", err)
	}
	if len(c.Devices) > 64 {
		bad("devices", "at most 64 device ids (or none: serve every device found), have %d", len(c.Devices))
	}
	if c.MaxDevices < 1 || c.MaxDevices > 1000 {
		bad("max_devices", "%d is outside 1..1000", c.MaxDevices)
	} else if len(c.Devices) > c.MaxDevices {
		bad("max_devices", "%d is fewer than the %d devices listed", c.MaxDevices, len(c.Devices))
	}
	if c.PrimaryDevice != "" {
		if err := contract.ValidDeviceID(c.PrimaryDevice); err != nil {
			bad("primary_device", "%v", err)
		} else if len(c.Devices) > 0 && !slices.Contains(c.Devices, c.PrimaryDevice) {
			bad("primary_device", "%q is not in devices", c.PrimaryDevice)
		}
	}
	seen := map[string]bool{}
	for _, d := range c.Devices {
		if err := contract.ValidDeviceID(d); err != nil {
			bad("devices", "%v", err)
		} else if seen[d] {
			bad("devices", "%q is listed twice", d)
		}
		seen[d] = true
	}
	if len(c.Hotels) == 0 || len(c.Hotels) > 64 {
		bad("hotels", "need 1 to 64 hotel names, have %d", len(c.Hotels))
	}
	for _, h := range c.Hotels {
		if err := contract.ValidHotel(h); err != nil {
			bad("hotels", "%v", err)
		}
	}
	if c.MaxSpeed < 1 || c.MaxSpeed > 1023 {
		bad("max_speed", "%d is outside 1..1023", c.MaxSpeed)
	}
	names := make([]string, 0, len(c.Deployments))
	for n := range c.Deployments {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		d := c.Deployments[n]
		key := "deployments." + n
		if _, ok := flowDefByName(FlowKey(n)); !ok {
			bad(key, "unknown flow; known: %s", strings.Join(flowNames(), ", "))
			continue
		}
		if d.Retries < 0 || d.Retries > 10 {
			bad(key+".retries", "%d is outside 0..10", d.Retries)
		}
		if d.RetryDelay < 0 || d.RetryDelay > time.Hour {
			bad(key+".retry_delay", "%s is outside 0..1h", d.RetryDelay)
		}
		if len(d.Schedules) > 10 {
			bad(key+".schedules", "at most 10, have %d", len(d.Schedules))
		}
		for i, s := range d.Schedules {
			sk := fmt.Sprintf("%s.schedules[%d]", key, i)
			switch {
			case (s.Interval == 0) == (s.Cron == ""):
				bad(sk, "set exactly one of interval or cron")
			case s.Interval != 0 && (s.Interval < 10*time.Second || s.Interval > 366*24*time.Hour):
				bad(sk+".interval", "%s is outside 10s..366d", s.Interval)
			case s.Cron != "" && (len(strings.Fields(s.Cron)) < 5 || len(strings.Fields(s.Cron)) > 6 || len(s.Cron) > 200):
				bad(sk+".cron", "%q is not a 5-field cron expression such as \"0 6 * * *\"", s.Cron)
			}
			if s.Timezone != "" {
				if _, err := time.LoadLocation(s.Timezone); err != nil || len(s.Timezone) > 64 {
					bad(sk+".timezone", "%q is not an IANA time zone such as Europe/Paris", s.Timezone)
				}
			}
		}
	}
	between := func(key string, v, lo, hi time.Duration, why string) {
		if v < lo || v > hi {
			bad(key, "%s is outside %s..%s%s", v, lo, hi, why)
		}
	}
	between("poll_interval", c.PollInterval, 100*time.Millisecond, 10*time.Second, " (deployments show Not Ready when polled less than every 60 s)")
	between("heartbeat_interval", c.HeartbeatInterval, time.Second, 30*time.Second, " (the worker shows offline after 3 missed heartbeats)")
	between("command_timeout.motion", c.CommandTimeout.Motion, time.Second, time.Hour, "")
	between("command_timeout.read", c.CommandTimeout.Read, 100*time.Millisecond, 10*time.Minute, "")
	between("command_timeout.control", c.CommandTimeout.Control, 100*time.Millisecond, 10*time.Minute, "")
	between("run_timeout", c.RunTimeout, time.Second, 24*time.Hour, "")
	between("availability_wait", c.AvailabilityWait, 0, time.Minute, "")
	between("recover_window", c.RecoverWindow, 0, 24*time.Hour, "")
	c.HTTP.Check("http", bad)
	if c.StallAfter != 0 {
		between("stall_after", c.StallAfter, 2*max(c.PollInterval, c.HeartbeatInterval), 24*time.Hour, " (0: 30 poll intervals; at least 2 poll and heartbeat intervals)")
	}
	if c.HomeAssistant.Enabled {
		if err := contract.ValidPrefix(c.HomeAssistant.Prefix); err != nil {
			bad("homeassistant.prefix", "%v", err)
		}
	}
	if c.RunTimeout < c.CommandTimeout.Motion {
		bad("run_timeout", "%s is shorter than command_timeout.motion %s", c.RunTimeout, c.CommandTimeout.Motion)
	}
	return errors.Join(errs...)
}

func flowNames() []string {
	out := make([]string, len(flowDefs))
	for i, d := range flowDefs {
		out[i] = d.Flow
	}
	return out
}

// checkMQTT checks the mqtt section: the keys it shares with the agent, the
// client id (a level of the bridge's response topic), and the one setting
// the bridge cannot honour.
func (c Config) checkMQTT(bad func(key, format string, a ...any)) {
	// mqttconn's messages quote the URL as given; a password in it must
	// never reach an error.
	raw, safe := c.MQTT.URL, mqttconn.Redact(c.MQTT.URL)
	c.MQTT.Check(func(key, format string, a ...any) {
		msg := fmt.Sprintf(format, a...)
		if raw != safe {
			msg = strings.ReplaceAll(msg, fmt.Sprintf("%q", raw), fmt.Sprintf("%q", safe))
			msg = strings.ReplaceAll(msg, raw, safe)
		}
		bad(key, "%s", msg)
	})
	if id := c.ClientID(); contract.ValidWorkerName(id) != nil {
		bad("mqtt.client_id", "%q must be 1-100 letters, digits, '.', '_' or '-', starting with a letter or digit (it is part of the response topic)", id)
	}
	if c.MQTT.AcceptOfflineCommands {
		bad("mqtt.accept_offline_commands", "not supported by the bridge, which always starts a clean MQTT session: "+
			"replies queued while it was away match no waiting run, and unfinished runs are recovered from Prefect instead (set it on agents only)")
	}
}
