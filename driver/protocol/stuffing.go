package protocol

// Byte stuffing [e-Manual, "Packet Process"]: inside the instruction and
// parameter bytes, every FF FF FD becomes FF FF FD FD so that the header
// pattern never appears inside a packet. The CRC is computed over the stuffed
// bytes and LENGTH counts them.

func stuff(b []byte) []byte {
	var out []byte
	for i := 0; i < len(b); i++ {
		if i >= 2 && b[i] == 0xFD && b[i-1] == 0xFF && b[i-2] == 0xFF {
			if out == nil {
				out = make([]byte, i, len(b)+len(b)/3+1)
				copy(out, b[:i])
			}
			out = append(out, 0xFD, 0xFD)
			continue
		}
		if out != nil {
			out = append(out, b[i])
		}
	}
	if out == nil {
		return b
	}
	return out
}

// unstuff reverses stuff: FF FF FD FD becomes FF FF FD.
func unstuff(b []byte) []byte {
	var out []byte
	for i := 0; i < len(b); i++ {
		if i >= 3 && b[i] == 0xFD && b[i-1] == 0xFD && b[i-2] == 0xFF && b[i-3] == 0xFF {
			if out == nil {
				out = make([]byte, i, len(b))
				copy(out, b[:i])
			}
			continue
		}
		if out != nil {
			out = append(out, b[i])
		}
	}
	if out == nil {
		return b
	}
	return out
}
