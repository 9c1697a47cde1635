package contract

import "strings"

// Topic levels below a device's base <prefix>/<device> (topics.md).
const (
	LevelCmd          = "cmd"
	LevelReply        = "reply"
	LevelState        = "state"
	LevelHealth       = "health"
	LevelAvailability = "availability"
	LevelInfo         = "info"
	LevelEvent        = "event"
)

// System topic levels directly below the prefix; device ids never start
// with "_" so these cannot collide with a device.
const (
	LevelFleet  = "_fleet"
	LevelBridge = "_bridge"
)

// Availability payloads (retained; "offline" is also the Last Will).
const (
	Online  = "online"
	Offline = "offline"
)

// UserProperty is the MQTT 5 user property the embedded broker sets on
// every command publish to the authenticated user name, replacing any the
// client sent, so the agent can say who sent what.
const UserProperty = "plate-resort-user"

// FlowRunProperty is the MQTT 5 user property the bridge sets to the
// Prefect flow run id of a command it publishes.
const FlowRunProperty = "plate-resort-flow-run"

// DefaultPrefix is the topic prefix when none is configured.
const DefaultPrefix = "plate-resort"

// DefaultHAPrefix is Home Assistant's default discovery prefix.
const DefaultHAPrefix = "homeassistant"

// Topics are one device's topics, built once from its prefix and id.
type Topics struct {
	Prefix string
	Device string
	Base   string // <prefix>/<device>
}

// DeviceTopics returns the topics of device under prefix.
func DeviceTopics(prefix, device string) Topics {
	return Topics{Prefix: prefix, Device: device, Base: prefix + "/" + device}
}

// Command is <base>/cmd/<name>.
func (t Topics) Command(name string) string { return t.Base + "/" + LevelCmd + "/" + name }

// CommandPrefix is <base>/cmd/, the part before the command name.
func (t Topics) CommandPrefix() string { return t.Base + "/" + LevelCmd + "/" }

// CommandFilter is <base>/cmd/+, what the agent subscribes to.
func (t Topics) CommandFilter() string { return t.CommandPrefix() + "+" }

// Reply is <base>/reply/<name>.
func (t Topics) Reply(name string) string { return t.Base + "/" + LevelReply + "/" + name }

// ReplyFilter is <base>/reply/#.
func (t Topics) ReplyFilter() string { return t.Base + "/" + LevelReply + "/#" }

// State is the retained <base>/state.
func (t Topics) State() string { return t.Base + "/" + LevelState }

// Health is the retained <base>/health.
func (t Topics) Health() string { return t.Base + "/" + LevelHealth }

// Availability is the retained <base>/availability (online/offline, Last Will).
func (t Topics) Availability() string { return t.Base + "/" + LevelAvailability }

// Info is the retained <base>/info.
func (t Topics) Info() string { return t.Base + "/" + LevelInfo }

// Event is the non-retained <base>/event stream.
func (t Topics) Event() string { return t.Base + "/" + LevelEvent }

// All is <base>/#.
func (t Topics) All() string { return t.Base + "/#" }

// Telemetry lists the topics an agent publishes retained.
func (t Topics) Telemetry() []string {
	return []string{t.State(), t.Health(), t.Availability(), t.Info()}
}

// ResponsesRoot is <prefix>/responses/, under which MQTT 5 callers name
// their Response Topic by convention.
func ResponsesRoot(prefix string) string { return prefix + "/" + ReservedResponses + "/" }

// Responses is <prefix>/responses/<who>, one caller's response topics.
func Responses(prefix, who string) string { return ResponsesRoot(prefix) + who }

// AllCommands is <prefix>/+/cmd/#: every device's commands.
func AllCommands(prefix string) string { return prefix + "/+/" + LevelCmd + "/#" }

// AllDevices is <prefix>/#.
func AllDevices(prefix string) string { return prefix + "/#" }

// AnyDevice is <prefix>/+/<level>: one level of every device, e.g. every
// device's availability.
func AnyDevice(prefix, level string) string { return prefix + "/+/" + level }

// FleetCommand is <prefix>/_fleet/cmd/<name>: a command every agent obeys
// (emergency_stop for operators, reset for admins).
func FleetCommand(prefix, name string) string {
	return prefix + "/" + LevelFleet + "/" + LevelCmd + "/" + name
}

// BridgeAvailability is <prefix>/_bridge/<worker>/availability.
func BridgeAvailability(prefix, worker string) string {
	return prefix + "/" + LevelBridge + "/" + worker + "/" + LevelAvailability
}

// ParseDeviceTopic splits <prefix>/<device>/<rest> into device and rest
// ("state", "cmd/get_position"). ok is false for topics outside prefix, for
// system levels and for ids that break the name rules.
func ParseDeviceTopic(prefix, topic string) (device, rest string, ok bool) {
	after, found := strings.CutPrefix(topic, prefix+"/")
	if !found {
		return "", "", false
	}
	device, rest, found = strings.Cut(after, "/")
	if !found || ValidDeviceID(device) != nil {
		return "", "", false
	}
	return device, rest, true
}

// HAStatus is Home Assistant's birth/will topic, <ha-prefix>/status.
func HAStatus(haPrefix string) string { return haPrefix + "/status" }

// HADiscovery is <ha-prefix>/<component>/<device>/<object>/config.
func HADiscovery(haPrefix, component, device, object string) string {
	return haPrefix + "/" + component + "/" + device + "/" + object + "/config"
}

// HADiscoveryFilters are the discovery topics a device's agent may publish.
func HADiscoveryFilters(haPrefix, device string) []string {
	return []string{
		haPrefix + "/+/" + device + "/+/config",    // one entity
		haPrefix + "/device/" + device + "/config", // device-based discovery
	}
}

// LevelHABridge is the discovery node id of bridges: device ids never start
// with "_", so no agent's discovery filter (HADiscoveryFilters) covers it.
const LevelHABridge = "_bridge"

// HABridgeDiscovery is <ha-prefix>/binary_sensor/_bridge/<object>/config, a
// bridge's connectivity sensor; object is the worker name with characters
// Home Assistant refuses in ids replaced.
func HABridgeDiscovery(haPrefix, object string) string {
	return HADiscovery(haPrefix, "binary_sensor", LevelHABridge, object)
}

// HAAll is <ha-prefix>/#.
func HAAll(haPrefix string) string { return haPrefix + "/#" }
