package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/plate-resort/plate-resort/agent"
	"github.com/plate-resort/plate-resort/driver/sim"
	"github.com/plate-resort/plate-resort/driver/xseries"
)

// maxUpDevices bounds `up --devices`: each device is a pty, an MQTT
// client and an agent's goroutines, and a typo of 10000 should not take
// the machine down.
const maxUpDevices = 500

// upDevice is one simulated carousel of `up`: a simulated servo on its own
// pseudo-terminal and an agent.Agent built by agent.New from the same
// config as `plate-resort agent`, with its own MQTT client, journal, event
// ring and HTTP endpoint. Sharing the process changes nothing the agent
// does; it only saves a process per device.
type upDevice struct {
	id     string
	link   string
	pty    *sim.PTY
	agent  *agent.Agent
	cfg    agent.Config
	done   chan error
	cancel context.CancelFunc
}

// trailingNumber is the "-1" of resort-1.
var trailingNumber = regexp.MustCompile(`-[0-9]+$`)

// upDeviceIDs names n devices after the configured agent.device: the
// device itself when n is 1 (what `up` always did), else the id without
// a trailing "-<number>" plus -1..-n (resort-1 → resort-1..resort-n).
func upDeviceIDs(device string, n int) []string {
	if n == 1 {
		return []string{device}
	}
	base := trailingNumber.ReplaceAllString(device, "")
	ids := make([]string, n)
	for i := range ids {
		ids[i] = base + "-" + strconv.Itoa(i+1)
	}
	return ids
}

// agentHTTPAddrs gives each of n agents its own health/metrics address: the
// configured one for the first, then the next free-of-conflict ports
// (skipping the ports `up` gives the broker and the bridge), so every
// agent can be scraped at a fixed address. Port 0 stays 0 (each picks
// one; the banner shows it), an empty address stays off.
func agentHTTPAddrs(base string, n int, taken ...string) ([]string, error) {
	out := make([]string, n)
	if base == "" {
		return out, nil
	}
	host, p, err := net.SplitHostPort(base)
	if err != nil {
		return nil, fmt.Errorf("agent.http.address %q: %w", base, err)
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		return nil, fmt.Errorf("agent.http.address %q: bad port", base)
	}
	skip := map[int]bool{}
	for _, a := range taken {
		if _, tp, err := net.SplitHostPort(a); err == nil {
			if v, err := strconv.Atoi(tp); err == nil && v != 0 {
				skip[v] = true
			}
		}
	}
	for i := range out {
		if port != 0 {
			for i > 0 && skip[port] {
				port++
			}
			if port > 65535 {
				return nil, fmt.Errorf("agent.http.address %q: not enough ports for %d agents", base, n)
			}
		}
		out[i] = net.JoinHostPort(host, strconv.Itoa(port))
		if port != 0 {
			port++
		}
	}
	return out, nil
}

// startDevices starts n simulated carousels against the broker at addr.
// On error the ones already started are stopped.
func startDevices(ctx context.Context, cfg upConfig, n int, addr, dir string, log zerolog.Logger) ([]*upDevice, error) {
	if n < 1 || n > maxUpDevices {
		return nil, fmt.Errorf("devices: %d is outside 1..%d", n, maxUpDevices)
	}
	ids := upDeviceIDs(cfg.Agent.Device, n)
	https, err := agentHTTPAddrs(cfg.Agent.HTTP.Address, n, cfg.Broker.Listeners.Health.Address, cfg.Bridge.HTTP.Address, cfg.Broker.Listeners.WebSocket.Address)
	if err != nil {
		return nil, err
	}
	db := xseries.Degrees(cfg.Sim.Deadband)
	if db == 0 {
		db = -1
	}
	var devs []*upDevice
	fail := func(err error) ([]*upDevice, error) {
		stopDevices(devs)
		return nil, err
	}
	for i, id := range ids {
		d := &upDevice{id: id, link: cfg.Sim.Link, done: make(chan error, 1)}
		switch {
		case d.link == "":
			d.link = filepath.Join(dir, "servo")
			if n > 1 {
				d.link = filepath.Join(dir, id)
			}
		case n > 1:
			d.link += "-" + id
		}
		// Each carousel its own servo and pty, as `plate-resort sim` would
		// give it; an idle simulator costs no CPU (driver/sim, Serve).
		servo := sim.New(sim.Config{Baud: cfg.Sim.Baud, Deadband: db, InitialPosition: xseries.Degrees(cfg.Sim.Position), Seed: time.Now().UnixNano() + int64(i)})
		pty, err := sim.ListenPTY(context.WithoutCancel(ctx), servo, d.link)
		if err != nil {
			return fail(fmt.Errorf("simulated servo for %s: %w", id, err))
		}
		d.pty = pty
		devs = append(devs, d)

		acfg := cfg.Agent
		acfg.Device = id
		acfg.MQTT.URL = "mqtt://" + addr
		acfg.Resort.Device = d.link
		acfg.HTTP.Address = https[i]
		if n > 1 && acfg.JournalFile != "" {
			acfg.JournalFile = suffixed(acfg.JournalFile, id)
		}
		if n > 1 && acfg.EventsFile != "" {
			acfg.EventsFile = suffixed(acfg.EventsFile, id)
		}
		if n > 1 && acfg.MQTT.ClientID != "" {
			acfg.MQTT.ClientID += "-" + id
		}
		d.cfg = acfg
		a, err := agent.New(acfg, log.With().Str("part", "agent").Logger(), agent.Options{})
		if err != nil {
			return fail(fmt.Errorf("agent %s: %w", id, err))
		}
		d.agent = a
		actx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		d.cancel = cancel
		go func() { d.done <- a.Run(actx) }()
	}
	return devs, nil
}

// suffixed puts -id before the extension: a.journal → a-resort-2.journal,
// so agents never share a file (agent.Config.JournalPath).
func suffixed(path, id string) string {
	ext := filepath.Ext(path)
	return strings.TrimSuffix(path, ext) + "-" + id + ext
}

// stopDevices stops every agent, then every simulator, and returns the
// first agent error other than cancellation.
func stopDevices(devs []*upDevice) error {
	for _, d := range devs {
		if d.cancel != nil {
			d.cancel()
		}
	}
	var first error
	for _, d := range devs {
		if d.cancel != nil {
			if err := <-d.done; err != nil && !errors.Is(err, context.Canceled) && first == nil {
				first = fmt.Errorf("agent %s: %w", d.id, err)
			}
		}
		if d.pty != nil {
			d.pty.Close()
		}
	}
	return first
}

// anyDone returns the first agent to end by itself, as its index and error.
func anyDone(ctx context.Context, devs []*upDevice) (int, error) {
	type res struct {
		i   int
		err error
	}
	out := make(chan res, len(devs))
	stop := make(chan struct{})
	defer close(stop)
	for i, d := range devs {
		go func() {
			select {
			case err := <-d.done:
				d.done <- err // keep it for stopDevices
				out <- res{i, err}
			case <-stop:
			}
		}()
	}
	select {
	case <-ctx.Done():
		return -1, nil
	case r := <-out:
		return r.i, r.err
	}
}

// devicesNote is the banner's list of devices.
func devicesNote(devs []*upDevice) string {
	if len(devs) == 1 {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Devices (%d, one agent and simulated servo each):\n", len(devs))
	for _, d := range devs {
		fmt.Fprintf(&b, "  %-12s servo %s", d.id, d.link)
		a := d.agent.HTTPAddr()
		if a == "" {
			a = d.cfg.HTTP.Address // not listening yet
		}
		if a != "" {
			fmt.Fprintf(&b, "  http://%s/health", a)
		}
		b.WriteString("\n")
	}
	return b.String()
}
