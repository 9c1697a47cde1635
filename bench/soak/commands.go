package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eclipse/paho.golang/autopaho"
	"github.com/eclipse/paho.golang/paho"
	"github.com/rs/zerolog"

	"github.com/plate-resort/plate-resort/contract"
	"github.com/plate-resort/plate-resort/internal/mqttconn"
)

// kind is what a direct command is for; it decides its retry policy and
// the row it is counted in.
type kind string

const (
	kMove   kind = "move_to_angle"
	kRead   kind = "get_position"
	kEStop  kind = "emergency_stop"
	kReset  kind = "reset"
	kHeal   kind = "reset (latch heal)"
	kProbe  kind = "get_position (recovery probe)"
	kRunDup kind = "move_to_angle (re-send of a bridge run's id)"
)

// attempt is one publish of a command.
type attempt struct {
	At         time.Time
	Accepted   bool // QoS 1: PUBACK; QoS 0: written on a connected client
	Err        string
	Deliberate bool // a re-send of an id already answered (must not run again)
}

// replyRec is one reply seen for a command id.
type replyRec struct {
	At        time.Time
	Attempt   int // from the Correlation Data; -1 when it came on <base>/reply/<command>
	Status    string
	Code      string
	Duplicate bool
	Started   bool          // started_at set: the agent ran it
	Took      time.Duration // finished_at - started_at
	Message   string
	Result    string // the result, clipped (e-stop and reset details, move outcome)
}

func (r replyRec) String() string {
	s := r.At.Format("15:04:05.000") + " " + r.Status
	if r.Code != "" {
		s += " " + r.Code
	}
	if r.Duplicate {
		s += " duplicate"
	}
	if r.Attempt >= 0 {
		s += fmt.Sprintf(" (attempt %d)", r.Attempt)
	} else {
		s += " (on the common reply topic)"
	}
	if r.Message != "" {
		s += ": " + contract.Clip(r.Message, 160)
	}
	return s
}

// command is one direct MQTT command id and everything that happened to it.
type command struct {
	ID      string
	Name    string // MQTT command name
	Kind    kind
	QoS     byte
	Payload []byte
	Goal    int64 // move target in pulses, -1 for others
	Angle   float64
	Created time.Time

	// Guarded by registry.mu.
	Attempts     []attempt
	Replies      []replyRec
	NotDelivered bool // QoS 0 and the publish failed: the broker was down
	answered     chan struct{}
	ResendAt     time.Time // the first deliberate re-send
}

func (c *command) firstReply() *replyRec {
	if len(c.Replies) == 0 {
		return nil
	}
	return &c.Replies[0]
}

// accepted says whether any attempt went out.
func (c *command) accepted() bool {
	for _, a := range c.Attempts {
		if a.Accepted {
			return true
		}
	}
	return false
}

// registry holds every direct command, the replies to bridge runs seen on
// the common reply topic, and the agent's retained availability and
// e-stop latch.
type registry struct {
	mu         sync.Mutex
	cmds       map[string]*command
	order      []*command
	runReplies map[string][]replyRec // command id = flow run id
	stray      int                   // replies on our topic for ids we never sent

	online      bool
	offlineAt   []time.Time
	onlineAt    []time.Time
	latched     bool
	latchedAt   time.Time
	harnessDown []time.Time
	harnessUp   []time.Time
}

func newRegistry() *registry {
	return &registry{cmds: map[string]*command{}, runReplies: map[string][]replyRec{}}
}

func (r *registry) add(c *command) {
	c.answered = make(chan struct{})
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cmds[c.ID] = c
	r.order = append(r.order, c)
}

func (r *registry) get(id string) *command {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.cmds[id]
}

// snapshot returns every command, in creation order.
func (r *registry) snapshot() []*command {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*command(nil), r.order...)
}

func (r *registry) onReply(p *paho.Publish, own bool, at time.Time) {
	var rep contract.Reply
	if err := json.Unmarshal(p.Payload, &rep); err != nil {
		return
	}
	rec := replyRec{At: at, Attempt: -1, Status: rep.Status, Duplicate: rep.Duplicate, Started: rep.StartedAt != nil}
	if rep.StartedAt != nil {
		rec.Took = rep.FinishedAt.Sub(*rep.StartedAt)
	}
	if rep.Error != nil {
		rec.Code, rec.Message = string(rep.Error.Code), rep.Error.Message
	}
	if len(rep.Result) > 0 && string(rep.Result) != "null" {
		rec.Result = contract.Clip(string(rep.Result), 300)
	}
	id := rep.IDString()
	if own && p.Properties != nil {
		if cid, n, ok := strings.Cut(string(p.Properties.CorrelationData), "#"); ok && cid == id {
			_, _ = fmt.Sscan(n, &rec.Attempt)
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.cmds[id]
	switch {
	case c == nil && own:
		r.stray++
	case c == nil:
		r.runReplies[id] = append(r.runReplies[id], rec)
	default:
		if !own && len(c.Replies) > 0 {
			return // the same reply also came on our own topic
		}
		c.Replies = append(c.Replies, rec)
		if len(c.Replies) == 1 {
			close(c.answered)
		}
	}
}

func (r *registry) onAvailability(v string, at time.Time) (cameOnline bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	on := v == contract.Online
	if on == r.online {
		return false
	}
	r.online = on
	if on {
		r.onlineAt = append(r.onlineAt, at)
	} else {
		r.offlineAt = append(r.offlineAt, at)
	}
	return on
}

func (r *registry) onState(payload []byte, at time.Time) {
	var st contract.State
	if err := json.Unmarshal(payload, &st); err != nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if st.EStop && !r.latched {
		r.latchedAt = at
	}
	r.latched = st.EStop
}

// latchedFor is how long the retained state has shown the e-stop latched.
func (r *registry) latchedFor(now time.Time) time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.latched {
		return 0
	}
	return now.Sub(r.latchedAt)
}

// kicker wakes every command waiting for a reply (the agent came back
// online, or the harness reconnected): a client re-sends in-doubt commands
// with the same id, which the contract makes safe.
type kicker struct {
	mu sync.Mutex
	ch chan struct{}
}

func newKicker() *kicker { return &kicker{ch: make(chan struct{})} }

func (k *kicker) wait() <-chan struct{} {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.ch
}

func (k *kicker) kick() {
	k.mu.Lock()
	defer k.mu.Unlock()
	close(k.ch)
	k.ch = make(chan struct{})
}

// client is the harness's MQTT 5 connection (autopaho: it reconnects after
// a broker restart and subscribes again).
type client struct {
	cm        *autopaho.ConnectionManager
	up        atomic.Bool
	topics    contract.Topics
	respTopic string
}

const soakWho = "soak" // replies under plate-resort/responses/soak/<device>

func connectClient(ctx context.Context, brokerAddr string, reg *registry, kick *kicker, log zerolog.Logger) (*client, error) {
	c := &client{topics: contract.DeviceTopics(prefix, device), respTopic: contract.ResponseTopic(prefix, soakWho, device)}
	respFilter := contract.ResponsesFilter(prefix, soakWho)
	cm, err := mqttconn.Connect(ctx, mqttconn.Config{URL: "mqtt://" + brokerAddr, ClientID: "plate-resort-soak", KeepAlive: 10 * time.Second},
		mqttconn.Options{
			Log: log,
			OnUp: func(cm *autopaho.ConnectionManager) {
				sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				defer cancel()
				_, err := cm.Subscribe(sctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{
					{Topic: respFilter, QoS: 1},
					{Topic: c.topics.ReplyFilter(), QoS: 1},
					{Topic: c.topics.Availability(), QoS: 1},
					{Topic: c.topics.State(), QoS: 0},
				}})
				if err != nil {
					log.Warn().Err(err).Msg("subscribe")
					return
				}
				c.up.Store(true)
				reg.mu.Lock()
				reg.harnessUp = append(reg.harnessUp, time.Now())
				reg.mu.Unlock()
				kick.kick()
			},
			OnDown: func() {
				c.up.Store(false)
				reg.mu.Lock()
				reg.harnessDown = append(reg.harnessDown, time.Now())
				reg.mu.Unlock()
			},
			OnPublish: func(p *paho.Publish) {
				now := time.Now()
				switch {
				case strings.HasPrefix(p.Topic, contract.Responses(prefix, soakWho)+"/"):
					reg.onReply(p, true, now)
				case strings.HasPrefix(p.Topic, c.topics.Base+"/"+contract.LevelReply+"/"):
					reg.onReply(p, false, now)
				case p.Topic == c.topics.Availability():
					if reg.onAvailability(string(p.Payload), now) {
						kick.kick()
					}
				case p.Topic == c.topics.State():
					reg.onState(p.Payload, now)
				}
			},
		})
	if err != nil {
		return nil, err
	}
	c.cm = cm
	return c, nil
}

// publish sends one attempt of a command with our Response Topic and
// Correlation Data "<id>#<attempt>".
func (c *client) publish(ctx context.Context, cmd *command, n int) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_, err := c.cm.Publish(ctx, &paho.Publish{
		Topic: c.topics.Command(cmd.Name), QoS: cmd.QoS, Payload: cmd.Payload,
		Properties: &paho.PublishProperties{ResponseTopic: c.respTopic, CorrelationData: []byte(fmt.Sprintf("%s#%d", cmd.ID, n))},
	})
	return err
}

// policy is how long a command waits for its reply before it is sent again
// with the same id, and for how long it keeps trying (0: until the drain
// ends).
type policy struct {
	first, again, lifetime time.Duration
	retry                  bool
}

func policyOf(k kind) policy {
	switch k {
	case kMove, kRunDup:
		// Up to queue_size moves may wait ahead of it.
		return policy{first: 45 * time.Second, again: 15 * time.Second, retry: true}
	case kEStop, kReset, kHeal:
		// Bounded: a late e-stop re-sent after the reset would latch again.
		return policy{first: 3 * time.Second, again: 3 * time.Second, lifetime: 20 * time.Second, retry: true}
	case kProbe:
		return policy{first: 2 * time.Second}
	}
	return policy{first: 4 * time.Second, again: 4 * time.Second, retry: true}
}

// drive sends c and, until it is answered, sends it again with the same id
// when its reply is overdue or when the agent or the harness comes back
// (what the contract tells a client to do: a repeated id never runs
// twice). A QoS 0 command whose first publish fails (the broker is down) is
// "not delivered" and dropped, as a QoS 0 sender would. ctx ends at the end
// of the drain.
func (s *soak) drive(ctx context.Context, c *command) {
	p := policyOf(c.Kind)
	if p.lifetime > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, p.lifetime)
		defer cancel()
	}
	wait := p.first
	for n := 0; ; n++ {
		kick := s.kick.wait()
		err := s.mq.publish(ctx, c, n)
		s.reg.mu.Lock()
		a := attempt{At: time.Now(), Accepted: err == nil}
		if err != nil {
			a.Err = err.Error()
		}
		c.Attempts = append(c.Attempts, a)
		if err != nil && n == 0 && c.QoS == 0 {
			c.NotDelivered = true
		}
		s.reg.mu.Unlock()
		if err != nil && c.QoS == 0 && n == 0 {
			return
		}
		if !p.retry {
			select {
			case <-c.answered:
			case <-time.After(wait):
			case <-ctx.Done():
			}
			return
		}
		w := wait
		if err != nil {
			w = time.Second // not out: try again soon
		}
		select {
		case <-c.answered:
			return
		case <-ctx.Done():
			return
		case <-time.After(w):
			wait = p.again
		case <-kick:
			// Spread the re-sends a little, as independent clients would.
			select {
			case <-c.answered:
				return
			case <-ctx.Done():
				return
			case <-time.After(time.Duration(rand.Int64N(int64(time.Second)))):
			}
		}
	}
}

// resend publishes an already answered command again, unchanged, once: the
// agent must answer with its stored reply and not run it again.
func (s *soak) resend(ctx context.Context, c *command) {
	s.reg.mu.Lock()
	n := len(c.Attempts)
	if c.ResendAt.IsZero() {
		c.ResendAt = time.Now()
	}
	s.reg.mu.Unlock()
	err := s.mq.publish(ctx, c, n)
	a := attempt{At: time.Now(), Accepted: err == nil, Deliberate: true}
	if err != nil {
		a.Err = err.Error()
	}
	s.reg.mu.Lock()
	c.Attempts = append(c.Attempts, a)
	s.reg.mu.Unlock()
}

// newCommand builds a direct command; params are the command's parameters
// (the id is added).
func newCommand(id, name string, k kind, qos byte, params map[string]any) *command {
	body := map[string]any{"id": id}
	for k, v := range params {
		body[k] = v
	}
	payload, _ := json.Marshal(body)
	return &command{ID: id, Name: name, Kind: k, QoS: qos, Payload: payload, Goal: -1, Created: time.Now()}
}
