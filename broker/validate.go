package broker

import (
	"errors"
	"fmt"
	"github.com/plate-resort/plate-resort/contract"
	"math"
	"net"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/crypto/bcrypt"
)

// maxUsernameLen bounds a configured user name (MQTT allows 65535 bytes;
// nobody types more than this).
const maxUsernameLen = 256

// Validate checks the whole config and reports every problem at once, each
// naming its key, so one edit-and-retry fixes the file.
func (c Config) Validate() error {
	var errs []error
	add := func(key, format string, a ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, a...)))
	}

	if err := validatePrefix(c.Prefix); err != nil {
		add("prefix", "%v", err)
	}

	l := c.Listeners
	if l.TCP.Address == "" && l.TLS.Address == "" && l.WebSocket.Address == "" {
		add("listeners", "no MQTT listener: set listeners.tcp.address, listeners.tls.address or listeners.websocket.address")
	}
	seen := map[string]string{}
	for _, a := range []struct{ key, addr string }{
		{"listeners.tcp.address", l.TCP.Address},
		{"listeners.tls.address", l.TLS.Address},
		{"listeners.websocket.address", l.WebSocket.Address},
		{"listeners.health.address", l.Health.Address},
	} {
		if a.addr == "" {
			continue
		}
		if err := validateAddress(a.addr); err != nil {
			add(a.key, "%v", err)
			continue
		}
		if _, port, _ := net.SplitHostPort(a.addr); port != "0" {
			if other, dup := seen[a.addr]; dup {
				add(a.key, "%q is also %s", a.addr, other)
			}
			seen[a.addr] = a.key
		}
	}
	if l.Health.Metrics && l.Health.Address == "" {
		add("listeners.health.metrics", "true, but listeners.health.address is empty: /metrics is served on the health listener")
	}
	needCert := l.TLS.Address != "" || l.WebSocket.TLS
	if needCert && l.TLS.CertFile == "" {
		add("listeners.tls.cert_file", "required when the TLS listener or listeners.websocket.tls is on")
	}
	if needCert && l.TLS.KeyFile == "" {
		add("listeners.tls.key_file", "required when the TLS listener or listeners.websocket.tls is on")
	}
	if l.WebSocket.TLS && l.WebSocket.Address == "" {
		add("listeners.websocket.tls", "set, but listeners.websocket.address is empty")
	}

	if c.Anonymous.Enabled {
		if err := validateRole(c.Prefix, c.Anonymous.Role, c.Anonymous.Devices); err != nil {
			add("anonymous", "%v", err)
		}
	}

	names := make([]string, 0, len(c.Users))
	for n := range c.Users {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		u := c.Users[name]
		key := "users." + name
		if err := validateUsername(name); err != nil {
			add(key, "%v", err)
		}
		if u.Password != "" {
			add(key+".password", "plain-text passwords are refused; run `plate-resort passwd` and put its output in %s.password_hash", key)
		}
		switch {
		case u.PasswordHash == "":
			add(key+".password_hash", "missing; run `plate-resort passwd` to make one")
		default:
			if _, err := bcrypt.Cost([]byte(u.PasswordHash)); err != nil {
				add(key+".password_hash", "not a bcrypt hash (%v); run `plate-resort passwd` to make one", err)
			}
		}
		if err := validateRole(c.Prefix, u.Role, u.Devices); err != nil {
			add(key, "%v", err)
		}
	}
	if !c.Anonymous.Enabled && len(c.Users) == 0 {
		add("users", "no users and anonymous access is off: nobody could connect")
	}

	errs = append(errs, c.Limits.validate()...)
	return errors.Join(errs...)
}

func (lim LimitsConfig) validate() []error {
	var errs []error
	add := func(key, format string, a ...any) {
		errs = append(errs, fmt.Errorf("limits.%s: %s", key, fmt.Sprintf(format, a...)))
	}
	if lim.MaxClients < 1 {
		add("max_clients", "%d: want at least 1", lim.MaxClients)
	}
	// 268435455 is the largest MQTT remaining length (MQTT 5.0 §1.5.5).
	if lim.MaxPacketSize < 1024 || lim.MaxPacketSize > 268435455 {
		add("max_packet_size", "%d: want 1024 .. 268435455 bytes", lim.MaxPacketSize)
	}
	if lim.MaxInflight < 1 {
		add("max_inflight", "want at least 1")
	}
	if lim.ReceiveMaximum < 1 {
		add("receive_maximum", "want at least 1 (MQTT 5.0 §3.2.2.3.3)")
	}
	if lim.MaxPendingWrites < 1 {
		add("max_pending_writes", "%d: want at least 1", lim.MaxPendingWrites)
	}
	if lim.MaxSessionExpiry < 0 || lim.MaxSessionExpiry > time.Duration(math.MaxUint32)*time.Second {
		add("max_session_expiry", "%v: want 0 .. %d s", lim.MaxSessionExpiry, uint32(math.MaxUint32))
	}
	if lim.SysInterval < time.Second {
		add("sys_interval", "%v: want at least 1s", lim.SysInterval)
	}
	if lim.ConnectTimeout < time.Second || lim.ConnectTimeout > 5*time.Minute {
		add("connect_timeout", "%v: want 1s .. 5m", lim.ConnectTimeout)
	}
	if lim.MaxConnectionsPerUser < 1 || int64(lim.MaxConnectionsPerUser) > lim.MaxClients {
		add("max_connections_per_user", "%d: want 1 .. max_clients (%d)", lim.MaxConnectionsPerUser, lim.MaxClients)
	}
	return errs
}

func validatePrefix(p string) error {
	if p == "" {
		return errors.New("empty; the contract default is " + contract.DefaultPrefix)
	}
	return contract.ValidPrefix(p)
}

func validateAddress(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q is not host:port: %w", addr, err)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("%q: port %q is not 0..65535", addr, port)
	}
	if host != "" && net.ParseIP(host) == nil && strings.ContainsAny(host, " /\\@") {
		return fmt.Errorf("%q: host %q is neither an IP address nor a host name", addr, host)
	}
	return nil
}

func validateUsername(name string) error {
	switch {
	case name == "":
		return errors.New("empty user name")
	case len(name) > maxUsernameLen:
		return fmt.Errorf("user name of %d bytes: want at most %d", len(name), maxUsernameLen)
	case !utf8.ValidString(name):
		return errors.New("user name is not valid UTF-8")
	}
	for _, r := range name {
		if unicode.IsControl(r) || unicode.IsSpace(r) {
			return fmt.Errorf("user name %q holds a space or control character", name)
		}
	}
	return nil
}

func validateRole(prefix, role string, devices []string) error {
	if !validRoles[role] {
		return fmt.Errorf("role %q: want agent, operator, bridge, viewer or admin", role)
	}
	if len(devices) > 0 && (role == RoleViewer || role == RoleAdmin) {
		return fmt.Errorf("role %s takes no devices (devices apply to agent, operator and bridge)", role)
	}
	for _, d := range devices {
		if err := contract.ValidDeviceID(d); err != nil {
			return err
		}
	}
	_, err := rightsFor(prefix, role, devices)
	return err
}
