package main

import (
	"context"
	"fmt"
	"os"

	"github.com/spf13/pflag"

	"github.com/plate-resort/plate-resort/bridge"
	"github.com/plate-resort/plate-resort/internal/config"
	"github.com/plate-resort/plate-resort/internal/logging"
)

func init() {
	register("bridge", "run the Prefect worker that turns flow runs into MQTT commands", runBridge)
}

func runBridge(ctx context.Context, args []string) error {
	def := bridge.Defaults()
	fs := pflag.NewFlagSet("bridge", pflag.ContinueOnError)
	path := fs.StringP("config", "c", "", "YAML config file (example: configs/bridge.yaml)")
	fs.String("prefect.api_url", def.Prefect.APIURL, "Prefect API URL (default: $PREFECT_API_URL)")
	fs.String("work_pool", def.WorkPool, "work pool the bridge registers and serves")
	fs.String("worker_name", def.WorkerName, "worker name shown in Prefect; a restarted bridge with the same name recovers its runs")
	fs.String("mqtt.url", def.MQTT.URL, "MQTT broker URL (mqtt://, tls://, ws://, wss://)")
	fs.StringSlice("mqtt.urls", nil, "brokers to fail over between, tried in order (replaces --mqtt.url)")
	fs.String("prefix", def.Prefix, "MQTT topic prefix")
	fs.StringSlice("devices", def.Devices, "device ids to serve (an allow-list; empty: every device found on the broker); the first gets the upstream deployment names")
	fs.String("log.level", def.Log.Level, "trace, debug, info, warn or error")
	fs.String("log.format", def.Log.Format, "auto, json or console")
	fs.Usage = func() {
		fmt.Fprintf(os.Stderr, "usage: plate-resort bridge [-c file] [flags]\n\n"+
			"Prefect credentials come from PREFECT_API_URL, PREFECT_API_KEY and PREFECT_API_AUTH_STRING\n"+
			"(or prefect.* in the file; never pass secrets as flags). Other settings: PLATE_RESORT_<KEY>\n"+
			"with __ between levels, e.g. PLATE_RESORT_MQTT__PASSWORD.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q; the config file goes after -c", fs.Arg(0))
	}
	cfg := def
	if err := config.Load(config.Source{Path: *path, Flags: fs}, &cfg); err != nil {
		return err
	}
	cfg.WithPrefectEnv(os.Environ())
	log, err := logging.New(cfg.Log, os.Stderr)
	if err != nil {
		return err
	}
	b, err := bridge.New(cfg, log)
	if err != nil {
		return err
	}
	return b.Run(ctx)
}
