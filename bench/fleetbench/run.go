package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eclipse/paho.golang/autopaho"
	"github.com/eclipse/paho.golang/paho"

	"github.com/plate-resort/plate-resort/bench/internal/stack"
	"github.com/plate-resort/plate-resort/contract"
	"github.com/plate-resort/plate-resort/driver/sim"
	"github.com/plate-resort/plate-resort/internal/benchstat"
)

const (
	prefix = contract.DefaultPrefix
	who    = "fleetbench"
)

type options struct {
	bin      string
	sizes    []int
	modes    []string // modeProcess, modeShared: measured in this order at each size
	requests int
	load     time.Duration
	baud     int
	progress io.Writer
}

// The two ways to run a fleet on one machine.
const (
	// modeProcess: one `plate-resort agent` process per device (as on a
	// Pi) and one broker process; the simulators are served from the
	// benchmark's process.
	modeProcess = "process"
	// modeShared: one `plate-resort up --devices N` process holding the
	// broker, the N agents (each built by agent.New from the same config
	// as `plate-resort agent`) and their N simulators; no bridge.
	modeShared = "shared"
)

// parseModes is -mode: process, shared or both.
func parseModes(s string) ([]string, error) {
	switch s {
	case modeProcess, modeShared:
		return []string{s}, nil
	case "both":
		return []string{modeProcess, modeShared}, nil
	}
	return nil, errors.New("-mode: want process, shared or both")
}

// row is one fleet size's figures in one mode.
type row struct {
	N            int
	Mode         string
	Seq          int           // sequential requests sent
	SeqErrors    int           // of them answered with an error (not timed)
	P50, P99     time.Duration // sequential round trip
	Ratio        float64       // P50 / the first size's P50
	Replies      int           // answered ok during the load
	Errors       int           // answered with an error during the load (serial timeouts of an overloaded machine)
	RepliesPerS  float64
	BrokerRSSKiB int64   // process mode
	AgentRSSKiB  int64   // process mode: mean over the agents
	FleetRSSKiB  int64   // peak of the fleet's processes' RSS summed: broker + agents, or the one `up` process
	AgentCPUms   float64 // process mode: agents' CPU per sequential get_position, ms
	FleetCPUms   float64 // the fleet's processes' CPU per sequential get_position, ms
	TotalCPU     float64 // cores busy during the load: the fleet's processes + this process
	LoadSecs     float64
}

func run(ctx context.Context, o options) ([]row, error) {
	if o.load <= 0 {
		o.load = 10 * time.Second
	}
	if _, err := os.Stat(o.bin); err != nil {
		return nil, fmt.Errorf("%s: %w (make build)", o.bin, err)
	}
	if len(o.modes) == 0 {
		o.modes = []string{modeProcess}
	}
	// Both modes at one size back to back, so they see the same machine.
	var rows []row
	first := map[string]time.Duration{}
	for _, n := range o.sizes {
		for _, mode := range o.modes {
			r, err := runSize(ctx, o, mode, n)
			if err != nil {
				return rows, fmt.Errorf("%d devices, %s: %w", n, mode, err)
			}
			if p, ok := first[mode]; ok && p > 0 {
				r.Ratio = float64(r.P50) / float64(p)
			} else {
				first[mode], r.Ratio = r.P50, 1
			}
			rows = append(rows, r)
		}
	}
	return rows, nil
}

func deviceID(i int) string { return "resort-" + strconv.Itoa(i+1) }

// fleet is n devices and their broker, in one of the two modes, and the
// MQTT 5 client, all up and answering get_position.
type fleet struct {
	n      int
	mode   string
	dir    string
	addr   string
	st     *stack.Stack
	broker *stack.Child   // process mode
	agents []*stack.Child // process mode
	up     *stack.Child   // shared mode: broker, agents and simulators
	c      *client
	stop   []func()
}

// procs are the fleet's processes: the broker and the agents, or `up`.
func (f *fleet) procs() []*stack.Child {
	if f.up != nil {
		return []*stack.Child{f.up}
	}
	return append([]*stack.Child{f.broker}, f.agents...)
}

func (f *fleet) close() {
	for i := len(f.stop) - 1; i >= 0; i-- {
		f.stop[i]()
	}
}

func (o options) logf(format string, a ...any) {
	if o.progress != nil {
		fmt.Fprintf(o.progress, "fleetbench: %s %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, a...))
	}
}

// startFleet starts a fleet of n devices in mode; ctx bounds the
// simulators' life.
func startFleet(ctx context.Context, o options, mode string, n int) (f *fleet, err error) {
	f = &fleet{n: n, mode: mode}
	defer func() {
		if err != nil {
			f.close()
		}
	}()
	if f.dir, err = os.MkdirTemp("", "fleetbench-"); err != nil {
		return f, err
	}
	f.stop = append(f.stop, func() { _ = os.RemoveAll(f.dir) })
	f.st = stack.New(f.dir, "fleetbench")
	f.stop = append(f.stop, f.st.StopAll)
	if f.addr, err = stack.FreeAddr(); err != nil {
		return f, err
	}
	if mode == modeShared {
		if f.up, err = startUp(ctx, o, f.st, f.dir, f.addr, n); err != nil {
			return f, err
		}
	} else {
		// The broker's default max_connections and rate limits suit a
		// lab; a hundred agents plus the client fit.
		if f.broker, err = f.st.StartBroker(ctx, o.bin, f.addr); err != nil {
			return f, err
		}
	}
	if f.c, err = newClient(ctx, f.addr, n); err != nil {
		return f, err
	}
	f.stop = append(f.stop, f.c.close)
	c := f.c
	if mode == modeProcess {
		f.agents = make([]*stack.Child, n)
		for i := range n {
			id := deviceID(i)
			servo := sim.New(sim.Config{Baud: o.baud, Seed: int64(i + 1)})
			link := filepath.Join(f.dir, id)
			p, err := sim.ListenPTY(ctx, servo, link)
			if err != nil {
				return f, err
			}
			f.stop = append(f.stop, func() { p.Close() })
			cmd := agentCmd(o.bin, id, f.addr, link, f.dir)
			if f.agents[i], err = f.st.Start("agent-"+id, cmd); err != nil {
				return f, err
			}
		}
	}
	o.logf("%d devices: waiting for them to come online", n)
	for i := range n {
		if err := c.waitOnline(ctx, deviceID(i), 60*time.Second); err != nil {
			f.st.DumpLogs(os.Stderr, 2000)
			return f, err
		}
	}
	// Warm up every device: online comes before connect_on_start has
	// found the servo (a busy machine starting a hundred agents takes a
	// while), so not_connected (or a first serial timeout) is retried for
	// a minute.
	for i := range n {
		deadline := time.Now().Add(time.Minute)
		for ok := 0; ok < 3; {
			_, err := c.getPosition(ctx, deviceID(i))
			switch {
			case err == nil:
				ok++
			case (strings.Contains(err.Error(), string(contract.CodeNotConnected)) || errors.As(err, new(replyError))) && time.Now().Before(deadline):
				if err := stack.Sleep(ctx, 200*time.Millisecond); err != nil {
					return f, err
				}
			default:
				return f, err
			}
		}
	}
	time.Sleep(500 * time.Millisecond)
	return f, nil
}

func runSize(ctx context.Context, o options, mode string, n int) (row, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	f, err := startFleet(ctx, o, mode, n)
	if err != nil {
		return row{}, err
	}
	defer f.close()
	c, agents, procs := f.c, f.agents, f.procs()
	progress := func(format string, a ...any) { o.logf("%s: "+format, append([]any{mode}, a...)...) }

	// 1. Sequential: the devices in turn, one request outstanding.
	cpu0, fleet0 := cpuOf(agents), cpuOf(procs)
	seq := max(o.requests, n)
	lat := make([]time.Duration, 0, seq)
	start := time.Now()
	var seqErrs int
	for k := range seq {
		d, err := c.getPosition(ctx, deviceID(k%n))
		var re replyError
		switch {
		case errors.As(err, &re):
			// A reply that is not ok (serial_error: the simulator answered
			// after the agent's serial timeout on a busy machine) is the
			// fleet's answer: counted, not timed.
			seqErrs++
			continue
		case err != nil:
			return row{}, err
		}
		lat = append(lat, d)
	}
	if seqErrs > seq/10 {
		return row{}, fmt.Errorf("%d of %d sequential get_position answered with an error", seqErrs, seq)
	}
	seqDur := time.Since(start)
	agentCPU, fleetCPU := cpuOf(agents)-cpu0, cpuOf(procs)-fleet0
	// The agents' background work (state re-read every 2 s, health every
	// 10 s) during the same time is part of the figure; it is small next
	// to the commands (README, "Fleet").
	r := row{N: n, Mode: mode, Seq: seq, SeqErrors: seqErrs, P50: benchstat.Percentile(lat, 50), P99: benchstat.Percentile(lat, 99)}
	if len(agents) > 0 {
		r.AgentCPUms = agentCPU.Seconds() * 1000 / float64(seq)
	}
	r.FleetCPUms = fleetCPU.Seconds() * 1000 / float64(seq)
	progress("%d devices: sequential p50 %.2f ms p99 %.2f ms over %s", n, ms(r.P50), ms(r.P99), seqDur.Round(time.Millisecond))

	// 2. Load: one request outstanding per device, all at once.
	total0 := cpuOf(procs) + selfCPU()
	var answered, failed atomic.Int64
	lctx, lcancel := context.WithTimeout(ctx, o.load)
	var wg sync.WaitGroup
	var loadErr atomic.Value
	lstart := time.Now()
	for i := range n {
		wg.Go(func() {
			for lctx.Err() == nil {
				if _, err := c.getPosition(lctx, deviceID(i)); err != nil {
					var re replyError
					if errors.As(err, &re) {
						failed.Add(1)
						continue
					}
					if lctx.Err() == nil {
						loadErr.Store(err)
					}
					return
				}
				answered.Add(1)
			}
		})
	}
	// RSS is sampled every second: each process's peak, and the peak of
	// their sum (what the fleet holds at once).
	peak := make([]int64, len(procs))
	var peakSum int64
	for lctx.Err() == nil {
		var sum int64
		for i, p := range procs {
			if v, err := benchstat.RSSKiB(p.Pid()); err == nil {
				peak[i] = max(peak[i], v)
				sum += v
			}
		}
		peakSum = max(peakSum, sum)
		select {
		case <-lctx.Done():
		case <-time.After(time.Second):
		}
	}
	wg.Wait()
	lcancel()
	ldur := time.Since(lstart)
	if v := loadErr.Load(); v != nil {
		return row{}, v.(error)
	}
	r.LoadSecs = ldur.Seconds()
	r.TotalCPU = (cpuOf(procs) + selfCPU() - total0).Seconds() / ldur.Seconds()
	r.Replies = int(answered.Load())
	r.Errors = int(failed.Load())
	r.RepliesPerS = float64(r.Replies) / ldur.Seconds()
	r.FleetRSSKiB = peakSum
	if mode == modeProcess {
		r.BrokerRSSKiB = peak[0]
		var sum int64
		for _, v := range peak[1:] {
			sum += v
		}
		r.AgentRSSKiB = sum / int64(n)
	}
	progress("%d devices: %.0f replies/s under load, %.2f cores", n, r.RepliesPerS, r.TotalCPU)
	return r, nil
}

// agentCmd is `plate-resort agent` for one device, with its own journal
// and event ring in dir, Home Assistant discovery and the HTTP endpoint
// off (not what is measured).
func agentCmd(bin, id, brokerAddr, link, dir string) *execCmd {
	return newExecCmd(bin, []string{"agent", "--prefix", prefix, "--device", id, "--mqtt.url", "mqtt://" + brokerAddr,
		"--resort.device", link, "--log.level", "warn", "--log.format", "json"},
		append(stack.BaseEnv(),
			"PLATE_RESORT_JOURNAL_PATH="+filepath.Join(dir, id+".journal"),
			"PLATE_RESORT_RESORT__LATENCY_MS=1",
			"PLATE_RESORT_HOMEASSISTANT__ENABLED=false"))
}

// startUp starts `plate-resort up --devices n` with the broker on addr
// and the agents configured as agentCmd's: journals in dir, Home
// Assistant discovery, every HTTP endpoint, the web panel and the bridge
// off (up starts the bridge only with a Prefect API URL, and BaseEnv
// drops PREFECT_API_URL).
func startUp(ctx context.Context, o options, st *stack.Stack, dir, addr string, n int) (*stack.Child, error) {
	cfg := filepath.Join(dir, "up.yaml")
	y := fmt.Sprintf(`broker:
  listeners:
    websocket: {address: "", panel: false}
    health: {address: "", metrics: false}
sim:
  link: %q
  baud: %d
agent:
  prefix: %s
  journal_path: %q
  http: {address: "", metrics: false}
  homeassistant: {enabled: false}
  resort: {latency_ms: 1}
bridge:
  prefect: {api_url: ""}
  http: {address: "", metrics: false}
`, filepath.Join(dir, "servo"), o.baud, prefix, filepath.Join(dir, "agent.journal"))
	if err := os.WriteFile(cfg, []byte(y), 0o600); err != nil {
		return nil, err
	}
	cmd := newExecCmd(o.bin, []string{"up", "-c", cfg, "--devices", strconv.Itoa(n),
		"--broker.listeners.tcp.address", addr, "--log.level", "warn", "--log.format", "json"}, stack.BaseEnv())
	c, err := st.Start("up", cmd)
	if err != nil {
		return nil, err
	}
	if err := stack.WaitListening(ctx, c, addr, 30*time.Second); err != nil {
		return c, fmt.Errorf("up: %w", err)
	}
	return c, nil
}

func mib(kib int64) string {
	if kib <= 0 {
		return ""
	}
	return fmt.Sprintf("%.1f MiB", float64(kib)/1024)
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }

// table renders rows as markdown, both modes of a size next to each
// other. Fleet RSS and fleet CPU are what the whole fleet costs: the
// broker plus the agent processes, or the one `up` process (which also
// holds the simulators; in process mode they run in the benchmark's
// process and are not counted).
func table(rows []row) string {
	var b strings.Builder
	b.WriteString("| devices | fleet | get_position p50 | p99 | p50 / 1 device | replies/s, all loaded | error replies: sequential / loaded | fleet RSS | per device | broker RSS | agent RSS (each) | fleet CPU per get_position | agent CPU per get_position | total CPU under load |\n")
	b.WriteString("| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	for _, r := range rows {
		fl, brk, agent, acpu := "1 process (`up`)", "", "", ""
		if r.Mode == modeProcess {
			fl = fmt.Sprintf("%d processes", r.N+1)
			brk, agent, acpu = mib(r.BrokerRSSKiB), mib(r.AgentRSSKiB), fmt.Sprintf("%.3f ms", r.AgentCPUms)
		}
		fmt.Fprintf(&b, "| %d | %s | %.2f ms | %.2f ms | %.2f× | %.0f | %d / %d | %s | %s | %s | %s | %.3f ms | %s | %.2f cores |\n",
			r.N, fl, ms(r.P50), ms(r.P99), r.Ratio, r.RepliesPerS, r.SeqErrors, r.Errors, mib(r.FleetRSSKiB), mib(r.FleetRSSKiB/int64(r.N)), brk, agent, r.FleetCPUms, acpu, r.TotalCPU)
	}
	return b.String()
}

// client is one MQTT 5 requester for every device: Response Topic per
// device under contract.Responses(prefix, who), Correlation Data per
// request.
type client struct {
	cm      *autopaho.ConnectionManager
	cancel  context.CancelFunc
	mu      sync.Mutex
	waiting map[string]chan []byte
	online  map[string]bool
	seq     atomic.Int64
}

func newClient(ctx context.Context, addr string, n int) (*client, error) {
	ctx, cancel := context.WithCancel(ctx)
	u, _ := url.Parse("mqtt://" + addr)
	c := &client{waiting: map[string]chan []byte{}, online: map[string]bool{}, cancel: cancel}
	ready := make(chan struct{})
	var once sync.Once
	cm, err := autopaho.NewConnection(ctx, autopaho.ClientConfig{
		ServerUrls: []*url.URL{u}, KeepAlive: 30, CleanStartOnInitialConnection: true,
		OnConnectionUp: func(cm *autopaho.ConnectionManager, _ *paho.Connack) {
			go func() {
				_, _ = cm.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{
					{Topic: contract.ResponsesFilter(prefix, who), QoS: 1}, {Topic: prefix + "/+/availability", QoS: 1}}})
				once.Do(func() { close(ready) })
			}()
		},
		ClientConfig: paho.ClientConfig{
			ClientID: "fleetbench-" + strconv.Itoa(os.Getpid()),
			OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(pr paho.PublishReceived) (bool, error) {
				p := pr.Packet
				c.mu.Lock()
				defer c.mu.Unlock()
				if p.Properties != nil && len(p.Properties.CorrelationData) > 0 {
					if ch, ok := c.waiting[string(p.Properties.CorrelationData)]; ok {
						ch <- p.Payload
						delete(c.waiting, string(p.Properties.CorrelationData))
					}
					return true, nil
				}
				if dev, ok := strings.CutSuffix(strings.TrimPrefix(p.Topic, prefix+"/"), "/availability"); ok {
					c.online[dev] = string(p.Payload) == contract.Online
				}
				return true, nil
			}},
		},
	})
	if err != nil {
		cancel()
		return nil, err
	}
	c.cm = cm
	select {
	case <-ready:
	case <-time.After(15 * time.Second):
		cancel()
		return nil, errors.New("bench client did not connect")
	}
	return c, nil
}

func (c *client) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = c.cm.Disconnect(ctx)
	c.cancel()
}

func (c *client) waitOnline(ctx context.Context, dev string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		c.mu.Lock()
		on := c.online[dev]
		c.mu.Unlock()
		if on {
			return nil
		}
		if err := stack.Sleep(ctx, 20*time.Millisecond); err != nil {
			return err
		}
	}
	return fmt.Errorf("%s not online after %s", dev, timeout)
}

// getPosition is one get_position round trip to dev; it fails on any
// reply but ok.
func (c *client) getPosition(ctx context.Context, dev string) (time.Duration, error) {
	id := strconv.FormatInt(c.seq.Add(1), 10)
	ch := make(chan []byte, 1)
	c.mu.Lock()
	c.waiting[id] = ch
	c.mu.Unlock()
	start := time.Now()
	_, err := c.cm.Publish(ctx, &paho.Publish{Topic: contract.DeviceTopics(prefix, dev).Command(contract.GetPosition), QoS: 0,
		Properties: &paho.PublishProperties{ResponseTopic: contract.ResponseTopic(prefix, who, dev), CorrelationData: []byte(id)}})
	if err != nil {
		return 0, err
	}
	t := time.NewTimer(10 * time.Second)
	defer t.Stop()
	select {
	case b := <-ch:
		d := time.Since(start)
		var r contract.Reply
		if err := json.Unmarshal(b, &r); err != nil {
			return 0, fmt.Errorf("%s: reply %s: %w", dev, contract.Snippet(b), err)
		}
		if r.Status != contract.StatusOK || r.Command != contract.GetPosition {
			return 0, replyError{fmt.Errorf("%s: get_position answered %s", dev, contract.Snippet(b))}
		}
		return d, nil
	case <-ctx.Done():
		c.forget(id)
		return 0, ctx.Err()
	case <-t.C:
		c.forget(id)
		return 0, fmt.Errorf("%s: no get_position reply in 10 s", dev)
	}
}

// replyError is a reply that came back but was not ok.
type replyError struct{ error }

func (c *client) forget(id string) {
	c.mu.Lock()
	delete(c.waiting, id)
	c.mu.Unlock()
}
