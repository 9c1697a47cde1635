package testenv

import (
	"bufio"
	"errors"
	"io"
	"net"
	"testing"
	"time"
)

// The proxy forwards both ways; blackholed it delivers nothing and closes
// nothing, holding a new connection silent too; restored, what was held
// arrives in order.
func TestProxyBlackhole(t *testing.T) {
	echo, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer echo.Close()
	go func() {
		for {
			c, err := echo.Accept()
			if err != nil {
				return
			}
			go func() { _, _ = io.Copy(c, c); _ = c.Close() }()
		}
	}()
	p := StartProxy(t, echo.Addr().String())
	dial := func() (net.Conn, *bufio.Reader) {
		c, err := net.Dial("tcp", p.Addr())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		return c, bufio.NewReader(c)
	}
	line := func(c net.Conn, r *bufio.Reader, wait time.Duration) (string, error) {
		_ = c.SetReadDeadline(time.Now().Add(wait))
		return r.ReadString('\n')
	}
	c, r := dial()
	if _, err := io.WriteString(c, "one\n"); err != nil {
		t.Fatal(err)
	}
	if got, err := line(c, r, 5*time.Second); got != "one\n" {
		t.Fatalf("forwarded: %q %v", got, err)
	}

	p.Blackhole()
	if _, err := io.WriteString(c, "two\n"); err != nil {
		t.Fatal(err)
	}
	if got, err := line(c, r, 300*time.Millisecond); !isTimeout(err) {
		t.Fatalf("blackholed: read %q %v, want a timeout (no byte, no close)", got, err)
	}
	c2, r2 := dial() // accepted, held silent
	if _, err := io.WriteString(c2, "three\n"); err != nil {
		t.Fatal(err)
	}
	if got, err := line(c2, r2, 300*time.Millisecond); !isTimeout(err) {
		t.Fatalf("new connection while blackholed: read %q %v, want a timeout", got, err)
	}
	if len(p.Held()) != 1 {
		t.Fatalf("Held %v, want the one connection accepted during the blackhole", p.Held())
	}

	p.Restore()
	if got, err := line(c, r, 5*time.Second); got != "two\n" {
		t.Fatalf("held bytes after Restore: %q %v", got, err)
	}
	if got, err := line(c2, r2, 5*time.Second); got != "three\n" {
		t.Fatalf("held connection after Restore: %q %v", got, err)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return err != nil && errors.As(err, &ne) && ne.Timeout()
}
