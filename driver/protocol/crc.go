package protocol

// CRC-16 of Protocol 2.0: polynomial 0x8005 (x^16+x^15+x^2+1), initial value
// 0, no reflection, no final xor, i.e. CRC-16/BUYPASS, check value 0xFEE8 for
// "123456789". It covers every byte from the first 0xFF of the header through
// the last (stuffed) parameter and is sent low byte first [e-Manual, "CRC"].

var crcTable = func() (t [256]uint16) {
	const poly = 0x8005
	for i := range t {
		c := uint16(i) << 8
		for range 8 {
			if c&0x8000 != 0 {
				c = c<<1 ^ poly
			} else {
				c <<= 1
			}
		}
		t[i] = c
	}
	return t
}()

// CRC16 returns the Protocol 2.0 checksum of b.
func CRC16(b []byte) uint16 {
	var crc uint16
	for _, x := range b {
		crc = crc<<8 ^ crcTable[byte(crc>>8)^x]
	}
	return crc
}
