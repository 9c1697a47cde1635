// Package buildinfo holds the version stamped in at link time
// (-ldflags "-X github.com/plate-resort/plate-resort/internal/buildinfo.Version=v1.2.3").
package buildinfo

// Version of this build; "dev" when built without the Makefile.
var Version = "dev"
