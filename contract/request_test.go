package contract

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

var now = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)

func testCatalog() *Catalog {
	return New(Options{Hotels: []string{"A", "B", "C", "D"}, MaxSpeed: 330, Ports: []string{"/dev/ttyUSB0", "/tmp/plate-resort-sim"}})
}

func TestParseAccepts(t *testing.T) {
	c := testCatalog()
	cases := []struct {
		cmd, payload string
		check        func(t *testing.T, r *Request)
	}{
		{"activate_hotel", "B", func(t *testing.T, r *Request) {
			if r.String("hotel") != "B" || !r.Bool("precise") {
				t.Fatalf("params %v", r.Params)
			}
		}},
		{"activate_hotel", `"c"`, func(t *testing.T, r *Request) {
			if r.String("hotel") != "C" {
				t.Fatalf("hotel %q, want canonical C", r.String("hotel"))
			}
		}},
		{"activate_hotel", `{"hotel":"A","precise":false,"id":"job-1","ttl_s":30}`, func(t *testing.T, r *Request) {
			if r.ID != "job-1" || r.Bool("precise") || !r.ExpiresAt.Equal(now.Add(30*time.Second)) {
				t.Fatalf("req %+v", r)
			}
		}},
		{"activate_hotel", `{"hotel":"A","overrides":{"pwm_max":400,"pulse_duration":0.2}}`, func(t *testing.T, r *Request) {
			o := r.Params["overrides"].(map[string]any)
			if o["pwm_max"] != 400 || o["pulse_duration"] != 0.2 {
				t.Fatalf("overrides %v", o)
			}
		}},
		{"move_to_angle", "90", func(t *testing.T, r *Request) {
			if f, _ := r.Float("angle"); f != 90 {
				t.Fatalf("angle %v", r.Params)
			}
		}},
		{"move_to_angle", " 359.5 \n", func(t *testing.T, r *Request) {
			if f, _ := r.Float("angle"); f != 359.5 {
				t.Fatalf("angle %v", r.Params)
			}
		}},
		{"set_speed", "50", func(t *testing.T, r *Request) {
			if v, _ := r.Int("speed"); v != 50 {
				t.Fatalf("speed %v", r.Params)
			}
		}},
		{"go_home", "", func(t *testing.T, r *Request) {
			if !r.Bool("precise") {
				t.Fatal("precise default not applied")
			}
		}},
		{"get_position", "{}", func(t *testing.T, r *Request) {}},
		{"cancel", "job-1", func(t *testing.T, r *Request) {
			if r.String("command_id") != "job-1" {
				t.Fatalf("%v", r.Params)
			}
		}},
		{"emergency_stop", `{"id":42}`, func(t *testing.T, r *Request) {
			if r.ID != "42" {
				t.Fatalf("numeric id became %q", r.ID)
			}
		}},
		{"get_health", `{"reply_to":"lab/me/replies"}`, func(t *testing.T, r *Request) {
			if r.ReplyTo != "lab/me/replies" {
				t.Fatal(r.ReplyTo)
			}
		}},
		{"get_health", `{"expires_at":"2026-11-22T12:00:05Z"}`, func(t *testing.T, r *Request) {
			if r.Expired(now) || !r.Expired(now.Add(5*time.Second)) {
				t.Fatal("expiry wrong")
			}
		}},
		{"connect", `{"port":"/tmp/plate-resort-sim","baudrate":57600,"motor_id":1}`, func(t *testing.T, r *Request) {}},
	}
	for _, tc := range cases {
		t.Run(tc.cmd+" "+tc.payload, func(t *testing.T) {
			r, err := c.Parse(tc.cmd, []byte(tc.payload), now)
			if err != nil {
				t.Fatalf("refused: %v", err)
			}
			tc.check(t, r)
		})
	}
}

// The hostile-payload table: every row must be refused with the right code
// and a message that names the problem.
func TestParseRefuses(t *testing.T) {
	c := testCatalog()
	cases := []struct {
		cmd, payload string
		code         Code
		mention      string
	}{
		{"fly_away", "", CodeUnknownCommand, "fly_away"},
		{"activate_hotel", "Z", CodeInvalidArg, "not one of A, B, C, D"},
		{"activate_hotel", `{"hotel":"A","hotel":"Z"}`, CodeBadRequest, "twice"},
		{"activate_hotel", `{"hotel":"A","speed":9}`, CodeInvalidArg, `unknown field "speed"`},
		{"activate_hotel", `{"hotel":7}`, CodeInvalidArg, "must be a string"},
		{"activate_hotel", `{}`, CodeInvalidArg, "missing required field \"hotel\""},
		{"activate_hotel", `{"hotel":"A","precise":"yes"}`, CodeInvalidArg, "true or false"},
		{"activate_hotel", `{"hotel":"A","overrides":{"pwm_max":9999}}`, CodeInvalidArg, "overrides.pwm_max"},
		{"activate_hotel", `{"hotel":"A","overrides":{"rm":1}}`, CodeInvalidArg, "overrides.rm"},
		{"activate_hotel", `{"hotel":"A"} trailing`, CodeBadRequest, "after the JSON"},
		{"activate_hotel", `{"hotel":"A"`, CodeBadRequest, "JSON"},
		{"activate_hotel", "\xff\xfe", CodeBadRequest, "UTF-8"},
		{"activate_hotel", "A\x00", CodeBadRequest, "control character"},
		{"activate_hotel", `["A"]`, CodeBadRequest, "single value"},
		{"move_to_angle", "NaN", CodeBadRequest, "not a number"},
		{"move_to_angle", "Infinity", CodeBadRequest, "not a number"},
		{"move_to_angle", "1e999", CodeInvalidArg, "finite"},
		{"move_to_angle", "360", CodeInvalidArg, "below 360"},
		{"move_to_angle", "-1", CodeInvalidArg, "minimum"},
		{"move_to_angle", `{"angle":"90"}`, CodeInvalidArg, "must be a number"},
		{"move_to_angle", `{"angle":null}`, CodeInvalidArg, "null"},
		{"set_speed", "50.5", CodeInvalidArg, "whole number"},
		{"set_speed", "0", CodeInvalidArg, "minimum"},
		{"set_speed", "331", CodeInvalidArg, "maximum 330"},
		{"set_speed", "true", CodeInvalidArg, "must be a number"},
		{"stop", "now", CodeBadRequest, "not a bare value"},
		{"get_position", `{"id":""}`, CodeBadRequest, "id must be"},
		{"get_position", `{"id":{"a":1}}`, CodeBadRequest, "id must be a string"},
		{"get_position", `{"id":"` + strings.Repeat("x", 200) + `"}`, CodeBadRequest, "id must be"},
		{"get_position", `{"ttl_s":-1}`, CodeBadRequest, "ttl_s"},
		{"get_position", `{"ttl_s":"10"}`, CodeBadRequest, "ttl_s"},
		{"get_position", `{"ttl_s":1e300}`, CodeBadRequest, "ttl_s"},
		{"get_position", `{"expires_at":"tomorrow"}`, CodeBadRequest, "RFC 3339"},
		{"get_position", `{"expires_at":"2026-11-22T12:00:05Z","ttl_s":3}`, CodeBadRequest, "not both"},
		{"get_position", `{"reply_to":"a/#"}`, CodeBadRequest, "wildcard"},
		{"get_position", `{"reply_to":"$SYS/x"}`, CodeBadRequest, "$-topic"},
		{"get_position", `{"reply_to":5}`, CodeBadRequest, "topic string"},
		{"connect", `{"port":"/etc/shadow"}`, CodeInvalidArg, "not one of"},
		{"connect", `{"baudrate":12345}`, CodeInvalidArg, "not one of"},
		{"connect", `{"motor_id":253}`, CodeInvalidArg, "maximum"},
		{"get_position", strings.Repeat("[", 20) + strings.Repeat("]", 20), CodeBadRequest, ""},
		{"activate_hotel", `{"hotel":"A","overrides":` + strings.Repeat(`{"a":`, 10) + `1` + strings.Repeat(`}`, 10) + `}`, CodeBadRequest, "deeper"},
		{"activate_hotel", strings.Repeat(" ", MaxPayload+1), CodeBadRequest, "at most"},
	}
	for _, tc := range cases {
		t.Run(tc.cmd+" "+truncate(tc.payload, 30), func(t *testing.T) {
			_, err := c.Parse(tc.cmd, []byte(tc.payload), now)
			if err == nil {
				t.Fatal("accepted")
			}
			if err.Code != tc.code || !strings.Contains(err.Message, tc.mention) {
				t.Fatalf("got %s %q, want %s mentioning %q", err.Code, err.Message, tc.code, tc.mention)
			}
		})
	}
}

func TestErrorKeepsID(t *testing.T) {
	r, err := testCatalog().Parse("activate_hotel", []byte(`{"id":"x1","hotel":"Q"}`), now)
	if err == nil || r.ID != "x1" {
		t.Fatalf("id %q err %v", r.ID, err)
	}
}

func TestSchemasAreJSONSchema(t *testing.T) {
	for _, s := range testCatalog().Specs() {
		b, err := json.Marshal(s.Params)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil || m["type"] != "object" || m["additionalProperties"] != false {
			t.Fatalf("%s: %s", s.Name, b)
		}
		if s.Bare != "" {
			if _, ok := s.Params.Properties[s.Bare]; !ok {
				t.Fatalf("%s: bare param %q not in schema", s.Name, s.Bare)
			}
		}
	}
	hotel := testCatalog().specs[ActivateHotel].Params.Properties["hotel"]
	if len(hotel.Enum) != 4 || *hotel.Position != 0 {
		t.Fatalf("hotel schema %+v", hotel)
	}
}

// FuzzParse: no payload on any command may panic the parser, and anything
// accepted must have passed its schema (re-validating the canonical params
// must succeed).
func FuzzParse(f *testing.F) {
	for _, s := range []string{"B", `{"hotel":"A","id":"1"}`, "90", `{"angle":1e308}`, `{"a":{"b":[1,2,{"c":null}]}}`, "\xff", `{"ttl_s":5,"reply_to":"x"}`, `{"lock_id":"l","timeout_s":5}`, `{"angle":1,"lock_id":"\u0007"}`} {
		f.Add("lock", []byte(s))
		f.Add("activate_hotel", []byte(s))
		f.Add("move_to_angle", []byte(s))
	}
	c := testCatalog()
	f.Fuzz(func(t *testing.T, cmd string, payload []byte) {
		r, err := c.Parse(cmd, payload, now)
		if err != nil {
			if err.Message == "" || err.Code == "" {
				t.Fatalf("empty error for %q", payload)
			}
			return
		}
		if r.Spec == nil || r.Params == nil {
			t.Fatal("accepted without spec or params")
		}
		b, merr := json.Marshal(r.Params)
		if merr != nil {
			t.Fatal(merr)
		}
		if _, err2 := c.Parse(cmd, b, now); err2 != nil {
			t.Fatalf("accepted %q but its canonical form %s is refused: %v", payload, b, err2)
		}
	})
}
