package main

import (
	"context"
	"fmt"
	"net"
	"os"

	"github.com/rs/zerolog"
	"github.com/spf13/pflag"

	"github.com/plate-resort/plate-resort/agent"
	"github.com/plate-resort/plate-resort/broker"
	"github.com/plate-resort/plate-resort/contract"
	"github.com/plate-resort/plate-resort/driver/sim"
	"github.com/plate-resort/plate-resort/internal/logging"
	"github.com/plate-resort/plate-resort/internal/ops"
)

func init() {
	register("up", "all-in-one dev setup: embedded broker + simulated servo + agent (+ bridge with a Prefect URL)", runUp)
}

// upConfig is configs/up.yaml: one section per part.
type upConfig struct {
	// Devices is how many simulated carousels to start (up_fleet.go).
	Devices int             `koanf:"devices"`
	Broker  broker.Config   `koanf:"broker"`
	Sim     simSection      `koanf:"sim"`
	Agent   agent.Config    `koanf:"agent"`
	Bridge  bridgeSection   `koanf:"bridge"`
	Log     logging.Options `koanf:"log"`
}

type simSection struct {
	Link     string  `koanf:"link"` // symlink to the pty; empty: a fresh temp dir
	Baud     int     `koanf:"baud"`
	Deadband float64 `koanf:"deadband"`
	Position float64 `koanf:"position"`
}

func upDefaults() upConfig {
	c := upConfig{Devices: 1, Broker: broker.DefaultConfig(), Agent: agent.Defaults(), Sim: simSection{Baud: 57600, Deadband: float64(sim.DefaultDeadband)}, Bridge: bridgeDefaults()}
	c.Log = logging.Options{Level: "info", Format: "auto"}
	// The web panel (package panel) on the WebSocket listener, loopback only.
	c.Broker.Listeners.WebSocket = broker.WebSocketConfig{Address: "127.0.0.1:9001", Panel: true}
	// Metrics and health on in the dev setup, on fixed loopback ports
	// (configs/up.yaml; configs/prometheus/prometheus.yml scrapes them).
	c.Broker.Listeners.Health = broker.HealthConfig{Address: "127.0.0.1:9180", Metrics: true}
	c.Agent.HTTP = ops.Config{Address: "127.0.0.1:9181", Metrics: true}
	c.Bridge.HTTP = ops.Config{Address: "127.0.0.1:9182", Metrics: true}
	return c
}

func runUp(ctx context.Context, args []string) error {
	def := upDefaults()
	fs := pflag.NewFlagSet("up", pflag.ContinueOnError)
	path := fs.StringP("config", "c", "", "YAML config file (example: configs/up.yaml)")
	fs.String("broker.listeners.tcp.address", def.Broker.Listeners.TCP.Address, "embedded broker address")
	fs.Int("devices", def.Devices, "simulated carousels, each with its own servo and agent (ids resort-1..resort-N)")
	fs.String("sim.link", "", "symlink to the simulated servo's pty (default: a temp dir)")
	fs.String("bridge.prefect.api_url", "", "Prefect API URL (e.g. http://127.0.0.1:4200/api); starts the bridge too (also PREFECT_API_URL)")
	fs.String("log.level", def.Log.Level, "trace, debug, info, warn or error")
	fs.String("log.format", def.Log.Format, "auto, json or console")
	fs.Usage = func() {
		fmt.Fprintf(os.Stderr, "usage: plate-resort up [-c configs/up.yaml] [flags]\n\n")
		fs.PrintDefaults()
	}
	cfg := def
	log, err := loadConfig(fs, args, path, &cfg, &cfg.Log)
	if err != nil {
		return err
	}
	cfg.Bridge.WithPrefectEnv(os.Environ())

	// Broker.
	b, err := broker.New(cfg.Broker, log.With().Str("part", "broker").Logger().Level(zerolog.WarnLevel))
	if err != nil {
		return err
	}
	if err := b.Start(); err != nil {
		return err
	}
	defer b.Close()
	addr := b.TCPAddr()

	// Simulated servos on pseudo-terminals, reached through the real
	// serial library like a U2D2 adapter, each with its own agent.
	dir, err := os.MkdirTemp("", "plate-resort-up-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	devs, err := startDevices(ctx, cfg, cfg.Devices, addr, dir, log)
	if err != nil {
		return err
	}
	acfg, p := devs[0].cfg, devs[0].pty
	link := devs[0].link

	// Bridge, when a Prefect API is configured: it serves every device.
	ids := make([]string, len(devs))
	for i, d := range devs {
		ids[i] = d.id
	}
	bridgeDone, bridgeCancel, err := startBridge(ctx, cfg.Bridge, "mqtt://"+addr, acfg, ids, log)
	if err != nil {
		stopDevices(devs)
		return err
	}

	host, port, _ := net.SplitHostPort(addr)
	t := acfg.Topics()
	mq := fmt.Sprintf("-h %s -p %s", host, port)
	fmt.Printf(`plate-resort is up: broker mqtt://%s, simulated servo on %s (%s)%s%s

Watch everything:
  mosquitto_sub %s -t '%s' -v
Turn to hotel B:
  mosquitto_pub %s -t %s -m B
Ask for the position (MQTT 5 request/response):
  mosquitto_rr %s -t %s -e %s -n -W 5
Emergency stop, then reset:
  mosquitto_pub %s -t %s -n ; mosquitto_pub %s -t %s -n
%s
%sCtrl-C stops everything.
`, addr, p.Path(), link, bridgeNote(cfg.Bridge), panelNote(cfg.Broker, b),
		mq, t.All(),
		mq, t.Command(contract.ActivateHotel),
		mq, t.Command(contract.GetPosition), contract.Responses(t.Prefix, "me")+"/"+t.Device,
		mq, t.Command(contract.EmergencyStop), mq, t.Command(contract.Reset), opsNote(b.HealthAddr(), cfg.Broker.Listeners.Health.Metrics, acfg.HTTP, cfg.Bridge), devicesNote(devs))

	var runErr error
	if i, err := anyDone(ctx, devs); i >= 0 && err != nil {
		runErr = fmt.Errorf("agent %s: %w", devs[i].id, err)
	}
	if bridgeCancel != nil {
		bridgeCancel()
		<-bridgeDone
	}
	if err := stopDevices(devs); err != nil && runErr == nil {
		runErr = err
	}
	return runErr
}

// panelNote is the banner line with the web panel's address, when it is on.
func panelNote(c broker.Config, b *broker.Broker) string {
	ws := c.Listeners.WebSocket
	if !ws.Panel || b.WebSocketAddr() == "" {
		return ""
	}
	scheme := "http"
	if ws.TLS {
		scheme = "https"
	}
	return fmt.Sprintf("\nWeb panel: %s://%s/ (leave the user name empty: anonymous is allowed from loopback)", scheme, b.WebSocketAddr())
}
