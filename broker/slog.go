package broker

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"syscall"

	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/rs/zerolog"
)

// zerologHandler routes mochi's log/slog output into zerolog, so the broker
// logs in the same format, level and stream as the rest of the process.
type zerologHandler struct {
	log   zerolog.Logger
	attrs []slog.Attr
	group string
}

var _ slog.Handler = (*zerologHandler)(nil)

func newSlog(log zerolog.Logger) *slog.Logger {
	return slog.New(&zerologHandler{log: log})
}

func (h *zerologHandler) Enabled(_ context.Context, l slog.Level) bool {
	return h.log.GetLevel() <= zerologLevel(l)
}

func (h *zerologHandler) Handle(_ context.Context, r slog.Record) error {
	lvl := zerologLevel(r.Level)
	msg := r.Message
	var errAttr error
	r.Attrs(func(a slog.Attr) bool {
		if e, ok := a.Value.Any().(error); ok && a.Key == "error" {
			errAttr = e
		}
		return true
	})
	// mochi's listeners log every connection that ends as Warn with an
	// empty message: "error=EOF" on each ordinary disconnect (mochi #422),
	// and the CONNACK refusal that authHook already logged with more
	// context. Both are routine, so they go to debug.
	if msg == "" {
		msg = "client connection ended"
		if routineDisconnect(errAttr) {
			lvl = zerolog.DebugLevel
		}
	}
	// A refused publish ends in "error processing packet" too; authHook has
	// logged it with user and topic already.
	if errors.Is(errAttr, packets.ErrNotAuthorized) {
		lvl = zerolog.DebugLevel
	}
	// A fresh bolt file has no $SYS record yet; mochi's bolt hook logs that
	// lookup as an error though it then starts from zero, as it should.
	if msg == "failed to get data" && errAttr != nil && errAttr.Error() == "key not found" {
		lvl = zerolog.DebugLevel
	}
	ev := h.log.WithLevel(lvl)
	if !ev.Enabled() {
		return nil
	}
	for _, a := range h.attrs {
		ev = addAttr(ev, h.group, a)
	}
	r.Attrs(func(a slog.Attr) bool {
		ev = addAttr(ev, h.group, a)
		return true
	})
	ev.Msg(msg)
	return nil
}

func (h *zerologHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	c := *h
	c.attrs = append(append([]slog.Attr{}, h.attrs...), attrs...)
	return &c
}

func (h *zerologHandler) WithGroup(name string) slog.Handler {
	c := *h
	if c.group != "" {
		name = c.group + "." + name
	}
	c.group = name
	return &c
}

func addAttr(ev *zerolog.Event, group string, a slog.Attr) *zerolog.Event {
	key := a.Key
	if group != "" {
		key = group + "." + key
	}
	v := a.Value.Resolve()
	if pk, ok := v.Any().(packets.Packet); ok {
		// mochi attaches whole packets; the payload may be up to
		// max_packet_size and a CONNECT holds the password. Type and topic
		// are what an operator needs.
		return ev.Dict(key, zerolog.Dict().Uint8("type", pk.FixedHeader.Type).
			Str("topic", clip(pk.TopicName)).Uint16("packet_id", pk.PacketID))
	}
	switch v.Kind() {
	case slog.KindString:
		return ev.Str(key, v.String())
	case slog.KindInt64:
		return ev.Int64(key, v.Int64())
	case slog.KindUint64:
		return ev.Uint64(key, v.Uint64())
	case slog.KindBool:
		return ev.Bool(key, v.Bool())
	case slog.KindDuration:
		return ev.Dur(key, v.Duration())
	case slog.KindFloat64:
		return ev.Float64(key, v.Float64())
	}
	if e, ok := v.Any().(error); ok {
		return ev.AnErr(key, e)
	}
	return ev.Interface(key, v.Any())
}

func zerologLevel(l slog.Level) zerolog.Level {
	switch {
	case l >= slog.LevelError:
		return zerolog.ErrorLevel
	case l >= slog.LevelWarn:
		return zerolog.WarnLevel
	case l >= slog.LevelInfo:
		return zerolog.InfoLevel
	}
	return zerolog.DebugLevel
}

// routineDisconnect tells an ordinary end of a connection from a fault.
func routineDisconnect(err error) bool {
	if err == nil {
		return true
	}
	var code packets.Code
	if errors.As(err, &code) && code == packets.ErrBadUsernameOrPassword {
		return true // already logged by authHook with user and address
	}
	return errors.Is(err, packets.ErrNotAuthorized) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, net.ErrClosed) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE)
}
