package mqttconn

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/plate-resort/plate-resort/internal/config"
)

func checkErrs(c Config) []string {
	var out []string
	c.Check(func(key, format string, a ...any) {
		out = append(out, key+": "+strings.TrimSpace(sprintf(format, a...)))
	})
	return out
}

func valid() Config {
	return Config{URL: DefaultURL, KeepAlive: 30 * time.Second, ConnectTimeout: DefaultConnectTimeout}
}

func TestURLsCheck(t *testing.T) {
	c := valid()
	c.URLs = []string{"mqtt://a:1883", "tcp://b:1883"}
	if errs := checkErrs(c); len(errs) != 0 {
		t.Fatalf("a list with url left at its default: %v", errs)
	}
	if got := c.Servers(); len(got) != 2 || got[0] != "mqtt://a:1883" || c.Primary() != "mqtt://a:1883" {
		t.Fatalf("Servers %v Primary %s", got, c.Primary())
	}
	c.URL = "mqtt://a:1883" // url repeating the first entry is fine
	if errs := checkErrs(c); len(errs) != 0 {
		t.Fatalf("url = urls[0]: %v", errs)
	}
	c.URL = "mqtt://elsewhere:1883"
	if errs := checkErrs(c); len(errs) != 1 || !strings.HasPrefix(errs[0], "mqtt.url: ") || !strings.Contains(errs[0], "remove mqtt.url") {
		t.Fatalf("url and urls both set: %v", errs)
	}
	// Every entry is checked like mqtt.url; a password in one never
	// reaches the message; the same broker twice is refused.
	c = valid()
	c.URLs = []string{"mqtt://a:1883", "http://user:s3cret@b", "mqtt://a:1883", "mqtt://u:s3cret@"}
	errs := checkErrs(c)
	joined := strings.Join(errs, "\n")
	if len(errs) != 3 || !strings.Contains(joined, "mqtt.urls[1]: ") || !strings.Contains(joined, "mqtt.urls[2]: ") ||
		!strings.Contains(joined, "same broker as mqtt.urls[0]") || !strings.Contains(joined, "mqtt.urls[3]: ") {
		t.Fatalf("bad list: %v", errs)
	}
	if strings.Contains(joined, "s3cret") {
		t.Fatalf("password in an error: %s", joined)
	}
	// Without urls nothing changed: url alone, checked as before.
	c = valid()
	c.URL = "mqtt://u:s3cret@"
	if errs := checkErrs(c); len(errs) != 1 || !strings.HasPrefix(errs[0], "mqtt.url: ") || strings.Contains(errs[0], "s3cret") {
		t.Fatalf("bad url: %v", errs)
	}
}

// TestURLsFromEnvAndFlags: the list comes from YAML, from
// PLATE_RESORT_MQTT__URLS (comma-separated) and from --mqtt.urls, in
// internal/config's order (flags last).
func TestURLsFromEnvAndFlags(t *testing.T) {
	type cfg struct {
		MQTT Config `koanf:"mqtt"`
	}
	c := cfg{MQTT: valid()}
	if err := config.Load(config.Source{Environ: []string{"PLATE_RESORT_MQTT__URLS=mqtt://a:1883,mqtt://b:1884"}}, &c); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(c.MQTT.Servers(), " "); got != "mqtt://a:1883 mqtt://b:1884" {
		t.Fatalf("env: %q", got)
	}
	fs := pflag.NewFlagSet("x", pflag.ContinueOnError)
	fs.String("mqtt.url", DefaultURL, "")
	fs.StringSlice("mqtt.urls", nil, "")
	if err := fs.Parse([]string{"--mqtt.urls", "mqtt://c:1883,mqtt://d:1883"}); err != nil {
		t.Fatal(err)
	}
	c = cfg{MQTT: valid()}
	if err := config.Load(config.Source{Flags: fs, Environ: []string{"PLATE_RESORT_MQTT__URLS=mqtt://a:1883,mqtt://b:1884"}}, &c); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(c.MQTT.Servers(), " "); got != "mqtt://c:1883 mqtt://d:1883" || c.MQTT.URL != DefaultURL {
		t.Fatalf("flag over env: %q (url %s)", got, c.MQTT.URL)
	}
	// An unset list flag leaves the default single URL alone.
	fs = pflag.NewFlagSet("x", pflag.ContinueOnError)
	fs.StringSlice("mqtt.urls", nil, "")
	_ = fs.Parse(nil)
	c = cfg{MQTT: valid()}
	if err := config.Load(config.Source{Flags: fs, Environ: []string{}}, &c); err != nil {
		t.Fatal(err)
	}
	if len(c.MQTT.URLs) != 0 || c.MQTT.Primary() != DefaultURL {
		t.Fatalf("unset flag: %v", c.MQTT.Servers())
	}
}

// TestServersTLS: one TLS config serves every broker; with different host
// names its ServerName is left empty, so each dial checks its own host.
func TestServersTLS(t *testing.T) {
	c := valid()
	c.URLs = []string{"tls://a.example:8883", "tls://a.example:8884"}
	_, tc, err := servers(c)
	if err != nil || tc == nil || tc.ServerName != "a.example" {
		t.Fatalf("same host: %v %+v", err, tc)
	}
	c.URLs = []string{"tls://a.example:8883", "wss://b.example:8884/"}
	urls, tc, err := servers(c)
	if err != nil || tc == nil || tc.ServerName != "" || len(urls) != 2 || urls[1].Scheme != "wss" {
		t.Fatalf("two hosts: %v %+v", err, tc)
	}
	c.URLs = []string{"mqtt://a:1883", "bogus://u:s3cret@b:1"}
	if _, _, err := servers(c); err == nil || !strings.Contains(err.Error(), "mqtt.urls[1]") || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("bad entry: %v", err)
	}
}

func sprintf(format string, a ...any) string { return fmt.Sprintf(format, a...) }
