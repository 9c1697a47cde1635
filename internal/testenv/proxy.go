package testenv

import (
	"errors"
	"net"
	"sync"
	"testing"
	"time"
)

// Proxy forwards TCP connections to one address (a broker) and can be
// switched to a blackhole: a broker that vanished without closing anything
// (a pulled cable, a frozen VM). While blackholed it forwards no byte in
// either direction and closes no socket: what the two ends send stays in
// the kernel's buffers, their writes block once those are full, and neither
// learns of the other's close. New connections are accepted and held
// silent, as a frozen broker's kernel completes the TCP handshake from its
// listen backlog and nothing answers the CONNECT. Restore lets everything
// that was held through, in order.
type Proxy struct {
	ln     net.Listener
	target string
	done   chan struct{}
	wg     sync.WaitGroup

	mu    sync.Mutex
	gate  chan struct{} // closed while forwarding; open (blocking) while blackholed
	conns map[net.Conn]bool
	held  []time.Time // accept times of connections that came during a blackhole
}

// StartProxy listens on a free loopback port and forwards to target until
// the test ends.
func StartProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	open := make(chan struct{})
	close(open)
	p := &Proxy{ln: ln, target: target, done: make(chan struct{}), gate: open, conns: map[net.Conn]bool{}}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.Close)
	return p
}

// Addr is the proxy's host:port.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Blackhole stops all forwarding, keeping every socket open.
func (p *Proxy) Blackhole() {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.gate:
		p.gate = make(chan struct{})
	default: // already blackholed
	}
}

// Restore forwards again, starting with whatever was held.
func (p *Proxy) Restore() {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.gate:
	default:
		close(p.gate)
	}
}

// Held lists when each connection accepted during a blackhole came: for a
// client of this proxy alone, the moment it gave up its silent connection
// and tried again.
func (p *Proxy) Held() []time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]time.Time(nil), p.held...)
}

// Close stops the proxy and closes every connection.
func (p *Proxy) Close() {
	p.mu.Lock()
	select {
	case <-p.done:
		p.mu.Unlock()
		return
	default:
	}
	close(p.done)
	_ = p.ln.Close()
	for c := range p.conns {
		_ = c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

// wait blocks while the proxy is blackholed; false when it was closed.
func (p *Proxy) wait() bool {
	p.mu.Lock()
	g := p.gate
	p.mu.Unlock()
	select {
	case <-g:
		return true
	case <-p.done:
		return false
	}
}

// track registers c to be closed by Close; false when the proxy is closed.
func (p *Proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.done:
		_ = c.Close()
		return false
	default:
	}
	p.conns[c] = true
	return true
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		p.mu.Lock()
		select {
		case <-p.gate:
		default:
			p.held = append(p.held, time.Now())
		}
		p.mu.Unlock()
		if !p.track(c) {
			return
		}
		p.wg.Add(1)
		go p.serve(c)
	}
}

// serve dials the target once the gate is open (a connection accepted
// during a blackhole reaches the broker only after Restore) and pipes both
// ways.
func (p *Proxy) serve(down net.Conn) {
	defer p.wg.Done()
	if !p.wait() {
		return
	}
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		_ = down.Close()
		return
	}
	if !p.track(up) {
		_ = down.Close()
		return
	}
	p.wg.Add(2)
	go p.pipe(up, down)
	go p.pipe(down, up)
}

// pipe copies src to dst. It reads only while the gate is open, and holds
// what a read already in progress brings (bytes or the end of the stream)
// until the gate opens again: during a blackhole neither end sees a byte
// or a close of the other.
func (p *Proxy) pipe(dst, src net.Conn) {
	defer p.wg.Done()
	defer func() { _ = dst.Close(); _ = src.Close() }()
	buf := make([]byte, 32<<10)
	for {
		if !p.wait() {
			return
		}
		n, err := src.Read(buf)
		if !p.wait() {
			return
		}
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}
