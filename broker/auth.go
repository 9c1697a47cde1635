package broker

import (
	"bytes"
	"fmt"
	"github.com/plate-resort/plate-resort/contract"
	"net"
	"strings"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/rs/zerolog"
	"golang.org/x/crypto/bcrypt"
)

// account is one configured user, compiled.
type account struct {
	hash   []byte
	role   string
	rights rights
}

// authHook authenticates CONNECTs against bcrypt hashes and applies the role
// ACLs, denying by default. It is the only auth hook on the server: mochi
// OR-combines auth hooks, so adding AllowHook next to it would open
// everything (docs/mqtt.md §5).
type authHook struct {
	mqtt.HookBase
	users     map[string]*account
	anonymous *account // nil when anonymous access is off
	loopOnly  bool     // anonymous only from loopback addresses
	cmdFilter string   // "<prefix>/+/cmd/#": retained publishes refused
	srv       *mqtt.Server
	log       zerolog.Logger // failed logins and refusals
	denyLog   zerolog.Logger // sampled: a client can trigger one per packet
	dummy     []byte         // compared for unknown users (timing)
}

// dummyHash is compared against when the user name is unknown, so a refusal
// takes as long for an unknown user as for a wrong password and the timing
// does not tell which user names exist.
var dummyHash, _ = bcrypt.GenerateFromPassword([]byte("plate-resort: no such user"), bcrypt.DefaultCost)

func newAuthHook(cfg Config, log zerolog.Logger) (*authHook, error) {
	h := &authHook{
		users:     make(map[string]*account, len(cfg.Users)),
		loopOnly:  cfg.Anonymous.LoopbackOnly,
		cmdFilter: contract.AllCommands(cfg.Prefix),
		log:       log,
		denyLog:   log.Sample(&zerolog.BurstSampler{Burst: 20, Period: 10 * time.Second}),
	}
	maxCost := bcrypt.DefaultCost
	for name, u := range cfg.Users {
		r, err := rightsFor(cfg.Prefix, u.Role, u.Devices)
		if err != nil {
			return nil, fmt.Errorf("users.%s: %w", name, err)
		}
		h.users[name] = &account{hash: []byte(u.PasswordHash), role: u.Role, rights: r}
		if c, err := bcrypt.Cost([]byte(u.PasswordHash)); err == nil && c > maxCost {
			maxCost = c
		}
	}
	h.dummy = dummyHash
	if maxCost > bcrypt.DefaultCost {
		// Match the slowest real hash so an unknown user is not refused
		// measurably faster than a wrong password.
		h.dummy, _ = bcrypt.GenerateFromPassword([]byte("plate-resort: no such user"), maxCost)
	}
	if cfg.Anonymous.Enabled {
		r, err := rightsFor(cfg.Prefix, cfg.Anonymous.Role, cfg.Anonymous.Devices)
		if err != nil {
			return nil, fmt.Errorf("anonymous: %w", err)
		}
		h.anonymous = &account{role: cfg.Anonymous.Role, rights: r}
	}
	return h, nil
}

func (h *authHook) ID() string { return "plate-resort-auth" }

func (h *authHook) Provides(b byte) bool {
	return b == mqtt.OnConnectAuthenticate || b == mqtt.OnACLCheck || b == mqtt.OnPublish
}

// OnConnectAuthenticate accepts a CONNECT. A refusal is logged with user
// name, remote address and client id, never the password.
func (h *authHook) OnConnectAuthenticate(cl *mqtt.Client, pk packets.Packet) bool {
	user := string(cl.Properties.Username)
	refuse := func(reason string) bool {
		h.denyLog.Warn().Str("username", clip(user)).Str("remote", cl.Net.Remote).
			Str("client_id", clip(cl.ID)).Str("listener", cl.Net.Listener).Str("reason", reason).
			Msg("login refused")
		return false
	}
	var acct *account
	if user == "" {
		if h.anonymous == nil {
			return refuse("anonymous access is off")
		}
		if h.loopOnly && !isLoopback(cl.Net.Remote) {
			return refuse("anonymous access is allowed from loopback only")
		}
		acct = h.anonymous
	} else {
		a, ok := h.users[user]
		if !ok {
			_ = bcrypt.CompareHashAndPassword(h.dummy, pk.Connect.Password)
			return refuse("unknown user")
		}
		if bcrypt.CompareHashAndPassword(a.hash, pk.Connect.Password) != nil {
			return refuse("wrong password")
		}
		acct = a
	}
	// mochi never runs the ACL or OnPublish for a Last Will, so check it
	// here: a will is a publish the client makes later. Without this a viewer
	// could leave a retained move command behind by dropping its connection.
	if pk.Connect.WillFlag {
		if !acct.rights.allows(pk.Connect.WillTopic, true) {
			return refuse("last will topic not allowed for this role")
		}
		if pk.Connect.WillRetain && covers(h.cmdFilter, pk.Connect.WillTopic) && !acct.rights.admin {
			return refuse("retained last will on a command topic")
		}
	}
	// The embedding process's inline client has no user name; nobody may
	// take its session over.
	if cl.ID == mqtt.InlineClientId {
		return refuse("client id is reserved")
	}
	// A client id names a session. Without this check any user could take
	// over (and so disconnect) the agent's session by reusing its client id.
	if h.srv != nil {
		if old, ok := h.srv.Clients.Get(cl.ID); ok && !bytes.Equal(old.Properties.Username, cl.Properties.Username) {
			return refuse("client id is in use by another user")
		}
	}
	h.log.Info().Str("username", clip(user)).Str("role", acct.role).Str("remote", cl.Net.Remote).
		Str("client_id", clip(cl.ID)).Str("listener", cl.Net.Listener).Msg("client connected")
	return true
}

// OnACLCheck is asked for every publish, every subscription filter and
// every delivery to a subscriber.
func (h *authHook) OnACLCheck(cl *mqtt.Client, topic string, write bool) bool {
	if cl.Net.Inline {
		return true // the embedding process itself
	}
	acct := h.account(cl)
	if acct != nil && acct.rights.allows(topic, write) {
		return true
	}
	if write || strings.ContainsAny(topic, "+#") { // a subscribe, not a delivery
		h.denyLog.Warn().Str("username", clip(string(cl.Properties.Username))).Str("client_id", clip(cl.ID)).
			Str("remote", cl.Net.Remote).Str("topic", clip(topic)).Bool("publish", write).Msg("not authorized")
	}
	return false
}

// OnPublish refuses a retained publish to a command topic for everyone but
// admin: a retained command replays on every reconnect of the agent
// (Tasmota's "ghost switching", docs/mqtt.md §1).
func (h *authHook) OnPublish(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	if !pk.FixedHeader.Retain || cl.Net.Inline || !covers(h.cmdFilter, pk.TopicName) {
		return pk, nil
	}
	if acct := h.account(cl); acct != nil && acct.rights.admin {
		return pk, nil
	}
	h.denyLog.Warn().Str("username", clip(string(cl.Properties.Username))).Str("client_id", clip(cl.ID)).
		Str("topic", clip(pk.TopicName)).Msg("retained command refused")
	if pk.FixedHeader.Qos == 0 {
		return pk, packets.ErrRejectPacket // QoS 0 has no ack to carry a reason
	}
	if cl.Properties.ProtocolVersion < 5 {
		// MQTT 3.1.1 has no negative PUBACK; mochi disconnects on an ACL
		// refusal of QoS > 0 and so do we (MQTT 3.1.1 §3.3.5: the server may
		// close the connection).
		cl.Stop(packets.ErrNotAuthorized)
		return pk, packets.ErrRejectPacket
	}
	// mochi answers a packets.Code from OnPublish with a PUBACK carrying it.
	return pk, packets.ErrNotAuthorized
}

// account is who the client logged in as. The user name, not a per-connection
// table, is the key, because mochi also asks for deliveries into the queue of
// a disconnected persistent session.
func (h *authHook) account(cl *mqtt.Client) *account {
	if len(cl.Properties.Username) == 0 {
		return h.anonymous
	}
	return h.users[string(cl.Properties.Username)]
}

func isLoopback(remote string) bool {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// clip bounds client-supplied strings in logs.
func clip(s string) string {
	const max = 128
	if len(s) > max {
		return s[:max] + "..."
	}
	return s
}
