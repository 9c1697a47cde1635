// Package ops is the operations endpoint of every plate-resort process: one
// small HTTP server with /metrics (Prometheus exposition through
// client_golang's promhttp, over a private registry), /health (liveness) and
// /ready (readiness).
//
// Liveness and readiness follow the split Kubernetes and systemd users know
// (https://kubernetes.io/docs/concepts/configuration/liveness-readiness-startup-probes/):
// /health fails only when the process is stuck and a restart would help
// (a loop that stopped making progress); /ready fails while a dependency it
// needs is away (broker, serial link, Prefect), which a restart does not fix.
package ops

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Config is the `http` section of the agent's and the bridge's config.
type Config struct {
	// Address is host:port of the HTTP endpoint; empty turns it off.
	Address string `koanf:"address"`
	// Metrics serves /metrics on it too (/health and /ready are always
	// served when the address is set).
	Metrics bool `koanf:"metrics"`
}

// Check validates c under key (e.g. "http"), reporting through bad as the
// configs' Validate functions do.
func (c Config) Check(key string, bad func(key, format string, a ...any)) {
	if c.Address == "" {
		if c.Metrics {
			bad(key+".metrics", "true, but %s.address is empty: set an address such as 127.0.0.1:9181 (or turn metrics off)", key)
		}
		return
	}
	if err := ValidateAddress(c.Address); err != nil {
		bad(key+".address", "%v", err)
	}
}

// ValidateAddress checks a listen address: host:port with a numeric port in
// 0..65535 (0 picks a free port) and a host that is empty, an IP address or
// a name without spaces.
func ValidateAddress(a string) error {
	host, port, err := net.SplitHostPort(a)
	if err != nil {
		return fmt.Errorf("%q is not host:port (for example 127.0.0.1:9181 or :9181): %v", a, err)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("%q: port %q is not a number in 0..65535", a, port)
	}
	for _, r := range host {
		if r <= ' ' || r == '/' || r == '@' {
			return fmt.Errorf("%q: host %q is not an IP address or host name", a, host)
		}
	}
	return nil
}

// CheckFunc reports nil when all is well, else what is wrong.
type CheckFunc func() error

type check struct {
	name string
	fn   CheckFunc
}

// Server is one process's operations endpoint. Parts register their
// collectors on Registry and their checks with Live and Ready before Start.
type Server struct {
	reg     *prometheus.Registry
	metrics bool

	mu    sync.Mutex
	live  []check
	ready []check
	names []string // of every metric registered through MustRegister

	// ln and srv are set by Start and read by Addr and Close, which may
	// run on other goroutines (up's banner asks each agent for its
	// address while the agents start): guarded by mu.
	ln  net.Listener
	srv *http.Server
}

// New builds a Server. Its registry always exists, so parts can register
// unconditionally; with metrics off nothing serves it. Go runtime and
// process collectors are the standard ones every Go exporter has
// (https://prometheus.io/docs/instrumenting/writing_clientlibs/#standard-and-runtime-collectors).
func New(metrics bool) *Server {
	reg := prometheus.NewRegistry()
	if metrics {
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	return &Server{reg: reg, metrics: metrics}
}

// Registry is where the process's parts register their metrics.
func (s *Server) Registry() *prometheus.Registry { return s.reg }

// MustRegister registers cs on the registry and remembers their metric
// names (MetricNames).
func (s *Server) MustRegister(cs ...prometheus.Collector) {
	s.reg.MustRegister(cs...)
	ch := make(chan *prometheus.Desc, 64)
	go func() {
		for _, c := range cs {
			c.Describe(ch)
		}
		close(ch)
	}()
	s.mu.Lock()
	defer s.mu.Unlock()
	for d := range ch {
		// Desc has no name accessor; its String is
		// `Desc{fqName: "name", help: ...}`.
		str := d.String()
		if _, rest, ok := strings.Cut(str, `fqName: "`); ok {
			if name, _, ok := strings.Cut(rest, `"`); ok {
				s.names = append(s.names, name)
			}
		}
	}
}

// MetricNames are the names of the metrics registered through
// MustRegister (for tests that hold dashboards and alert rules to the code).
func (s *Server) MetricNames() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.names...)
}

// MetricsOn says whether /metrics is served.
func (s *Server) MetricsOn() bool { return s.metrics }

// Live adds a liveness check (answered on /health).
func (s *Server) Live(name string, fn CheckFunc) {
	s.mu.Lock()
	s.live = append(s.live, check{name, fn})
	s.mu.Unlock()
}

// Ready adds a readiness check (answered on /ready).
func (s *Server) Ready(name string, fn CheckFunc) {
	s.mu.Lock()
	s.ready = append(s.ready, check{name, fn})
	s.mu.Unlock()
}

// Report is the JSON body of /health and /ready.
type Report struct {
	Status string `json:"status"` // "ok" or "fail"
	// Failing names the checks that failed, in registration order.
	Failing []string          `json:"failing,omitempty"`
	Checks  map[string]string `json:"checks"` // check -> "ok" or the reason it failed
}

// Evaluate runs checks and builds the report.
func evaluate(cs []check) Report {
	r := Report{Status: "ok", Checks: make(map[string]string, len(cs))}
	for _, c := range cs {
		if err := c.fn(); err != nil {
			r.Checks[c.name] = err.Error()
			r.Failing = append(r.Failing, c.name)
			r.Status = "fail"
			continue
		}
		r.Checks[c.name] = "ok"
	}
	return r
}

// Mount adds /health, /ready and (with metrics on) /metrics to mux: the
// broker mounts them on its existing health listener.
func (s *Server) Mount(mux *http.ServeMux) {
	mux.HandleFunc("/health", s.serveChecks(func() []check { return s.checks(&s.live) }))
	mux.HandleFunc("/ready", s.serveChecks(func() []check { return s.checks(&s.ready) }))
	if s.metrics {
		mux.Handle("/metrics", promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{
			// A collector that fails is reported on its own line, the
			// rest of the scrape still served.
			ErrorHandling: promhttp.ContinueOnError,
			Registry:      s.reg, // promhttp_metric_handler_errors_total
		}))
	}
}

// Handler is a mux with the endpoints of Mount.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	s.Mount(mux)
	return mux
}

func (s *Server) checks(list *[]check) []check {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]check(nil), (*list)...)
}

func (s *Server) serveChecks(list func() []check) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		rep := evaluate(list())
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		if rep.Status != "ok" {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		_ = json.NewEncoder(w).Encode(rep)
	}
}

// Start listens on addr and serves in the background.
func (s *Server) Start(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("http.address %s: %w", addr, err)
	}
	srv := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 5 * time.Second}
	s.mu.Lock()
	s.ln, s.srv = ln, srv
	s.mu.Unlock()
	go func() { _ = srv.Serve(ln) }()
	return nil
}

// Addr is the bound address ("" before Start), so port 0 can be used.
func (s *Server) Addr() string {
	s.mu.Lock()
	ln := s.ln
	s.mu.Unlock()
	if ln == nil {
		return ""
	}
	return ln.Addr().String()
}

// Close stops serving.
func (s *Server) Close() error {
	s.mu.Lock()
	srv := s.srv
	s.mu.Unlock()
	if srv == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// Stall is a liveness check: it fails when last (the time a loop last made
// progress) is older than limit. what names the loop in the reason.
func Stall(what string, limit time.Duration, last func() time.Time) CheckFunc {
	return func() error {
		t := last()
		if age := time.Since(t); age > limit {
			return fmt.Errorf("%s stalled: last progress %s ago (at %s), limit %s", what, age.Round(time.Second), t.UTC().Format(time.RFC3339), limit)
		}
		return nil
	}
}

// Stamp is a time a loop updates when it makes progress; safe for
// concurrent use.
type Stamp struct {
	mu sync.Mutex
	t  time.Time
}

// NewStamp starts at now: a loop that just started has not stalled yet.
func NewStamp() *Stamp { return &Stamp{t: time.Now()} }

// Touch records progress now.
func (s *Stamp) Touch() {
	s.mu.Lock()
	s.t = time.Now()
	s.mu.Unlock()
}

// Get is the last progress.
func (s *Stamp) Get() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.t
}
