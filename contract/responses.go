package contract

import "strings"

// A caller's response topics are <prefix>/responses/<who>/<sub>: one
// subscription (ResponsesFilter) covers them all, and <sub> lets a caller
// tell its requests apart (the bridge uses one per device).

// ResponseTopic is <prefix>/responses/<who>/<sub>.
func ResponseTopic(prefix, who, sub string) string { return Responses(prefix, who) + "/" + sub }

// ResponsesFilter is <prefix>/responses/<who>/#: every response topic of who.
func ResponsesFilter(prefix, who string) string { return Responses(prefix, who) + "/#" }

// IsResponseTopic reports whether topic is below <prefix>/responses/<who>/,
// that is, one that ResponsesFilter(prefix, who) matches.
func IsResponseTopic(prefix, who, topic string) bool {
	return strings.HasPrefix(topic, Responses(prefix, who)+"/")
}
