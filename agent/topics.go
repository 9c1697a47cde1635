package agent

import "strings"

// Topics of the contract (topics.md), built once from the config.
type Topics struct {
	Base, Cmd, Reply, State, Health, Availability, Info string
	Responses                                           string // <prefix>/responses/: conventional MQTT 5 response topics
	HAStatus                                            string
}

func newTopics(c Config) Topics {
	b := c.Base()
	return Topics{
		Base: b, Cmd: b + "/cmd/", Reply: b + "/reply/", State: b + "/state", Health: b + "/health",
		Availability: b + "/availability", Info: b + "/info", Responses: c.Prefix + "/responses/",
		HAStatus: c.HomeAssistant.Prefix + "/status",
	}
}

// replyAllowed says whether the agent may publish a reply to topic: a
// response topic must not be one of the agent's own telemetry topics, any
// other device's topics, or Home Assistant discovery, or a caller could
// make the agent overwrite retained state by naming it as a reply topic.
func (t Topics) replyAllowed(topic, prefix, haPrefix string) bool {
	switch {
	case strings.HasPrefix(topic, t.Reply), strings.HasPrefix(topic, t.Responses):
		return true
	case topic == prefix || strings.HasPrefix(topic, prefix+"/"):
		return false
	case topic == haPrefix || strings.HasPrefix(topic, haPrefix+"/"):
		return false
	}
	return true
}
