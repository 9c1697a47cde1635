package main

import (
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

func TestPasswdHash(t *testing.T) {
	pw, err := readPasswordLine(strings.NewReader("s3cret\r\nignored second line\n"))
	if err != nil || string(pw) != "s3cret" {
		t.Fatalf("readPasswordLine = %q, %v", pw, err)
	}
	h, err := hashPassword(pw, bcrypt.MinCost)
	if err != nil || bcrypt.CompareHashAndPassword(h, []byte("s3cret")) != nil {
		t.Fatalf("hash does not verify: %s %v", h, err)
	}
	for name, in := range map[string]string{
		"empty":     "",
		"only EOL":  "\n",
		"oversized": strings.Repeat("x", 10<<20), // read is bounded; refused as too long
		"NUL":       "a\x00b\n",
	} {
		pw, err := readPasswordLine(strings.NewReader(in))
		if err != nil {
			t.Fatalf("%s: read: %v", name, err)
		}
		if _, err := hashPassword(pw, bcrypt.MinCost); err == nil {
			t.Errorf("%s: hashed, want refused", name)
		}
	}
}
