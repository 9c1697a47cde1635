package contract

import (
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"
)

// Name rules. A device id and a hotel name are each one topic level that
// is also a valid Home Assistant node/object id ([a-zA-Z0-9_-]; see
// docs/mqtt.md), so a name can never smuggle a wildcard or an extra level
// into a topic or an ACL rule.
var (
	deviceIDRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$`)
	prefixRe   = regexp.MustCompile(`^[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*$`)
	hotelRe    = regexp.MustCompile(`^[A-Za-z0-9_-]{1,16}$`)
	workerRe   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$`)
)

// ReservedResponses is the topic level under the prefix where callers
// receive replies (<prefix>/responses/<user>/...); it can never be a device.
const ReservedResponses = "responses"

// ValidDeviceID checks a device id: 1-64 of [A-Za-z0-9_-], starting with a
// letter or digit. Ids starting with "_" are reserved for system topics
// (_fleet, _bridge), and "responses" for response topics.
func ValidDeviceID(id string) error {
	switch {
	case id == ReservedResponses:
		return fmt.Errorf("device id %q is reserved for response topics", id)
	case strings.HasPrefix(id, "_"):
		return fmt.Errorf("device id %q: ids starting with _ are reserved for system topics", clipName(id))
	case !deviceIDRe.MatchString(id):
		return fmt.Errorf("device id %q: want 1-64 of A-Z a-z 0-9 _ -, starting with a letter or digit", clipName(id))
	}
	return nil
}

// ValidPrefix checks a topic prefix: one or more levels of [A-Za-z0-9_-],
// no wildcards, no leading or trailing slash, at most 128 bytes.
func ValidPrefix(p string) error {
	switch {
	case p == "":
		return fmt.Errorf("topic prefix is empty; the default is %s", DefaultPrefix)
	case len(p) > 128:
		return fmt.Errorf("topic prefix is %d bytes: want at most 128", len(p))
	case !utf8.ValidString(p):
		return fmt.Errorf("topic prefix is not valid UTF-8")
	case strings.HasPrefix(p, "$"):
		return fmt.Errorf("topic prefix %q: topics starting with $ are reserved for the broker", clipName(p))
	case strings.HasPrefix(p, "/") || strings.HasSuffix(p, "/") || strings.Contains(p, "//"):
		return fmt.Errorf("topic prefix %q has an empty topic level", clipName(p))
	case !prefixRe.MatchString(p):
		return fmt.Errorf("topic prefix %q: want levels of A-Z a-z 0-9 _ - separated by /, no wildcards", clipName(p))
	}
	return nil
}

// ValidHotel checks a hotel name: 1-16 of [A-Za-z0-9_-].
func ValidHotel(h string) error {
	if !hotelRe.MatchString(h) {
		return fmt.Errorf("hotel name %q: want 1-16 of A-Z a-z 0-9 _ -", clipName(h))
	}
	return nil
}

// ValidWorkerName checks a bridge (Prefect worker) name, which is one level
// of <prefix>/_bridge/<worker>/availability.
func ValidWorkerName(w string) error {
	if !workerRe.MatchString(w) {
		return fmt.Errorf("worker name %q: want 1-100 of A-Z a-z 0-9 . _ -, starting with a letter or digit", clipName(w))
	}
	return nil
}

func clipName(s string) string { return truncate(s, 80) }
