package broker

import "strings"

// covers reports whether every topic that filter can match is also matched
// by pattern. Both are MQTT topic filters (MQTT 5.0 §4.7): "+" is one level,
// "#" is the rest including the parent level. A concrete topic name is a
// filter without wildcards, so the same test answers "may publish here".
//
// This is containment, not overlap: a viewer allowed "plate-resort/#" may
// subscribe "plate-resort/+/state" but not "#", which would also cover
// topics outside its rights.
func covers(pattern, filter string) bool {
	for {
		p, pRest, pMore := strings.Cut(pattern, "/")
		f, fRest, fMore := strings.Cut(filter, "/")
		switch {
		case p == "#":
			return true
		case f == "#":
			return false // a multi-level filter is only inside a "#" pattern
		case p == "+":
			// any single level, including an empty one
		case p != f: // includes f == "+" against a literal
			return false
		}
		if !fMore {
			// "a/#" also matches "a" (MQTT 5.0 §4.7.1.2).
			return !pMore || pRest == "#"
		}
		if !pMore {
			return false
		}
		pattern, filter = pRest, fRest
	}
}

// stripShare removes the "$share/<group>/" prefix of a shared subscription
// (MQTT 5.0 §4.8.2) so the ACL judges the real filter.
func stripShare(filter string) string {
	rest, ok := strings.CutPrefix(filter, "$share/")
	if !ok {
		return filter
	}
	_, f, ok := strings.Cut(rest, "/")
	if !ok {
		return "" // malformed: matches nothing
	}
	return f
}
