package contract

import (
	"errors"
	"strings"
	"testing"
)

const replyID = "0b6f0a36-7c1e-4c43-9f0e-1f2b3c4d5e6f"

// A caller must never finish a command on a reply it misread: everything
// but a well-formed reply to exactly this id and command is ErrBadReply,
// with a message short enough to log.
func TestDecodeReplyHostile(t *testing.T) {
	cases := map[string]string{
		"empty":             ``,
		"not json":          `garbage`,
		"array":             `[1,2]`,
		"scalar":            `42`,
		"bad utf8":          "{\"id\":\"\xff\"}",
		"oversized":         `{"pad":"` + strings.Repeat("x", MaxReply) + `"}`,
		"wrong id":          `{"id":"other","command":"get_position","status":"ok"}`,
		"no id":             `{"command":"get_position","status":"ok"}`,
		"wrong command":     `{"id":"` + replyID + `","command":"reboot","status":"ok"}`,
		"id wrong type":     `{"id":7,"command":"get_position","status":"ok"}`,
		"status wrong type": `{"id":"` + replyID + `","command":"get_position","status":true}`,
		"status unknown":    `{"id":"` + replyID + `","command":"get_position","status":"maybe"}`,
		"error no code":     `{"id":"` + replyID + `","command":"get_position","status":"error"}`,
		"error wrong type":  `{"id":"` + replyID + `","command":"get_position","status":"error","error":"boom"}`,
		"truncated":         `{"id":"` + replyID + `","command":"get_po`,
	}
	for name, p := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := DecodeReply([]byte(p), replyID, GetPosition)
			if !errors.Is(err, ErrBadReply) {
				t.Fatalf("err = %v, want ErrBadReply", err)
			}
			if len(err.Error()) > 600 {
				t.Errorf("error message is %d bytes: must stay readable", len(err.Error()))
			}
		})
	}
}

func TestDecodeReplyError(t *testing.T) {
	r, err := DecodeReply([]byte(`{"id":"`+replyID+`","command":"activate_hotel","status":"error","error":{"code":"estop_latched","message":"reset first"},"result":{"success":false}}`), replyID, ActivateHotel)
	if err != nil || r.Error.Code != CodeEStopLatched || string(r.Result) != `{"success":false}` {
		t.Fatalf("%+v %v", r, err)
	}
	if r.IDString() != replyID || r.Error.Error() != "estop_latched: reset first" {
		t.Fatalf("id %q, error %q", r.IDString(), r.Error.Error())
	}
	// A hostile code or message is clipped, not passed on whole.
	r, err = DecodeReply([]byte(`{"id":"`+replyID+`","command":"go_home","status":"error","error":{"code":"`+strings.Repeat("c", 500)+`","message":"`+strings.Repeat("m", 5000)+`"}}`), replyID, GoHome)
	if err != nil || len(r.Error.Code) > 64+len("…") || len(r.Error.Message) > 2000+len("…") {
		t.Fatalf("not clipped: %v %d %d", err, len(r.Error.Code), len(r.Error.Message))
	}
}
