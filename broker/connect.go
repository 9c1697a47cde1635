package broker

import (
	"bytes"
	"net"
	"strings"
	"sync"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"
	"golang.org/x/crypto/bcrypt"
)

// agentClientIDPrefix is the agent's default client id prefix
// (plate-resort-agent-<device>): such an id is reserved for the agent user
// of that device, online or not, so nobody can hold it while the agent is
// away and lock it out.
const agentClientIDPrefix = "plate-resort-agent-"

// verdicts carries the result of OnConnect to OnConnectAuthenticate: mochi
// sends "bad user name or password" for every authentication refusal, so
// the checks run in OnConnect, which can answer with the real reason code,
// and authentication only reads the verdict (deny when there is none).
type verdicts struct{ m sync.Map } // *mqtt.Client -> *account

// OnConnect checks a CONNECT and answers a refusal with the CONNACK reason
// code that says why (MQTT 5.0 §3.2.2.2): 0x86 bad user name or password,
// 0x87 not authorized (will), 0x85 client identifier not valid (id owned by
// another user), 0x97 quota exceeded (too many connections for the user).
func (h *authHook) OnConnect(cl *mqtt.Client, pk packets.Packet) error {
	// The connection sent CONNECT in time: lift the CONNECT deadline; mochi
	// sets its keepalive deadline right after this hook.
	if cl.Net.Conn != nil {
		_ = cl.Net.Conn.SetReadDeadline(time.Time{})
	}
	acct, code, reason := h.check(cl, pk)
	if code != packets.CodeSuccess {
		h.met.loginRefused(code)
		h.denyLog.Warn().Str("username", clip(string(cl.Properties.Username))).Str("remote", cl.Net.Remote).
			Str("client_id", clip(cl.ID)).Str("listener", cl.Net.Listener).Str("reason", reason).
			Msg("login refused")
		if cl.Properties.ProtocolVersion < 5 {
			code = v3Code(code)
		}
		_ = h.srv.SendConnack(cl, code, false, nil)
		return code
	}
	h.verdicts.m.Store(cl, acct)
	return nil
}

// OnConnectAuthenticate accepts only a client OnConnect accepted.
func (h *authHook) OnConnectAuthenticate(cl *mqtt.Client, _ packets.Packet) bool {
	v, ok := h.verdicts.m.LoadAndDelete(cl)
	if !ok {
		return false
	}
	acct := v.(*account)
	h.log.Info().Str("username", clip(string(cl.Properties.Username))).Str("role", acct.role).Str("remote", cl.Net.Remote).
		Str("client_id", clip(cl.ID)).Str("listener", cl.Net.Listener).Msg("client connected")
	return true
}

func (h *authHook) check(cl *mqtt.Client, pk packets.Packet) (*account, packets.Code, string) {
	user := string(cl.Properties.Username)
	var acct *account
	if user == "" {
		if h.anonymous == nil {
			return nil, packets.ErrBadUsernameOrPassword, "anonymous access is off"
		}
		if h.loopOnly && !isLoopback(cl.Net.Remote) {
			return nil, packets.ErrBadUsernameOrPassword, "anonymous access is allowed from loopback only"
		}
		acct = h.anonymous
	} else {
		a, ok := h.users[user]
		if !ok {
			_ = bcrypt.CompareHashAndPassword(h.dummy, pk.Connect.Password)
			return nil, packets.ErrBadUsernameOrPassword, "unknown user"
		}
		if bcrypt.CompareHashAndPassword(a.hash, pk.Connect.Password) != nil {
			return nil, packets.ErrBadUsernameOrPassword, "wrong password"
		}
		acct = a
	}
	// mochi never runs the ACL or OnPublish for a Last Will, so check it
	// here: a will is a publish the client makes later. Without this a viewer
	// could leave a retained move command behind by dropping its connection.
	if pk.Connect.WillFlag {
		if !acct.rights.allows(pk.Connect.WillTopic, true) {
			return nil, packets.ErrNotAuthorized, "last will topic not allowed for this role"
		}
		if pk.Connect.WillRetain && covers(h.cmdFilter, pk.Connect.WillTopic) && !acct.rights.admin {
			return nil, packets.ErrNotAuthorized, "retained last will on a command topic"
		}
	}
	if code, reason := h.checkClientID(cl, acct); code != packets.CodeSuccess {
		return nil, code, reason
	}
	if h.maxPerUser > 0 && h.srv != nil && h.openConnections(cl) >= h.maxPerUser {
		return nil, packets.ErrQuotaExceeded, "too many connections for this user (limits.max_connections_per_user)"
	}
	return acct, packets.CodeSuccess, ""
}

// checkClientID binds client ids to their owners. The embedding process's
// inline id is nobody's; an agent's default id belongs to the agent user of
// that device (online or not); an id some agent user has connected with
// stays that user's; and no id held by a live or persistent session of
// another user can be taken over (which would disconnect its owner).
func (h *authHook) checkClientID(cl *mqtt.Client, acct *account) (packets.Code, string) {
	user := string(cl.Properties.Username)
	if cl.ID == mqtt.InlineClientId {
		return packets.ErrClientIdentifierNotValid, "client id is reserved"
	}
	if dev, ok := strings.CutPrefix(cl.ID, agentClientIDPrefix); ok && !acct.rights.admin && !acct.ownsDevice(dev) {
		return packets.ErrClientIdentifierNotValid, "client id is reserved for the agent of device " + clip(dev)
	}
	if owner, ok := h.owners.Load(cl.ID); ok && owner.(string) != user && !acct.rights.admin {
		return packets.ErrClientIdentifierNotValid, "client id belongs to another user"
	}
	if h.srv != nil {
		if old, ok := h.srv.Clients.Get(cl.ID); ok && !bytes.Equal(old.Properties.Username, cl.Properties.Username) {
			return packets.ErrClientIdentifierNotValid, "client id is in use by another user"
		}
	}
	if acct.role == RoleAgent {
		h.owners.Store(cl.ID, user)
	}
	return packets.CodeSuccess, ""
}

// openConnections counts the open connections of cl's user name, not
// counting a session cl takes over (the same id reconnecting).
func (h *authHook) openConnections(cl *mqtt.Client) int {
	n := 0
	for id, c := range h.srv.Clients.GetAll() {
		if id != cl.ID && !c.Net.Inline && !c.Closed() && bytes.Equal(c.Properties.Username, cl.Properties.Username) {
			n++
		}
	}
	return n
}

// v3Code keeps a refusal expressible in MQTT 3.1.1 (§3.2.2.3): mochi
// maps the v5 codes that have a v3 equivalent, but not quota exceeded or
// not authorized, so those become server unavailable and not authorized.
func v3Code(c packets.Code) packets.Code {
	switch c.Code {
	case packets.ErrQuotaExceeded.Code:
		return packets.ErrServerUnavailable
	case packets.ErrNotAuthorized.Code:
		return packets.ErrBadUsernameOrPassword // v3 0x05 "not authorized"
	}
	return c
}

// connectDeadline wraps a listener so every new connection must send its
// CONNECT within d: mochi reads the first packet with no deadline, so a
// socket that never sends one would stay open for good (and count).
type connectDeadline struct {
	listeners.Listener
	d time.Duration
}

func (l connectDeadline) Serve(establish listeners.EstablishFn) {
	l.Listener.Serve(func(id string, c net.Conn) error {
		_ = c.SetReadDeadline(time.Now().Add(l.d))
		return establish(id, c)
	})
}
