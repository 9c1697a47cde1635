package broker

import (
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/rs/zerolog"

	"github.com/plate-resort/plate-resort/internal/testenv"
)

func TestSlogToZerolog(t *testing.T) {
	buf := &testenv.LockedBuffer{}
	l := newSlog(zerolog.New(buf).Level(zerolog.InfoLevel)).With("listener", "tcp")
	l.Warn("", "error", io.EOF)                             // ordinary disconnect: debug, dropped
	l.Warn("", "error", packets.ErrBadUsernameOrPassword)   // already logged by authHook
	l.Warn("", "error", errors.New("tls: bad certificate")) // a real fault: kept
	l.Info("attached listener", "address", "127.0.0.1:1", "n", 3)
	l.Debug("noise")
	l.Warn("error processing packet", "error", errors.New("x"), "pk", packets.Packet{
		TopicName: "plate-resort/x", Payload: []byte("secret-payload"),
		Connect: packets.ConnectParams{Password: []byte("secret-pw")},
	})
	l.WithGroup("g").Error("grouped", slog.Int("k", 1))
	out := buf.String()
	for _, bad := range []string{"EOF", "bad username", "noise", "secret-payload", "secret-pw"} {
		if strings.Contains(out, bad) {
			t.Errorf("log holds %q:\n%s", bad, out)
		}
	}
	for _, want := range []string{`"level":"warn"`, "tls: bad certificate", `"listener":"tcp"`, `"n":3`,
		`"topic":"plate-resort/x"`, `"g.k":1`, `"level":"error"`, `"message":"client connection ended"`} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %s:\n%s", want, out)
		}
	}
}
