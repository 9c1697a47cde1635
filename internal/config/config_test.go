package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

type sample struct {
	Name    string         `koanf:"name"`
	Every   time.Duration  `koanf:"every"`
	Nested  nested         `koanf:"nested"`
	Users   map[string]any `koanf:"users"`
	Hotels  []string       `koanf:"hotels"`
	Retries int            `koanf:"retries"`
}

type nested struct {
	BaudRate int `koanf:"baud_rate"`
}

func TestLayersInOrder(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "c.yaml")
	if err := os.WriteFile(p, []byte("name: file\nevery: 2s\nnested:\n  baud_rate: 9600\nusers:\n  alice: {role: viewer}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	fs := pflag.NewFlagSet("x", pflag.ContinueOnError)
	fs.Int("retries", 1, "")
	fs.String("name", "flagdefault", "")
	if err := fs.Parse([]string{"--retries", "5"}); err != nil {
		t.Fatal(err)
	}
	c := sample{Name: "default", Retries: 1}
	err := Load(Source{Path: p, Flags: fs, Environ: []string{
		"PLATE_RESORT_NESTED__BAUD_RATE=57600", "PLATE_RESORT_HOTELS=A,B",
		"PLATE_RESORT_REQUIRE_E2E=1", "PLATE_RESORT_TEST_PREFECT=/x", "OTHER=1"}}, &c)
	if err != nil {
		t.Fatal(err)
	}
	// file < env < set flags; an unset flag's default does not override.
	if c.Name != "file" || c.Every != 2*time.Second || c.Nested.BaudRate != 57600 || c.Retries != 5 || len(c.Hotels) != 2 || c.Users["alice"] == nil {
		t.Fatalf("%+v", c)
	}
}

func TestRefusals(t *testing.T) {
	dir := t.TempDir()
	write := func(body string) string {
		p := filepath.Join(dir, "c.yaml")
		_ = os.WriteFile(p, []byte(body), 0o600)
		return p
	}
	cases := map[string]Source{
		"missing file":  {Path: filepath.Join(dir, "nope.yaml"), Environ: []string{}},
		"unknown key":   {Path: write("nmae: x\n"), Environ: []string{}},
		"unknown env":   {Environ: []string{"PLATE_RESORT_NMAE=x"}},
		"bad yaml":      {Path: write("name: [\n"), Environ: []string{}},
		"wrong type":    {Path: write("retries: lots\n"), Environ: []string{}},
		"bad duration":  {Path: write("every: soon\n"), Environ: []string{}},
		"nested as val": {Path: write("nested: 5\n"), Environ: []string{}},
	}
	for name, src := range cases {
		c := sample{}
		if err := Load(src, &c); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	c := sample{}
	err := Load(Source{Path: write(strings.Repeat("#", MaxFileSize+1)), Environ: []string{}}, &c)
	if err == nil || !strings.Contains(err.Error(), "bytes") {
		t.Errorf("oversized: %v", err)
	}
}

type withFlows struct {
	Flows map[string]flow `koanf:"flows"`
}

type flow struct {
	Retries    int           `koanf:"retries"`
	RetryDelay time.Duration `koanf:"retry_delay"`
}

// A map of structs takes any entry name with that struct's keys, from the
// file and from the environment, not only the entries the defaults hold;
// a typo inside an entry is still refused.
func TestMapOfStructsKeys(t *testing.T) {
	p := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(p, []byte("flows:\n  activate-hotel:\n    retries: 2\n    retry_delay: 5s\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := withFlows{Flows: map[string]flow{"get-motor-health": {Retries: 0}}}
	err := Load(Source{Path: p, Environ: []string{"PLATE_RESORT_FLOWS__GO_HOME__RETRIES=1"}}, &c)
	if err != nil {
		t.Fatal(err)
	}
	if c.Flows["activate-hotel"].Retries != 2 || c.Flows["activate-hotel"].RetryDelay != 5*time.Second || c.Flows["go_home"].Retries != 1 {
		t.Fatalf("%+v", c.Flows)
	}
	if _, ok := c.Flows["get-motor-health"]; !ok {
		t.Errorf("default entry lost: %+v", c.Flows)
	}
	if err := os.WriteFile(p, []byte("flows:\n  activate-hotel:\n    retires: 2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c = withFlows{}
	if err := Load(Source{Path: p, Environ: []string{}}, &c); err == nil || !strings.Contains(err.Error(), "flows.activate-hotel.retires") {
		t.Fatalf("typo inside a map entry: got %v", err)
	}
	if err := Load(Source{Environ: []string{"PLATE_RESORT_FLOWS__X__NOPE=1"}}, &c); err == nil || !strings.Contains(err.Error(), "flows.x.nope") {
		t.Fatalf("unknown env key inside a map entry: got %v", err)
	}
}
