// Package config loads a process's configuration in three layers with koanf:
// defaults from the Go struct, then a YAML file, then PLATE_RESORT_*
// environment variables, then explicitly set command-line flags.
//
// Environment keys use "__" as the level separator so keys that contain "_"
// survive: PLATE_RESORT_MQTT__CLIENT_ID sets mqtt.client_id.
package config

import (
	"fmt"
	"os"
	"reflect"
	"strings"

	"github.com/go-viper/mapstructure/v2"
	"github.com/knadh/koanf/parsers/yaml"
	"github.com/knadh/koanf/providers/env/v2"
	"github.com/knadh/koanf/providers/file"
	"github.com/knadh/koanf/providers/posflag"
	"github.com/knadh/koanf/providers/structs"
	"github.com/knadh/koanf/v2"
	"github.com/spf13/pflag"
)

// EnvPrefix is the prefix of every environment override.
const EnvPrefix = "PLATE_RESORT_"

// MaxFileSize bounds a config file; anything larger is not a config file.
const MaxFileSize = 1 << 20

// Source says where the layers come from. Every field is optional.
type Source struct {
	// Path of a YAML file; empty means none.
	Path string
	// Environ replaces os.Environ (tests).
	Environ []string
	// Flags whose explicitly set values override everything else.
	Flags *pflag.FlagSet
}

// Load fills dst (a pointer to a struct with koanf tags, pre-filled with
// defaults) from src. Unknown keys in the file are refused so a typo never
// silently falls back to a default.
func Load(src Source, dst any) error {
	k := koanf.New(".")
	if err := k.Load(structs.Provider(dst, "koanf"), nil); err != nil {
		return fmt.Errorf("config defaults: %w", err)
	}
	known := map[string]bool{}
	open := map[string]bool{} // map-typed fields: any key below them is fine
	for key, v := range k.All() {
		known[key] = true
		if rv := reflect.ValueOf(v); rv.Kind() == reflect.Map {
			open[key] = true
			if rv.IsNil() || rv.Len() == 0 {
				// koanf cannot merge into a nil map (it panics); an empty
				// default map has nothing to keep anyway.
				k.Delete(key)
			}
		}
	}
	if src.Path != "" {
		st, err := os.Stat(src.Path)
		if err != nil {
			return fmt.Errorf("config file: %w", err)
		}
		if st.Size() > MaxFileSize {
			return fmt.Errorf("config file %s: %d bytes is more than the %d allowed", src.Path, st.Size(), MaxFileSize)
		}
		fk := koanf.New(".")
		if err := fk.Load(file.Provider(src.Path), yaml.Parser()); err != nil {
			return fmt.Errorf("config file %s: %w", src.Path, err)
		}
		if err := checkKnown(fk.Keys(), known, open, "config file "+src.Path); err != nil {
			return err
		}
		if err := k.Merge(fk); err != nil {
			return fmt.Errorf("config file %s: %w", src.Path, err)
		}
	}
	environ := src.Environ
	if environ == nil {
		environ = os.Environ()
	}
	ek := koanf.New(".")
	if err := ek.Load(env.Provider(".", env.Opt{
		Prefix: EnvPrefix,
		TransformFunc: func(key, v string) (string, any) {
			return strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(key, EnvPrefix)), "__", "."), v
		},
		EnvironFunc: func() []string { return configVars(environ) },
	}), nil); err != nil {
		return fmt.Errorf("environment: %w", err)
	}
	if err := checkKnown(ek.Keys(), known, open, "environment ("+EnvPrefix+"*)"); err != nil {
		return err
	}
	if err := k.Merge(ek); err != nil {
		return fmt.Errorf("environment: %w", err)
	}
	if src.Flags != nil {
		if err := k.Load(posflag.Provider(src.Flags, ".", k), nil); err != nil {
			return fmt.Errorf("flags: %w", err)
		}
	}
	err := k.UnmarshalWithConf("", dst, koanf.UnmarshalConf{
		Tag: "koanf",
		DecoderConfig: &mapstructure.DecoderConfig{
			DecodeHook: mapstructure.ComposeDecodeHookFunc(
				mapstructure.StringToTimeDurationHookFunc(),
				mapstructure.StringToSliceHookFunc(","),
			),
			Metadata:         nil,
			ErrorUnused:      false,
			WeaklyTypedInput: true,
			Result:           dst,
			TagName:          "koanf",
		},
	})
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	return nil
}

// checkKnown refuses keys that no field declares. A key below a map-typed
// field (for example users.<name>.role) is accepted; the struct decoder
// checks it further.
func checkKnown(keys []string, known, open map[string]bool, where string) error {
	var bad []string
	for _, key := range keys {
		if known[key] || underOpen(key, open) {
			continue
		}
		bad = append(bad, key)
	}
	if len(bad) > 0 {
		return fmt.Errorf("%s: unknown key(s) %s", where, strings.Join(bad, ", "))
	}
	return nil
}

func underOpen(key string, open map[string]bool) bool {
	parts := strings.Split(key, ".")
	for i := len(parts) - 1; i > 0; i-- {
		if open[strings.Join(parts[:i], ".")] {
			return true
		}
	}
	return false
}

// configVars drops PLATE_RESORT_* variables that are switches for the test
// suite, not configuration (PLATE_RESORT_REQUIRE_E2E, PLATE_RESORT_TEST_*),
// so CI can export them without every process refusing them as unknown keys.
func configVars(environ []string) []string {
	out := make([]string, 0, len(environ))
	for _, kv := range environ {
		if strings.HasPrefix(kv, EnvPrefix+"REQUIRE_E2E=") || strings.HasPrefix(kv, EnvPrefix+"TEST_") {
			continue
		}
		out = append(out, kv)
	}
	return out
}
