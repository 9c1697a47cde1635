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
	"time"

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
	for key, v := range k.All() {
		if rv := reflect.ValueOf(v); rv.Kind() == reflect.Map && (rv.IsNil() || rv.Len() == 0) {
			// koanf cannot merge into a nil map (it panics); an empty
			// default map has nothing to keep anyway.
			k.Delete(key)
		}
	}
	// The keys a file or the environment may set come from the struct's
	// type, not from the defaults' values: a map of structs accepts any
	// entry name with that struct's keys (deployments.<flow>.retries), not
	// only the entries the defaults happen to hold.
	known, open := map[string]bool{}, map[string]bool{}
	keysOf(reflect.TypeOf(dst), "", known, open)
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
		if knownKey(key, known) || underOpen(key, open) {
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
		if knownKey(strings.Join(parts[:i], "."), open) {
			return true
		}
	}
	return false
}

// knownKey matches key against the set, where a "*" level of a set entry
// stands for any one level (a map entry's name).
func knownKey(key string, set map[string]bool) bool {
	if set[key] {
		return true
	}
	parts := strings.Split(key, ".")
	for pattern := range set {
		pp := strings.Split(pattern, ".")
		if len(pp) != len(parts) || !strings.Contains(pattern, "*") {
			continue
		}
		match := true
		for i := range pp {
			if pp[i] != "*" && pp[i] != parts[i] {
				match = false
				break
			}
		}
		if match {
			return true
		}
	}
	return false
}

// keysOf lists the keys of a koanf-tagged struct type: leaves in known,
// maps of scalars (any key below them is fine) in open. A map of structs
// contributes <map>.*.<field> patterns.
func keysOf(t reflect.Type, prefix string, known, open map[string]bool) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return
	}
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("koanf"), ",")
		if name == "" || name == "-" || !f.IsExported() {
			continue
		}
		path := prefix + name
		ft := f.Type
		for ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		switch {
		case ft.Kind() == reflect.Struct && ft != reflect.TypeOf(time.Time{}):
			keysOf(ft, path+".", known, open)
		case ft.Kind() == reflect.Map && structElem(ft.Elem()):
			known[path] = true
			keysOf(ft.Elem(), path+".*.", known, open)
		case ft.Kind() == reflect.Map:
			known[path] = true
			open[path] = true
		default:
			known[path] = true
		}
	}
}

func structElem(t reflect.Type) bool {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t.Kind() == reflect.Struct
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
