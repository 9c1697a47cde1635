package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/spf13/pflag"

	"github.com/plate-resort/plate-resort/broker"
)

func init() {
	register("broker", "run the embedded MQTT broker (TCP, TLS, WebSocket, health endpoint)", runBroker)
}

func runBroker(ctx context.Context, args []string) error {
	def := broker.DefaultConfig()
	fs := pflag.NewFlagSet("broker", pflag.ContinueOnError)
	path := fs.StringP("config", "c", "", "YAML config file (examples: configs/broker.yaml, configs/broker-production.yaml)")
	fs.String("listeners.tcp.address", def.Listeners.TCP.Address, "plain MQTT listener host:port (empty: off)")
	fs.String("listeners.tls.address", "", "MQTT over TLS listener host:port (empty: off)")
	fs.String("listeners.websocket.address", "", "MQTT over WebSocket listener host:port (empty: off)")
	fs.String("listeners.health.address", "", "HTTP health endpoint host:port, GET /healthz (empty: off)")
	fs.String("storage.path", "", "bolt file for retained messages and sessions (empty: memory only)")
	fs.String("log.level", def.Log.Level, "trace, debug, info, warn or error")
	fs.String("log.format", def.Log.Format, "auto, json or console")
	fs.Usage = func() {
		fmt.Fprintf(os.Stderr, "usage: plate-resort broker [-c file] [flags]\n\nEnvironment: PLATE_RESORT_<KEY> with __ between levels, e.g. PLATE_RESORT_STORAGE__PATH.\n\n")
		fs.PrintDefaults()
	}
	cfg := def
	log, err := loadConfig(fs, args, path, &cfg, &cfg.Log)
	if err != nil {
		return err
	}
	b, err := broker.New(cfg, log)
	if err != nil {
		return err
	}
	if err := b.Start(); err != nil {
		return err
	}
	<-ctx.Done()
	log.Info().Msg("broker stopping")
	if err := b.Close(); err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("close broker: %w", err)
	}
	return nil
}
