package broker

import (
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/rs/zerolog"
	"golang.org/x/crypto/bcrypt"

	"github.com/plate-resort/plate-resort/contract"
)

// account is one configured user, compiled.
type account struct {
	hash    []byte
	role    string
	devices []string
	rights  rights
}

// ownsDevice says whether the account is the agent of device.
func (a *account) ownsDevice(device string) bool {
	return a.role == RoleAgent && slices.Contains(a.devices, device)
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

	prefix     string
	maxPerUser int
	verdicts   verdicts
	owners     sync.Map // client id -> user name of the agent user that used it

	met *brokerMetrics // refused logins, ACL denials (metrics.go); nil-safe
}

// dummyHash is compared against when the user name is unknown, so a refusal
// takes as long for an unknown user as for a wrong password and the timing
// does not tell which user names exist.
var dummyHash, _ = bcrypt.GenerateFromPassword([]byte("plate-resort: no such user"), bcrypt.DefaultCost)

func newAuthHook(cfg Config, log zerolog.Logger) (*authHook, error) {
	h := &authHook{
		users:      make(map[string]*account, len(cfg.Users)),
		loopOnly:   cfg.Anonymous.LoopbackOnly,
		cmdFilter:  contract.AllCommands(cfg.Prefix),
		prefix:     cfg.Prefix,
		maxPerUser: cfg.Limits.MaxConnectionsPerUser,
		log:        log,
		denyLog:    log.Sample(&zerolog.BurstSampler{Burst: 20, Period: 10 * time.Second}),
	}
	maxCost := bcrypt.DefaultCost
	for name, u := range cfg.Users {
		r, err := rightsFor(cfg.Prefix, u.Role, u.Devices)
		if err != nil {
			return nil, fmt.Errorf("users.%s: %w", name, err)
		}
		h.users[name] = &account{hash: []byte(u.PasswordHash), role: u.Role, devices: u.Devices, rights: r}
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
		h.anonymous = &account{role: cfg.Anonymous.Role, devices: cfg.Anonymous.Devices, rights: r}
	}
	return h, nil
}

func (h *authHook) ID() string { return "plate-resort-auth" }

func (h *authHook) Provides(b byte) bool {
	return b == mqtt.OnConnect || b == mqtt.OnConnectAuthenticate || b == mqtt.OnACLCheck || b == mqtt.OnPublish
}

// OnACLCheck is asked for every publish, every subscription filter and
// every delivery to a subscriber.
func (h *authHook) OnACLCheck(cl *mqtt.Client, topic string, write bool) bool {
	if cl.Net.Inline {
		return true // the embedding process itself
	}
	acct := h.account(cl)
	if acct != nil && acct.rights.allows(topic, write) && h.responseAllowed(cl, acct, topic, write) {
		return true
	}
	if write || strings.ContainsAny(topic, "+#") { // a subscribe, not a delivery
		h.met.aclDenied(map[bool]string{true: "publish", false: "subscribe"}[write])
		h.denyLog.Warn().Str("username", clip(string(cl.Properties.Username))).Str("client_id", clip(cl.ID)).
			Str("remote", cl.Net.Remote).Str("topic", clip(topic)).Bool("publish", write).Msg("not authorized")
	}
	return false
}

// OnPublish refuses a retained publish to a command topic for everyone but
// admin: a retained command replays on every reconnect of the agent
// (Tasmota's "ghost switching", docs/mqtt.md §1).
func (h *authHook) OnPublish(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	if cl.Net.Inline || !h.isCommand(pk.TopicName) {
		return pk, nil
	}
	stampUser(cl, &pk)
	if !pk.FixedHeader.Retain {
		return pk, nil
	}
	if acct := h.account(cl); acct != nil && acct.rights.admin {
		return pk, nil
	}
	h.met.aclDenied("retained_command")
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

// isCommand says whether topic is a device or fleet command topic.
func (h *authHook) isCommand(topic string) bool {
	return covers(h.cmdFilter, topic) || strings.HasPrefix(topic, contract.FleetCommand(h.prefix, ""))
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
