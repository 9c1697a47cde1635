package bus

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/plate-resort/plate-resort/driver/protocol"
)

// scripted is a Port that answers every write with canned bytes, split in
// chunks: the one place a fake is right, because no real servo can be made
// to send exactly these hostile byte sequences.
type scripted struct {
	mu    sync.Mutex
	reply [][]byte
	queue [][]byte
}

func (s *scripted) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.queue = append([][]byte(nil), s.reply...)
	return len(p), nil
}

func (s *scripted) Read(p []byte) (int, error) {
	s.mu.Lock()
	if len(s.queue) == 0 {
		s.mu.Unlock()
		time.Sleep(time.Millisecond) // like a read timeout: (0, nil)
		return 0, nil
	}
	c := s.queue[0]
	n := copy(p, c)
	if n < len(c) {
		s.queue[0] = c[n:]
	} else {
		s.queue = s.queue[1:]
	}
	s.mu.Unlock()
	return n, nil
}

func (s *scripted) Close() error                       { return nil }
func (s *scripted) SetReadTimeout(time.Duration) error { return nil }
func (s *scripted) ResetInputBuffer() error {
	s.mu.Lock()
	s.queue = nil
	s.mu.Unlock()
	return nil
}

func scriptedBus(chunks ...[]byte) *Bus {
	return New(&scripted{reply: chunks}, Config{Port: "script", Latency: time.Millisecond}, zerolog.Nop())
}

func TestHostileSerialBytes(t *testing.T) {
	good := protocol.Status(1, 0, []byte{0xA6, 0, 0, 0}).Marshal()
	other := protocol.Status(2, 0, []byte{1, 2, 3, 4}).Marshal()
	badCRC := append([]byte(nil), good...)
	badCRC[len(badCRC)-1] ^= 0x55
	short := protocol.Status(1, 0, []byte{0xA6}).Marshal()
	ctx := context.Background()
	cases := []struct {
		name   string
		chunks [][]byte
		want   error // nil: valid data 0xA6
	}{
		{"garbage then reply", [][]byte{{0x00, 0x13, 0xFF, 0x42}, good}, nil},
		{"reply split byte by byte", splitEach(good), nil},
		{"another id first", [][]byte{other, good}, nil},
		{"bad CRC only", [][]byte{badCRC}, ErrCorrupt},
		{"bad CRC then good", [][]byte{badCRC, good}, nil},
		// A status of the wrong size is a late reply to an earlier request:
		// discarded, never taken for this one's.
		{"wrong data length only", [][]byte{short}, ErrTimeout},
		{"late reply of another size, then ours", [][]byte{short, good}, nil},
		{"huge length field", [][]byte{{0xFF, 0xFF, 0xFD, 0x00, 0x01, 0xFF, 0xFF, 0x55, 0x00}}, ErrCorrupt},
		{"noise only", [][]byte{make([]byte, 300)}, ErrTimeout},
		{"silence", nil, ErrTimeout},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := scriptedBus(c.chunks...)
			b.cfg.ReadRetries = 0
			data, err := b.Read(ctx, 1, 132, 4)
			if c.want == nil {
				if err != nil || data[0] != 0xA6 {
					t.Fatalf("got %v %v", data, err)
				}
				return
			}
			if !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
		})
	}
}

// The flake seen under load: a write's reply slot receives the late
// 14-byte status of an earlier read first. The write must wait for its own
// (empty) status, not fail with "corrupt reply: 14 data bytes, want 0".
func TestLateReadReplyBeforeWriteStatus(t *testing.T) {
	late := protocol.Status(1, 0, make([]byte, 14)).Marshal()
	own := protocol.Status(1, 0, nil).Marshal()
	b := scriptedBus(late, own)
	if err := b.Write(context.Background(), 1, 100, []byte{180, 0}); err != nil {
		t.Fatalf("write with a late read reply in front of its status: %v", err)
	}
	if st := b.Stats(); st.Stray != 1 || st.Corrupt != 0 {
		t.Fatalf("stats %+v: want the late reply counted as stray, nothing corrupt", st)
	}
}

func splitEach(b []byte) [][]byte {
	out := make([][]byte, len(b))
	for i := range b {
		out[i] = b[i : i+1]
	}
	return out
}

// FuzzReceive: whatever bytes come back, a transaction ends with data of
// the right length or an error, within its deadline, and never panics.
func FuzzReceive(f *testing.F) {
	f.Add(protocol.Status(1, 0, []byte{1, 2, 3, 4}).Marshal())
	f.Add([]byte{0xFF, 0xFF, 0xFD, 0x00, 0x01, 0x08, 0x00, 0x55, 0x80})
	f.Add([]byte{0xFF, 0xFF, 0xFD, 0xFD, 0xFF, 0xFF, 0xFD, 0x00})
	f.Fuzz(func(t *testing.T, reply []byte) {
		b := scriptedBus(reply)
		b.cfg.ReadRetries = 0
		start := time.Now()
		data, err := b.Read(context.Background(), 1, 132, 4)
		if err == nil && len(data) != 4 {
			t.Fatalf("accepted %d data bytes", len(data))
		}
		if time.Since(start) > time.Second {
			t.Fatal("transaction overran its deadline")
		}
	})
}

// line is a Port whose input persists across writes, like a tty's: each
// write queues the next canned answer behind whatever is still unread.
type line struct {
	mu      sync.Mutex
	in      []byte
	answers [][]byte
	flushes int
}

func (l *line) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.answers) > 0 {
		l.in = append(l.in, l.answers[0]...)
		l.answers = l.answers[1:]
	}
	return len(p), nil
}

func (l *line) Read(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.in) == 0 {
		return 0, nil // a read timeout; receive's deadline ends the wait
	}
	n := copy(p, l.in)
	l.in = l.in[n:]
	return n, nil
}

func (l *line) Close() error                       { return nil }
func (l *line) SetReadTimeout(time.Duration) error { return nil }
func (l *line) ResetInputBuffer() error {
	l.mu.Lock()
	l.in = nil
	l.flushes++
	l.mu.Unlock()
	return nil
}

func (l *line) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.flushes
}

// The input flush before a write is skipped only after two transactions
// in a row that each took exactly one whole status packet off the line:
// after a timeout or bytes left behind a reply, the next two requests
// flush first.
func TestFlushOnlyWhenUnsettled(t *testing.T) {
	reply := func(v byte) []byte { return protocol.Status(1, 0, []byte{v, 0, 0, 0}).Marshal() }
	l := &line{answers: [][]byte{
		reply(1), reply(2), reply(3),
		nil, // silence: a timeout
		reply(5),
		append(reply(6), 0xFF, 0xFF, 0xFD), // a reply with bytes behind it
		reply(7), reply(8), reply(9),
	}}
	b := New(l, Config{Port: "line", Latency: time.Millisecond}, zerolog.Nop())
	b.cfg.ReadRetries = 0
	read := func(want byte, wantErr error, wantFlushes int) {
		t.Helper()
		data, err := b.Read(context.Background(), 1, 132, 4)
		if !errors.Is(err, wantErr) || (err == nil && data[0] != want) {
			t.Fatalf("read %v %v, want %d %v", data, err, want, wantErr)
		}
		if got := l.count(); got != wantFlushes {
			t.Fatalf("after reading %d: %d flushes, want %d", want, got, wantFlushes)
		}
	}
	read(1, nil, 1)        // a new bus flushes first
	read(2, nil, 2)        // one clean transaction is not enough
	read(3, nil, 2)        // two are: no flush
	read(0, ErrTimeout, 4) // receive's and once's flushes after the deadline
	read(5, nil, 5)        // the timeout unsettled the line
	read(6, nil, 6)        // leaves bytes behind
	read(7, nil, 7)        // unsettled by them
	read(8, nil, 8)        // one clean transaction again
	read(9, nil, 8)        // two: no flush
}
