package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/pflag"
	"golang.org/x/crypto/bcrypt"
	"golang.org/x/term"
)

func init() {
	register("passwd", "read a password and print its bcrypt hash for a broker user", runPasswd)
}

// maxPasswordBytes is bcrypt's input limit; longer input would be silently
// truncated by older implementations and is refused by x/crypto.
const maxPasswordBytes = 72

func runPasswd(ctx context.Context, args []string) error {
	fs := pflag.NewFlagSet("passwd", pflag.ContinueOnError)
	cost := fs.Int("cost", bcrypt.DefaultCost, fmt.Sprintf("bcrypt cost, %d..%d (each step doubles the time of a login)", bcrypt.DefaultCost, 16))
	fs.Usage = func() {
		fmt.Fprintf(os.Stderr, "usage: plate-resort passwd [--cost N] < password\n\n"+
			"Prints the bcrypt hash for users.<name>.password_hash in the broker config.\n"+
			"On a terminal it asks twice without echo; otherwise it reads the first line of stdin.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return errors.New("the password is read from stdin, never from the command line (it would land in shell history)")
	}
	if *cost < bcrypt.DefaultCost || *cost > 16 {
		return fmt.Errorf("--cost %d: want %d..16", *cost, bcrypt.DefaultCost)
	}
	var pw []byte
	var err error
	if fd := int(os.Stdin.Fd()); term.IsTerminal(fd) {
		pw, err = promptPassword(fd)
	} else {
		pw, err = readPasswordLine(os.Stdin)
	}
	if err != nil {
		return err
	}
	hash, err := hashPassword(pw, *cost)
	if err != nil {
		return err
	}
	fmt.Println(string(hash))
	return nil
}

func promptPassword(fd int) ([]byte, error) {
	fmt.Fprint(os.Stderr, "Password: ")
	pw, err := term.ReadPassword(fd)
	fmt.Fprintln(os.Stderr)
	if err != nil {
		return nil, fmt.Errorf("read password: %w", err)
	}
	fmt.Fprint(os.Stderr, "Again: ")
	again, err := term.ReadPassword(fd)
	fmt.Fprintln(os.Stderr)
	if err != nil {
		return nil, fmt.Errorf("read password: %w", err)
	}
	if !bytes.Equal(pw, again) {
		return nil, errors.New("the two passwords differ")
	}
	return pw, nil
}

// readPasswordLine reads the first line of r, without its line ending. It
// reads at most a little more than bcrypt accepts, so a huge or endless
// stdin cannot exhaust memory.
func readPasswordLine(r io.Reader) ([]byte, error) {
	br := bufio.NewReader(io.LimitReader(r, maxPasswordBytes+2))
	line, err := br.ReadBytes('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("read password from stdin: %w", err)
	}
	line = bytes.TrimSuffix(line, []byte("\n"))
	line = bytes.TrimSuffix(line, []byte("\r"))
	return line, nil
}

func hashPassword(pw []byte, cost int) ([]byte, error) {
	switch {
	case len(pw) == 0:
		return nil, errors.New("empty password")
	case len(pw) > maxPasswordBytes:
		return nil, fmt.Errorf("password longer than %d bytes, the bcrypt limit", maxPasswordBytes)
	case bytes.ContainsAny(pw, "\x00\n"):
		return nil, errors.New("password holds a NUL or newline")
	}
	hash, err := bcrypt.GenerateFromPassword(pw, cost)
	if err != nil {
		return nil, fmt.Errorf("bcrypt: %w", err)
	}
	return hash, nil
}
