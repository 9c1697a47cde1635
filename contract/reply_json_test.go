package contract

import (
	"bytes"
	"encoding/json"
	"math/rand"
	"testing"
	"time"
)

// AppendJSON must write the bytes encoding/json writes, whatever the reply
// holds: plain values take the fast path, the rest falls back.
func TestReplyAppendJSONIsEncodingJSON(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	strs := []string{"", "get_position", "ok", "error", "a-1_B.2", `q"uote`, `back\slash`, "<b>&amp;</b>", "tab\there",
		"new\nline", "é", "\u2028", "\x7f", "\xff\xfe", "ctrl\x01", "emoji 🚀", "k:v {x} [y]"}
	results := []json.RawMessage{nil, json.RawMessage(`{"position_deg":108.72}`), json.RawMessage(`{"a": 1}`),
		json.RawMessage(`"<tag>"`), json.RawMessage(`[1,2,{"b":"c\"d"}]`), json.RawMessage(`{"s":"\u003c"}`),
		json.RawMessage(`null`), json.RawMessage(`{"x":"é"}`), json.RawMessage(" 5 "), json.RawMessage(`{"a":1`)}
	times := []time.Time{
		time.Date(2026, 11, 30, 18, 42, 21, 123456789, time.UTC),
		time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("X", 3600)),
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
		{},
	}
	pick := func(n int) int { return rng.Intn(n) }
	for i := 0; i < 5000; i++ {
		r := Reply{Command: strs[pick(len(strs))], Status: strs[pick(len(strs))], Result: results[pick(len(results))],
			ReceivedAt: times[pick(len(times))], FinishedAt: times[pick(len(times))], Duplicate: pick(2) == 0}
		if pick(2) == 0 {
			id := strs[pick(len(strs))]
			r.ID = &id
		}
		if pick(2) == 0 {
			r.Error = &Error{Code: Code(strs[pick(len(strs))]), Message: strs[pick(len(strs))]}
		}
		if pick(2) == 0 {
			st := times[pick(len(times))]
			r.StartedAt = &st
		}
		want, werr := json.Marshal(&r)
		got, gerr := r.AppendJSON([]byte("prefix"))
		if (werr == nil) != (gerr == nil) {
			t.Fatalf("%+v: error %v, encoding/json %v", r, gerr, werr)
		}
		if werr == nil && !bytes.Equal(got, append([]byte("prefix"), want...)) {
			t.Fatalf("%+v:\n got  %s\n want prefix%s", r, got, want)
		}
	}
}

func BenchmarkReplyJSON(b *testing.B) {
	id := "17"
	st := time.Now().UTC()
	r := Reply{ID: &id, Command: GetPosition, Status: StatusOK, Result: json.RawMessage(`{"position_deg":108.72}`),
		ReceivedAt: st, StartedAt: &st, FinishedAt: st}
	b.Run("encoding/json", func(b *testing.B) {
		for b.Loop() {
			_, _ = json.Marshal(&r)
		}
	})
	b.Run("AppendJSON", func(b *testing.B) {
		for b.Loop() {
			_, _ = r.AppendJSON(make([]byte, 0, 384))
		}
	})
}
