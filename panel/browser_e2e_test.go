package panel_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/rs/zerolog"
	"golang.org/x/crypto/bcrypt"

	"github.com/plate-resort/plate-resort/agent"
	"github.com/plate-resort/plate-resort/broker"
	"github.com/plate-resort/plate-resort/driver/sim"
	"github.com/plate-resort/plate-resort/driver/xseries"
	"github.com/plate-resort/plate-resort/internal/testenv"
	"github.com/plate-resort/plate-resort/internal/testenv/brokertest"
)

// hostile is a hotel name, a warning and a hotel in the state of a fake
// device: the panel must show it as text (no <img> element, no script run).
const hostile = `<img src=x onerror="window.__xss=1">`

var devices = []string{"resort-1", "resort-2", "resort-3"}

// servoLog records what one simulated servo was told, from its OnWrite hook.
type servoLog struct {
	mu         sync.Mutex
	torqueOff  []time.Time // Torque Enable written 0
	goalWrites int         // Goal Position writes
}

func (l *servoLog) hook(addr uint16, data []byte, at time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case addr == xseries.TorqueEnable.Addr && len(data) >= 1 && data[0] == 0:
		l.torqueOff = append(l.torqueOff, at)
	case addr == xseries.GoalPosition.Addr:
		l.goalWrites++
	}
}

func (l *servoLog) snapshot() (torqueOff []time.Time, goals int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.torqueOff), l.goalWrites
}

type stack struct {
	b     *broker.Broker
	url   string // http://127.0.0.1:port/ of the panel
	logs  map[string]*servoLog
	servo map[string]*sim.Servo
}

func hash(t *testing.T, pw string) string {
	// The same bcrypt hash `plate-resort passwd` prints, at the cheapest
	// cost so the test's logins are fast.
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

// startStack runs the embedded broker (TCP for the agents, WebSocket with
// the panel for the browser, users with roles, no anonymous access) and one
// agent with a simulated servo on a real pty per device.
func startStack(t *testing.T) *stack {
	t.Helper()
	if _, err := os.Stat("/dev/ptmx"); err != nil {
		t.Skip("no /dev/ptmx")
	}
	cfg := brokertest.Anonymous()
	cfg.Listeners.WebSocket = broker.WebSocketConfig{Address: "127.0.0.1:0", Panel: true}
	cfg.Anonymous.Enabled = false
	cfg.Users = map[string]broker.UserConfig{
		"op":     {Role: broker.RoleOperator, PasswordHash: hash(t, "op-pass")},
		"viewer": {Role: broker.RoleViewer, PasswordHash: hash(t, "viewer-pass")},
	}
	for _, d := range devices {
		cfg.Users["agent-"+d] = broker.UserConfig{Role: broker.RoleAgent, Devices: []string{d}, PasswordHash: hash(t, "agent-pass")}
	}
	b := brokertest.Start(t, cfg)
	s := &stack{b: b, url: "http://" + b.WebSocketAddr() + "/", logs: map[string]*servoLog{}, servo: map[string]*sim.Servo{}}
	for i, d := range devices {
		ctx, cancel := context.WithCancel(context.Background())
		servo := sim.New(sim.Config{Baud: 57600, InitialPosition: xseries.Degrees(19 + 90*i), Seed: int64(i + 1)})
		l := &servoLog{}
		servo.OnWrite(l.hook)
		link := filepath.Join(t.TempDir(), "servo")
		p, err := sim.ListenPTY(ctx, servo, link)
		if err != nil {
			t.Fatal(err)
		}
		acfg := agent.Defaults()
		acfg.Device = d
		acfg.JournalFile = filepath.Join(t.TempDir(), "journal.db")
		acfg.MQTT.URL = "mqtt://" + b.TCPAddr()
		acfg.MQTT.Username, acfg.MQTT.Password = "agent-"+d, "agent-pass"
		acfg.Resort.Device, acfg.Resort.DefaultSpeed = link, 120
		acfg.Resort.PulseDuration, acfg.Resort.PulseRest = 0.15, 0.05
		acfg.HealthInterval = time.Second
		a, err := agent.New(acfg, zerolog.New(io.Discard), agent.Options{})
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- a.Run(ctx) }()
		t.Cleanup(func() { cancel(); <-done; _ = p.Close() })
		s.logs[d], s.servo[d] = l, servo
	}
	// A device that is only retained messages, full of markup.
	pub := func(topic, payload string) {
		if err := b.Server().Publish(topic, []byte(payload), true, 1); err != nil {
			t.Fatal(err)
		}
	}
	hj, _ := json.Marshal(hostile)
	pub("plate-resort/evil-1/availability", "offline")
	pub("plate-resort/evil-1/info", fmt.Sprintf(`{"device":"evil-1","hotels":[{"name":%s,"angle":45},{"name":"B","angle":135}],"commands":[]}`, hj))
	pub("plate-resort/evil-1/state", fmt.Sprintf(`{"connected":true,"moving":false,"position_deg":45,"active_hotel":%s,"target":{"hotel":%s,"angle":45},"speed":5,"estop":false}`, hj, hj))
	pub("plate-resort/evil-1/health", fmt.Sprintf(`{"temperature_c":30,"warnings":[%s],"serial":{"port":%s,"connected":true}}`, hj, hj))
	pub("plate-resort/_fleet/availability", "online") // system topics: never a device
	pub("plate-resort/_bridge/w1/availability", "online")
	return s
}

// browser starts headless Chromium (Debian's chromium) with a fresh profile
// and nothing that talks to the network by itself.
func browser(t *testing.T) context.Context {
	t.Helper()
	bin := testenv.NeedBinary(t, "chromium")
	// chromedp's defaults keep one renderer per tab (site-per-process off),
	// which its navigation tracking needs, and turn off background services.
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(bin),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("no-default-browser-check", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 800),
	)
	actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(acancel)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// tab opens a new tab; JavaScript exceptions in it fail the test.
func tab(t *testing.T, browserCtx context.Context, name string) context.Context {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browserCtx, chromedp.WithListener(func(ev any) {
		switch e := ev.(type) {
		case *runtime.EventExceptionThrown:
			t.Errorf("%s: JavaScript exception: %s %s", name, e.ExceptionDetails.Text, exceptionText(e.ExceptionDetails))
		case *runtime.EventConsoleAPICalled:
			if e.Type == runtime.ConsoleAPICalledTypeError {
				var parts []string
				for _, a := range e.Args {
					parts = append(parts, string(a.Value)+a.Description)
				}
				t.Logf("%s: console.error: %s", name, strings.Join(parts, " "))
			}
		}
	}))
	t.Cleanup(cancel)
	// The first run creates the tab and binds it to the context it gets,
	// so it runs without the per-action timeouts of run and eval.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("%s: open tab: %v", name, err)
	}
	return ctx
}

func run(t *testing.T, ctx context.Context, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(c, actions...); err != nil {
		t.Fatal(err)
	}
}

func eval[T any](t *testing.T, ctx context.Context, js string) T {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(c, chromedp.Evaluate[T](js))
	if err != nil {
		t.Fatalf("%s: %v", js, err)
	}
	return v
}

// text is the textContent of the element with that id.
func text(t *testing.T, ctx context.Context, id string) string {
	t.Helper()
	return eval[string](t, ctx, fmt.Sprintf(`(document.getElementById(%q)||{}).textContent||""`, id))
}

// waitJS polls a boolean expression in the page.
func waitJS(t *testing.T, ctx context.Context, timeout time.Duration, what, js string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if eval[bool](t, ctx, js) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s (%s); replies %q", timeout, what, js, text(t, ctx, "dev-reply"))
		}
		time.Sleep(30 * time.Millisecond)
	}
}

func waitText(t *testing.T, ctx context.Context, timeout time.Duration, id, contains string) {
	t.Helper()
	waitJS(t, ctx, timeout, fmt.Sprintf("#%s contains %q (connection: %q)", id, contains, text(t, ctx, "conn")),
		fmt.Sprintf(`((document.getElementById(%q)||{}).textContent||"").includes(%q)`, id, contains))
}

// latest is the newest line of a reply list (#dev-reply, #fleet-reply).
func latest(t *testing.T, ctx context.Context, id string) string {
	t.Helper()
	return eval[string](t, ctx, fmt.Sprintf(`(document.querySelector('#%s li')||{}).textContent||""`, id))
}

func waitReply(t *testing.T, ctx context.Context, timeout time.Duration, id, contains string) {
	t.Helper()
	waitJS(t, ctx, timeout, fmt.Sprintf("the newest line of #%s contains %q", id, contains),
		fmt.Sprintf(`((document.querySelector('#%s li')||{}).textContent||"").includes(%q)`, id, contains))
}

func screenshotDir(t *testing.T) string {
	if d := os.Getenv("PLATE_RESORT_SCREENSHOTS"); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	return t.TempDir()
}

// shoot saves the viewport at w×h as name-WxH.png.
func shoot(t *testing.T, ctx context.Context, dir, name string, w, h int64) {
	t.Helper()
	run(t, ctx, chromedp.EmulateViewport(w, h), chromedp.Sleep(250*time.Millisecond))
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, fmt.Sprintf("%s-%dx%d.png", name, w, h))
	if err := os.WriteFile(p, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot %s", p)
}

func login(t *testing.T, ctx context.Context, url, user, pass string) {
	t.Helper()
	run(t, ctx,
		chromedp.Navigate(url),
		chromedp.WaitVisible(chromedp.CSS("#login-form")),
		chromedp.SetValue(chromedp.CSS("#login-user"), user),
		chromedp.SetValue(chromedp.CSS("#login-pass"), pass),
		chromedp.Click(chromedp.CSS("#login-submit")),
	)
}

func click(t *testing.T, ctx context.Context, sel string) {
	t.Helper()
	run(t, ctx, chromedp.Click(chromedp.CSS(sel)))
}

// TestPanelInChromium drives the panel in a real headless Chromium against
// the real broker, agents and simulated servos.
func TestPanelInChromium(t *testing.T) {
	s := startStack(t)
	bctx := browser(t)
	shots := screenshotDir(t)

	// The listener serves the page on a plain GET, with a policy that
	// forbids inline script; MQTT upgrades still work (the browser's own
	// connection below goes to /mqtt, the agents' tests use /).
	resp, err := http.Get(s.url)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `<script type="module" src="panel.js">`) ||
		!strings.Contains(resp.Header.Get("Content-Security-Policy"), "script-src 'self'") {
		t.Fatalf("GET /: %d %q csp %q", resp.StatusCode, body, resp.Header.Get("Content-Security-Policy"))
	}

	op := tab(t, bctx, "operator")
	run(t, op, chromedp.EmulateViewport(800, 480))

	// A wrong password ends in a clear message, not a spinner.
	login(t, op, s.url, "op", "wrong")
	waitText(t, op, 10*time.Second, "login-error", "wrong user name or password")
	shoot(t, op, shots, "login-refused", 800, 480)

	login(t, op, s.url, "op", "op-pass")
	waitText(t, op, 10*time.Second, "conn", "connected as op")

	t.Run("fleet lists every device, and nothing else", func(t *testing.T) {
		waitJS(t, op, 15*time.Second, "4 device rows, 3 online",
			`document.querySelectorAll('#fleet-body tr').length === 4 &&
			 [...document.querySelectorAll('#fleet-body tr')].filter(r => r.cells[1].textContent === 'online').length === 3`)
		rows := eval[[]string](t, op, `[...document.querySelectorAll('#fleet-body tr th')].map(th => th.textContent)`)
		if want := []string{"evil-1", "resort-1", "resort-2", "resort-3"}; !slices.Equal(rows, want) {
			t.Fatalf("fleet rows %q, want %q (no _fleet, _bridge or responses)", rows, want)
		}
		waitJS(t, op, 10*time.Second, "resort-2 at hotel B", `[...document.querySelectorAll('#fleet-body tr')].some(r => r.cells[0].textContent === 'resort-2' && r.cells[3].textContent === 'B')`)
		shoot(t, op, shots, "fleet", 800, 480)
		shoot(t, op, shots, "fleet", 1280, 800)
	})

	t.Run("markup from MQTT is shown as text", func(t *testing.T) {
		run(t, op, chromedp.EmulateViewport(800, 480), chromedp.Navigate(s.url+"#/device/evil-1"))
		waitJS(t, op, 10*time.Second, "the hostile hotel button", `document.querySelectorAll('#hotel-buttons button').length === 2`)
		if got := eval[string](t, op, `document.querySelector('#hotel-buttons button').textContent`); got != hostile {
			t.Fatalf("hotel button reads %q, want the name as text %q", got, hostile)
		}
		for _, id := range []string{"ro-hotel", "h-warnings", "h-serial"} {
			if got := text(t, op, id); !strings.Contains(got, hostile) {
				t.Errorf("#%s reads %q, want it to contain %q as text", id, got, hostile)
			}
		}
		if got := eval[string](t, op, `[...document.querySelectorAll('#dial-hotels text')].map(e => e.textContent).join('|')`); got != hostile[:9]+"…|B" {
			t.Errorf("dial labels %q", got)
		}
		// No element was parsed out of the string, and its handler never ran.
		if n := eval[int](t, op, `document.querySelectorAll('img').length`); n != 0 {
			t.Fatalf("%d <img> elements in the page", n)
		}
		if x := eval[bool](t, op, `window.__xss === 1`); x {
			t.Fatal("the payload's script ran")
		}
		shoot(t, op, shots, "device-hostile", 800, 480)
	})

	run(t, op, chromedp.Navigate(s.url+"#/device/resort-1"))
	waitJS(t, op, 15*time.Second, "controls enabled for the operator", `!document.getElementById('angle-move').disabled && !document.getElementById('estop').disabled`)
	log1 := s.logs["resort-1"]

	t.Run("the live angle follows a move", func(t *testing.T) {
		run(t, op, chromedp.SetValue(chromedp.CSS("#angle-input"), "250"))
		click(t, op, "#angle-move")
		seen := map[string]bool{}
		deadline := time.Now().Add(20 * time.Second)
		for !strings.Contains(latest(t, op, "dev-reply"), "done") {
			if time.Now().After(deadline) {
				t.Fatalf("no reply to the move: %q", latest(t, op, "dev-reply"))
			}
			seen[text(t, op, "ro-angle")] = true
			time.Sleep(20 * time.Millisecond)
		}
		if len(seen) < 4 {
			t.Fatalf("the angle shown took %d values during a 231° move, want the 10 Hz state to show it moving: %v", len(seen), seen)
		}
		t.Logf("%d distinct angles shown during the move", len(seen))
		var deg float64
		if _, err := fmt.Sscanf(text(t, op, "ro-angle"), "%f", &deg); err != nil || deg < 249 || deg > 251 {
			t.Fatalf("angle shown after the move %q", text(t, op, "ro-angle"))
		}
	})

	t.Run("a hotel button turns the carousel there", func(t *testing.T) {
		click(t, op, `#hotel-buttons button[data-hotel="C"]`)
		waitReply(t, op, 30*time.Second, "dev-reply", "done, at")
		waitText(t, op, 5*time.Second, "ro-hotel", "C")
		waitJS(t, op, 5*time.Second, "C pressed", `document.querySelector('#hotel-buttons button[data-hotel="C"]').getAttribute('aria-pressed') === 'true'`)
		var deg float64
		if _, err := fmt.Sscanf(text(t, op, "ro-angle"), "%f", &deg); err != nil || deg < 198.5 || deg > 199.5 {
			t.Fatalf("angle shown at hotel C %q, want 199 ± 0.5", text(t, op, "ro-angle"))
		}
		pos := math.Mod(math.Mod(float64(s.servo["resort-1"].Snapshot().Position), 360)+360, 360)
		if d := pos - 199; d < -0.5 || d > 0.5 {
			t.Fatalf("the simulated carousel stands at %v°, want hotel C at 199°", pos)
		}
		// The move is history: the agent's event stream (live, and
		// get_events on opening the page) shows who moved it.
		waitJS(t, op, 10*time.Second, "the finished move in the events list, by op",
			`[...document.querySelectorAll('#events li')].some(li => /command_finished · activate_hotel · ok · by op/.test(li.textContent))`)
		shoot(t, op, shots, "device", 800, 480)
		shoot(t, op, shots, "device", 1280, 800)
		run(t, op, chromedp.EmulateViewport(800, 480))
	})

	t.Run("emergency stop: click to torque off", func(t *testing.T) {
		box := eval[[]float64](t, op, `(() => { const r = document.getElementById('estop').getBoundingClientRect(); return [r.x + r.width/2, r.y + r.height/2]; })()`)
		const presses = 20
		var lat, inPage []time.Duration
		for i := range presses {
			click(t, op, "#reset")
			waitJS(t, op, 10*time.Second, "reset answered", `/Reset \(resort-1\): (emergency stop cleared|nothing was latched)/.test((document.querySelector('#dev-reply li')||{}).textContent)`)
			run(t, op, chromedp.SetValue(chromedp.CSS("#angle-input"), []string{"100", "300"}[i%2]))
			click(t, op, "#angle-move")
			waitText(t, op, 10*time.Second, "ro-moving", "yes")
			time.Sleep(time.Duration(50+i*7) * time.Millisecond) // somewhere in the move
			before, _ := log1.snapshot()
			t0 := time.Now()
			// The press alone: the panel acts on pointerdown.
			run(t, op, chromedp.MouseEvent(input.DispatchMouseEventTypeMousePressed, box[0], box[1], chromedp.ButtonLeft, chromedp.ClickCount(1)))
			var at time.Time
			testenv.Eventually(t, 5*time.Second, "torque off at the servo", func() bool {
				now, _ := log1.snapshot()
				for _, ts := range now[len(before):] {
					if ts.After(t0) {
						at = ts
						return true
					}
				}
				return false
			})
			run(t, op, chromedp.MouseEvent(input.DispatchMouseEventTypeMouseReleased, box[0], box[1], chromedp.ButtonLeft, chromedp.ClickCount(1)))
			lat = append(lat, at.Sub(t0))
			// From the handler in the page to the torque write: without the
			// DevTools dispatch of the press (both clocks are the system's).
			pageAt := eval[float64](t, op, `window.plateResortPanel.lastEStopAt`)
			inPage = append(inPage, at.Sub(time.UnixMicro(int64(pageAt*1000))))
			waitReply(t, op, 10*time.Second, "dev-reply", "torque off, latched until Reset")
		}
		// One press sends one emergency_stop: pointerdown acted, the click
		// that follows the release did not send a second one.
		waitText(t, op, 5*time.Second, "dev-estop", "E-STOP LATCHED")
		shoot(t, op, shots, "device-estop", 800, 480)
		slices.Sort(lat)
		slices.Sort(inPage)
		q := func(d []time.Duration, p int) time.Duration { return d[(len(d)*p+99)/100-1] }
		msg := fmt.Sprintf("emergency stop, %d presses: click (DevTools mouse press) → Torque Enable 0 at the simulated servo: p50 %.2f ms, p99 %.2f ms; "+
			"the page's pointerdown handler → Torque Enable 0: p50 %.2f ms, p99 %.2f ms",
			presses, ms(q(lat, 50)), ms(q(lat, 99)), ms(q(inPage, 50)), ms(q(inPage, 99)))
		t.Log(msg)
		fmt.Println(msg)
	})

	t.Run("a viewer sees everything and is refused", func(t *testing.T) {
		vw := tab(t, bctx, "viewer")
		run(t, vw, chromedp.EmulateViewport(800, 480))
		login(t, vw, s.url, "viewer", "viewer-pass")
		waitText(t, vw, 10*time.Second, "conn", "connected as viewer")
		run(t, vw, chromedp.Navigate(s.url+"#/device/resort-1"))
		waitText(t, vw, 15*time.Second, "dev-role", "Read-only")
		// It sees the state: the angle, and the e-stop the operator latched.
		waitJS(t, vw, 5*time.Second, "angle and latched e-stop shown to the viewer",
			`/°$/.test(document.getElementById('ro-angle').textContent) && !document.getElementById('dev-estop').hidden`)
		if n := eval[int](t, vw, `[...document.querySelectorAll('#device-view .controls button, #estop')].filter(b => !b.disabled).length`); n != 0 {
			t.Fatalf("%d enabled buttons for a viewer", n)
		}
		if n := eval[int](t, vw, `document.querySelectorAll('#device-view .controls button').length`); n < 8 {
			t.Fatalf("only %d control buttons", n)
		}
		// Watch what reaches the agent's command topic from inside the broker.
		var mu sync.Mutex
		var delivered []string
		if err := s.b.Server().Subscribe("plate-resort/resort-1/cmd/#", 7, func(_ *mqtt.Client, _ packets.Subscription, pk packets.Packet) {
			mu.Lock()
			delivered = append(delivered, pk.TopicName)
			mu.Unlock()
		}); err != nil {
			t.Fatal(err)
		}
		defer s.b.Server().Unsubscribe("plate-resort/resort-1/cmd/#", 7)
		_, goalsBefore := log1.snapshot()
		offBefore, _ := log1.snapshot()
		// Forced: past the disabled buttons, over the viewer's own connection.
		eval[bool](t, vw, `window.plateResortPanel.send('resort-1', 'reset', {}); window.plateResortPanel.send('resort-1', 'move_to_angle', {angle: 20}); true`)
		waitReply(t, vw, 10*time.Second, "dev-reply", "refused by the broker: not authorized (0x87)")
		eval[bool](t, vw, `window.plateResortPanel.send('resort-1', 'emergency_stop', {}); true`)
		waitReply(t, vw, 10*time.Second, "dev-reply", "Emergency stop (resort-1): refused by the broker: not authorized")
		time.Sleep(time.Second)
		mu.Lock()
		got := slices.Clone(delivered)
		mu.Unlock()
		if len(got) != 0 {
			t.Fatalf("the broker delivered the viewer's commands: %q", got)
		}
		offAfter, goalsAfter := log1.snapshot()
		if goalsAfter != goalsBefore || len(offAfter) != len(offBefore) {
			t.Fatalf("the servo was written to: goal writes %d → %d, torque off %d → %d", goalsBefore, goalsAfter, len(offBefore), len(offAfter))
		}
		shoot(t, vw, shots, "device-viewer", 800, 480)
	})

	t.Run("fleet-wide emergency stop", func(t *testing.T) {
		offBefore := map[string]int{}
		for _, d := range devices {
			off, _ := s.logs[d].snapshot()
			offBefore[d] = len(off)
		}
		run(t, op, chromedp.Navigate(s.url+"#/"))
		waitJS(t, op, 5*time.Second, "fleet view", `!document.getElementById('fleet-view').hidden && document.getElementById('estop-sub').textContent === 'all devices'`)
		click(t, op, "#estop")
		waitReply(t, op, 10*time.Second, "fleet-reply", "sent to 4 device(s); 3 stopped")
		for _, d := range devices {
			if off, _ := s.logs[d].snapshot(); len(off) <= offBefore[d] {
				t.Errorf("%s: no torque off after the fleet stop", d)
			}
		}
		waitJS(t, op, 10*time.Second, "three rows LATCHED", `[...document.querySelectorAll('#fleet-body tr')].filter(r => r.cells[4].textContent === 'LATCHED').length === 3`)
		shoot(t, op, shots, "fleet-estop", 800, 480)
		shoot(t, op, shots, "fleet-estop", 1280, 800)
	})

	// Keyboard: the emergency stop is reachable with Tab and fires with Enter
	// (after the fleet stop all are latched; a reset first makes it observable).
	t.Run("keyboard reaches the controls", func(t *testing.T) {
		run(t, op, chromedp.Navigate(s.url+"#/device/resort-2"))
		waitJS(t, op, 10*time.Second, "controls enabled", `!document.getElementById('reset').disabled`)
		click(t, op, "#reset")
		waitReply(t, op, 10*time.Second, "dev-reply", "emergency stop cleared")
		off0, _ := s.logs["resort-2"].snapshot()
		var focused string
		for range 40 {
			run(t, op, chromedp.KeyEvent("\t"))
			focused = eval[string](t, op, `document.activeElement ? document.activeElement.id : ''`)
			if focused == "estop" {
				break
			}
		}
		if focused != "estop" {
			t.Fatal("Tab never reached the emergency stop")
		}
		run(t, op, chromedp.KeyEvent("\r"))
		testenv.Eventually(t, 5*time.Second, "torque off after Enter", func() bool {
			off, _ := s.logs["resort-2"].snapshot()
			return len(off) > len(off0)
		})
		labels := eval[[]string](t, op, `[...document.querySelectorAll('#device-view button, #estop')].filter(b => !(b.getAttribute('aria-label') || b.textContent.trim())).map(b => b.id)`)
		if len(labels) != 0 {
			t.Fatalf("buttons without a label: %q", labels)
		}
	})
}

func exceptionText(d *runtime.ExceptionDetails) string {
	if d == nil || d.Exception == nil {
		return ""
	}
	return d.Exception.Description
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
