package broker

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/listeners"
)

// While the TCP listener closes, its clients get a DISCONNECT (0x8B,
// server shutting down) and reconnect at once, to the first broker of
// their list, often this one (docs/mqtt.md §4). Such a reconnect must be
// refused or closed, never accepted and left unanswered: the client would
// wait its whole connect timeout before trying the next broker. Here the
// reconnect is made from inside closeClients, when mochi v2.7.9 still
// listened (third_party/mochi-mqtt-server/README.md).
func TestListenerRefusesReconnectWhileClosing(t *testing.T) {
	l := listeners.NewTCP(listeners.Config{ID: "t", Address: "127.0.0.1:0"})
	if err := l.Init(slog.New(slog.NewTextHandler(io.Discard, nil))); err != nil {
		t.Fatal(err)
	}
	established := make(chan net.Conn, 1)
	go l.Serve(func(_ string, c net.Conn) error { established <- c; return nil })
	addr := l.Address()

	l.Close(func(string) {
		c, err := net.DialTimeout("tcp", addr, 2*time.Second)
		if err != nil {
			return // refused: the client tries its next broker at once
		}
		defer c.Close()
		_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
		_, err = c.Read(make([]byte, 1))
		if errors.Is(err, os.ErrDeadlineExceeded) {
			t.Error("a connection made while the listener closed was accepted and left open")
		}
	})
	select {
	case c := <-established:
		_ = c.Close()
		t.Error("a connection made while the listener closed was served")
	default:
	}
}
