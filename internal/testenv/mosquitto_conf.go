package testenv

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// StartMosquittoConf is StartMosquitto with extra appended to its
// configuration: users (password_file), a bridge connection to another
// broker (configs/mosquitto-lab-bridge.conf). Lines after a `connection`
// line belong to that bridge (mosquitto.conf(5), "Configuring Bridges"),
// so extra comes last.
func StartMosquittoConf(t testing.TB, extra string) *Mosquitto {
	t.Helper()
	NeedBinary(t, "mosquitto")
	dir := t.TempDir()
	m := &Mosquitto{Port: FreePort(t), t: t, log: &LockedBuffer{}}
	m.Addr = fmt.Sprintf("127.0.0.1:%d", m.Port)
	m.conf = filepath.Join(dir, "mosquitto.conf")
	// set_tcp_nodelay and max_queued_messages as configs/mosquitto.conf
	// recommends: with the defaults every QoS 1 round trip waits on Nagle's
	// algorithm and a burst beyond 1000 queued messages is dropped.
	conf := fmt.Sprintf("listener %d 127.0.0.1\npersistence true\npersistence_location %s/\nlog_dest stderr\n"+
		"set_tcp_nodelay true\nmax_queued_messages 100000\n", m.Port, dir)
	conf += extra + "\n"
	if err := os.WriteFile(m.conf, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	m.Start()
	t.Cleanup(func() {
		m.Stop()
		if t.Failed() {
			t.Logf("mosquitto %s log:\n%s", m.Addr, m.log.String())
		}
	})
	return m
}

// Log is the broker's output so far.
func (m *Mosquitto) Log() string { return m.log.String() }

// Dir is the directory of the broker's configuration and persistence.
func (m *Mosquitto) Dir() string { return filepath.Dir(m.conf) }
