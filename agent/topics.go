package agent

import (
	"strings"

	"github.com/plate-resort/plate-resort/contract"
)

// replyAllowed says whether the agent may publish a reply to topic: a
// response topic must not be one of the agent's own telemetry topics, any
// other device's topics, or Home Assistant discovery, or a caller could
// make the agent overwrite retained state by naming it as a reply topic.
func replyAllowed(t contract.Topics, topic, haPrefix string) bool {
	switch {
	case strings.HasPrefix(topic, t.Base+"/"+contract.LevelReply+"/"):
		return true
	case strings.HasPrefix(topic, contract.ResponsesRoot(t.Prefix)):
		// <prefix>/responses/<who>/<this device>[/...] only: the embedded
		// broker allows an agent nothing else there (no device answers in
		// another's name), and the agent keeps that rule on any broker.
		who, rest, _ := strings.Cut(strings.TrimPrefix(topic, contract.ResponsesRoot(t.Prefix)), "/")
		dev, _, _ := strings.Cut(rest, "/")
		return who != "" && dev == t.Device
	case topic == t.Prefix || strings.HasPrefix(topic, t.Prefix+"/"):
		return false
	case topic == haPrefix || strings.HasPrefix(topic, haPrefix+"/"):
		return false
	}
	return true
}
