package main

import (
	"context"
	"fmt"
	"os"

	"github.com/spf13/pflag"

	"github.com/plate-resort/plate-resort/agent"
)

func init() {
	register("agent", "run the edge agent: MQTT commands in, servo moves, state/health out", runAgent)
}

func runAgent(ctx context.Context, args []string) error {
	def := agent.Defaults()
	fs := pflag.NewFlagSet("agent", pflag.ContinueOnError)
	path := fs.StringP("config", "c", "", "YAML config file (example: configs/agent.yaml)")
	fs.String("device", def.Device, "device id, part of every topic")
	fs.String("prefix", def.Prefix, "topic prefix")
	fs.String("mqtt.url", def.MQTT.URL, "broker URL: mqtt://host:1883, tls://host:8883, ws://host:9001")
	fs.StringSlice("mqtt.urls", nil, "brokers to fail over between, tried in order (replaces --mqtt.url)")
	fs.String("mqtt.username", "", "broker user name")
	fs.String("resort.device", def.Resort.Device, "serial port of the servo (prefer /dev/serial/by-id/...)")
	fs.Int("resort.baudrate", def.Resort.Baudrate, "baud rate")
	fs.String("log.level", def.Log.Level, "trace, debug, info, warn or error")
	fs.String("log.format", def.Log.Format, "auto, json or console")
	fs.Usage = func() {
		fmt.Fprintf(os.Stderr, "usage: plate-resort agent [-c configs/agent.yaml] [flags]\n\nEnvironment: PLATE_RESORT_<KEY> with __ between levels, e.g. PLATE_RESORT_MQTT__PASSWORD.\n\n")
		fs.PrintDefaults()
	}
	cfg := def
	log, err := loadConfig(fs, args, path, &cfg, &cfg.Log)
	if err != nil {
		return err
	}
	a, err := agent.New(cfg, log, agent.Options{})
	if err != nil {
		return err
	}
	return a.Run(ctx)
}
