package protocol

import (
	"bytes"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

func hx(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestCRCCheckValue(t *testing.T) {
	// CRC-16/BUYPASS check value (docs/dynamixel.md §1).
	if got := CRC16([]byte("123456789")); got != 0xFEE8 {
		t.Fatalf("CRC16(123456789) = %#04x, want 0xFEE8", got)
	}
}

// Vectors from the ROBOTIS e-Manual, Protocol 2.0 (docs/dynamixel.md §2), plus the
// computed ones that use the same CRC.
func TestEncodeVectors(t *testing.T) {
	sw, err := SyncWrite(116, SyncData{1, []byte{150, 0, 0, 0}}, SyncData{2, []byte{170, 0, 0, 0}})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		p    Packet
		want string
	}{
		{"V1 ping", Ping(1), "FF FF FD 00 01 03 00 01 19 4E"},
		{"V3 ping broadcast", Ping(BroadcastID), "FF FF FD 00 FE 03 00 01 31 42"},
		{"V4 read present position", Read(1, 132, 4), "FF FF FD 00 01 07 00 02 84 00 04 00 1D 15"},
		{"V6 write goal 512", Write(1, 116, []byte{0, 2, 0, 0}), "FF FF FD 00 01 09 00 03 74 00 00 02 00 00 CA 89"},
		{"V8 reg write", RegWrite(1, 104, []byte{200, 0, 0, 0}), "FF FF FD 00 01 09 00 04 68 00 C8 00 00 00 AE 8E"},
		{"V9 action", Action(1), "FF FF FD 00 01 03 00 05 02 CE"},
		{"V10 factory reset", FactoryReset(1, ResetAllButID), "FF FF FD 00 01 04 00 06 01 A1 E6"},
		{"V11 reboot", Reboot(1), "FF FF FD 00 01 03 00 08 2F 4E"},
		{"V13 sync read", SyncRead(132, 4, 1, 2), "FF FF FD 00 FE 09 00 82 84 00 04 00 01 02 CE FA"},
		{"V14 sync write", sw, "FF FF FD 00 FE 11 00 83 74 00 04 00 01 96 00 00 00 02 AA 00 00 00 82 87"},
		{"V2 ping reply", Status(1, 0, []byte{0x06, 0x04, 0x26}), "FF FF FD 00 01 07 00 55 00 06 04 26 65 5D"},
		{"V5 position reply", Status(1, 0, []byte{0xA6, 0, 0, 0}), "FF FF FD 00 01 08 00 55 00 A6 00 00 00 8C C0"},
		{"V7 empty ok", Status(1, 0, nil), "FF FF FD 00 01 04 00 55 00 A1 0C"},
		{"torque on", Write(1, 64, []byte{1}), "FF FF FD 00 01 06 00 03 40 00 01 DB 66"},
		{"goal pwm -180", Write(1, 100, []byte{0x4C, 0xFF}), "FF FF FD 00 01 07 00 03 64 00 4C FF 4F 27"},
		{"alert overload reply", Status(1, 0x80, []byte{0x20}), "FF FF FD 00 01 05 00 55 80 20 99 21"},
		{"stuffing", Write(1, 116, []byte{0xFF, 0xFF, 0xFD, 0x00}), "FF FF FD 00 01 0A 00 03 74 00 FF FF FD FD 00 21 E7"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := c.p.Marshal()
			if want := hx(t, c.want); !bytes.Equal(got, want) {
				t.Fatalf("Marshal = % X\n          want % X", got, want)
			}
			if c.p.WireLen() != len(got) {
				t.Fatalf("WireLen = %d, Marshal gave %d bytes", c.p.WireLen(), len(got))
			}
			// Every vector decodes back to the packet it came from.
			p, n, err := Decode(got)
			if err != nil || n != len(got) {
				t.Fatalf("Decode: n=%d err=%v", n, err)
			}
			if p.ID != c.p.ID || p.Instruction != c.p.Instruction || !bytes.Equal(p.Params, c.p.Params) {
				t.Fatalf("round trip: got %v, want %v", p, c.p)
			}
		})
	}
}

func TestDecodeStatusVectors(t *testing.T) {
	cases := []struct {
		name      string
		wire      string
		id        byte
		data      string
		alert     bool
		wantErrIs error
	}{
		{"V2 ping reply", "FF FF FD 00 01 07 00 55 00 06 04 26 65 5D", 1, "06 04 26", false, nil},
		{"V3b reply id 2", "FF FF FD 00 02 07 00 55 00 06 04 26 6F 6D", 2, "06 04 26", false, nil},
		{"V13b sync read reply", "FF FF FD 00 02 08 00 55 00 1F 08 00 00 BA BE", 2, "1F 08 00 00", false, nil},
		{"position -5", "FF FF FD 00 01 08 00 55 00 FB FF FF FF 95 E8", 1, "FB FF FF FF", false, nil},
		{"data limit error", "FF FF FD 00 01 04 00 55 06 B5 0C", 1, "", false, ErrDataLimit},
		{"alert only", "FF FF FD 00 01 04 00 55 80 A2 8F", 1, "", true, nil},
		{"alert with data", "FF FF FD 00 01 05 00 55 80 20 99 21", 1, "20", true, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, _, err := Decode(hx(t, c.wire))
			if err != nil {
				t.Fatal(err)
			}
			st, err := p.AsStatus()
			if err != nil {
				t.Fatal(err)
			}
			if st.ID != c.id || !bytes.Equal(st.Data, hx(t, c.data)) || st.Alert() != c.alert {
				t.Fatalf("got id %d data % X alert %v", st.ID, st.Data, st.Alert())
			}
			if c.wantErrIs == nil && st.Err() != nil {
				t.Fatalf("Err() = %v, want nil (an alert alone is not a failure)", st.Err())
			}
			if c.wantErrIs != nil && !errors.Is(st.Err(), c.wantErrIs) {
				t.Fatalf("Err() = %v, want %v", st.Err(), c.wantErrIs)
			}
		})
	}
}

func TestStatusErrorsAreTyped(t *testing.T) {
	for code, sentinel := range map[byte]error{1: ErrResultFail, 2: ErrInstruction, 3: ErrDeviceCRC, 4: ErrDataRange, 5: ErrDataLength, 6: ErrDataLimit, 7: ErrAccess} {
		err := StatusReply{ID: 3, Error: code | AlertBit}.Err()
		if !errors.Is(err, sentinel) {
			t.Errorf("code %d: %v is not %v", code, err, sentinel)
		}
		var se *StatusError
		if !errors.As(err, &se) || se.ID != 3 || !se.Alert {
			t.Errorf("code %d: As gave %+v", code, se)
		}
		if !strings.Contains(err.Error(), "servo id 3") {
			t.Errorf("message %q does not name the servo", err)
		}
	}
	if _, err := (Packet{ID: 1, Instruction: InstRead}).AsStatus(); !errors.Is(err, ErrNotStatus) {
		t.Fatalf("AsStatus of a read: %v", err)
	}
}

func TestDecodeStream(t *testing.T) {
	ping := hx(t, "FF FF FD 00 01 07 00 55 00 06 04 26 65 5D")
	stuffed := Write(1, 116, []byte{0xFF, 0xFF, 0xFD, 0x00}).Marshal()

	t.Run("garbage before header", func(t *testing.T) {
		buf := append([]byte{0x00, 0xFF, 0x12, 0xFF, 0xFF, 0x55}, ping...)
		p, n, err := Decode(buf)
		if err != nil || n != len(buf) || p.ID != 1 {
			t.Fatalf("p=%v n=%d err=%v", p, n, err)
		}
	})
	t.Run("split at every byte", func(t *testing.T) {
		for cut := 0; cut < len(ping); cut++ {
			_, n, err := Decode(ping[:cut])
			if !errors.Is(err, ErrIncomplete) {
				t.Fatalf("cut %d: err=%v", cut, err)
			}
			if n != 0 {
				t.Fatalf("cut %d: consumed %d bytes of a header prefix", cut, n)
			}
		}
	})
	t.Run("stuffed FF FF FD FD is not a header", func(t *testing.T) {
		p, n, err := Decode(stuffed)
		if err != nil || n != len(stuffed) || !bytes.Equal(p.Params, []byte{0x74, 0, 0xFF, 0xFF, 0xFD, 0x00}) {
			t.Fatalf("p=%v n=%d err=%v", p, n, err)
		}
	})
	t.Run("bad CRC then good packet", func(t *testing.T) {
		bad := append([]byte(nil), ping...)
		bad[len(bad)-1] ^= 0xFF
		buf := append(bad, ping...)
		_, n, err := Decode(buf)
		if !errors.Is(err, ErrCRC) || n < 1 {
			t.Fatalf("first decode: n=%d err=%v", n, err)
		}
		var p Packet
		for {
			buf = buf[n:]
			p, n, err = Decode(buf)
			if err == nil {
				break
			}
			if errors.Is(err, ErrIncomplete) {
				t.Fatal("never resynchronised on the good packet")
			}
		}
		if p.ID != 1 || n != len(buf) {
			t.Fatalf("after resync: p=%v n=%d len=%d", p, n, len(buf))
		}
	})
	t.Run("impossible lengths", func(t *testing.T) {
		for _, s := range []string{
			"FF FF FD 00 01 02 00 55 00",    // length below 3
			"FF FF FD 00 01 FF FF 55 00 00", // length above MaxLength
			"FF FF FD 00 FD 04 00 55 00 00", // id 0xFD
		} {
			_, n, err := Decode(hx(t, s))
			if !errors.Is(err, ErrLength) || n != 1 {
				t.Fatalf("%s: n=%d err=%v", s, n, err)
			}
		}
	})
	t.Run("noise only", func(t *testing.T) {
		noise := bytes.Repeat([]byte{0x12, 0x34}, 50)
		_, n, err := Decode(noise)
		if !errors.Is(err, ErrIncomplete) || n != len(noise) {
			t.Fatalf("n=%d err=%v", n, err)
		}
	})
}

func TestSyncWriteRefusesRaggedData(t *testing.T) {
	if _, err := SyncWrite(116, SyncData{1, []byte{1, 2}}, SyncData{2, []byte{1}}); err == nil {
		t.Fatal("ragged sync write accepted")
	}
	if _, err := SyncWrite(116); err == nil {
		t.Fatal("empty sync write accepted")
	}
}

// FuzzDecode feeds arbitrary bytes to the stream decoder: it must never
// panic, always make progress on corrupt input, and every packet it accepts
// must re-encode to bytes that decode to the same packet.
func FuzzDecode(f *testing.F) {
	f.Add(hx(f, "FF FF FD 00 01 07 00 55 00 06 04 26 65 5D"))
	f.Add(hx(f, "FF FF FD 00 01 0A 00 03 74 00 FF FF FD FD 00 21 E7"))
	f.Add(hx(f, "00 FF FF FD 00 01 04 00 55 80 A2 8F FF FF"))
	f.Add([]byte{0xFF, 0xFF, 0xFD, 0xFD, 0x00})
	f.Fuzz(func(t *testing.T, data []byte) {
		buf := data
		for steps := 0; len(buf) > 0; steps++ {
			if steps > len(data)+1 {
				t.Fatal("decoder did not make progress")
			}
			p, n, err := Decode(buf)
			if n < 0 || n > len(buf) {
				t.Fatalf("consumed %d of %d", n, len(buf))
			}
			if err == nil {
				q, m, err2 := Decode(p.Marshal())
				if err2 != nil || q.ID != p.ID || q.Instruction != p.Instruction || !bytes.Equal(q.Params, p.Params) || m != p.WireLen() {
					t.Fatalf("re-encode of %v failed: %v", p, err2)
				}
				_, _ = p.AsStatus()
			}
			if errors.Is(err, ErrIncomplete) {
				break
			}
			if n == 0 {
				t.Fatalf("no progress on %v", err)
			}
			buf = buf[n:]
		}
	})
}

func BenchmarkMarshalWrite4(b *testing.B) {
	p := Write(1, 116, []byte{0, 8, 0, 0})
	b.ReportAllocs()
	for b.Loop() {
		_ = p.Marshal()
	}
}

func BenchmarkDecodeStatus4(b *testing.B) {
	wire := Status(1, 0, []byte{0, 8, 0, 0}).Marshal()
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := Decode(wire); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCRC16(b *testing.B) {
	buf := make([]byte, 64)
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		_ = CRC16(buf)
	}
}
