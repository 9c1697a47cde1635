package testenv

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Prometheus is a real Prometheus server (Debian's prometheus package)
// started for one test, scraping the given targets.
type Prometheus struct {
	URL string // http://127.0.0.1:port
	log *LockedBuffer
	t   testing.TB
}

// ScrapeJob is one scrape_configs entry: job name and host:port targets.
type ScrapeJob struct {
	Job     string
	Targets []string
}

// StartPrometheus runs prometheus on a free loopback port with its own
// TSDB in a temp dir, scraping jobs every interval, and stops it when the
// test ends. Config format:
// https://prometheus.io/docs/prometheus/latest/configuration/configuration/
func StartPrometheus(t testing.TB, interval time.Duration, jobs ...ScrapeJob) *Prometheus {
	t.Helper()
	bin := NeedBinary(t, "prometheus")
	dir := t.TempDir()
	var b strings.Builder
	fmt.Fprintf(&b, "global:\n  scrape_interval: %s\n  scrape_timeout: %s\n  evaluation_interval: %s\nscrape_configs:\n", interval, interval, interval)
	for _, j := range jobs {
		fmt.Fprintf(&b, "  - job_name: %q\n    static_configs:\n      - targets: [", j.Job)
		for i, tg := range j.Targets {
			if i > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "%q", tg)
		}
		b.WriteString("]\n")
	}
	conf := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(conf, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := "127.0.0.1:" + strconv.Itoa(FreePort(t))
	p := &Prometheus{URL: "http://" + addr, log: &LockedBuffer{}, t: t}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "--config.file="+conf, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--log.level=warn")
	cmd.Stdout, cmd.Stderr = p.log, p.log
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start prometheus: %v", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cancel()
		<-done
		if t.Failed() {
			t.Logf("prometheus log:\n%s", p.log.String())
		}
	})
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		select {
		case <-done:
			t.Fatalf("prometheus exited at start:\n%s", p.log.String())
		default:
		}
		if resp, err := http.Get(p.URL + "/-/ready"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("prometheus not ready after 30 s:\n%s", p.log.String())
		}
	}
	return p
}

// Target is one active target of /api/v1/targets.
type Target struct {
	Labels             map[string]string `json:"labels"`
	ScrapeURL          string            `json:"scrapeUrl"`
	Health             string            `json:"health"`
	LastError          string            `json:"lastError"`
	LastScrapeDuration float64           `json:"lastScrapeDuration"`
}

// Targets returns the active targets (HTTP API /api/v1/targets,
// https://prometheus.io/docs/prometheus/latest/querying/api/#targets).
func (p *Prometheus) Targets() ([]Target, error) {
	var out struct {
		Status string `json:"status"`
		Data   struct {
			Active []Target `json:"activeTargets"`
		} `json:"data"`
	}
	if err := p.get("/api/v1/targets", &out); err != nil {
		return nil, err
	}
	return out.Data.Active, nil
}

// Sample is one series of an instant vector.
type Sample struct {
	Metric map[string]string
	Value  float64
}

// Query runs an instant PromQL query (HTTP API /api/v1/query) and returns
// the vector's samples.
func (p *Prometheus) Query(q string) ([]Sample, error) {
	var out struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			ResultType string `json:"resultType"`
			Result     []struct {
				Metric map[string]string `json:"metric"`
				Value  [2]any            `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := p.get("/api/v1/query?query="+url.QueryEscape(q), &out); err != nil {
		return nil, err
	}
	if out.Status != "success" {
		return nil, fmt.Errorf("query %q: %s", q, out.Error)
	}
	var s []Sample
	for _, r := range out.Data.Result {
		str, _ := r.Value[1].(string)
		v, err := strconv.ParseFloat(str, 64)
		if err != nil {
			return nil, fmt.Errorf("query %q: value %v: %w", q, r.Value[1], err)
		}
		s = append(s, Sample{Metric: r.Metric, Value: v})
	}
	return s, nil
}

func (p *Prometheus) get(path string, v any) error {
	resp, err := http.Get(p.URL + path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return json.NewDecoder(resp.Body).Decode(v)
}
