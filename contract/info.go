package contract

// Info is the retained <base>/info payload: what the device is and what it
// accepts. The schemas in it are the ones the agent validates with.
type Info struct {
	Device        string            `json:"device"`
	Version       string            `json:"version"`
	Servo         Servo             `json:"servo"`
	Hotels        []HotelInfo       `json:"hotels"`
	RoomsPerHotel int               `json:"rooms_per_hotel"`
	Topics        map[string]string `json:"topics"`
	Commands      []*Spec           `json:"commands"`
	ErrorCodes    []Code            `json:"error_codes"`
}

// HotelInfo is one hotel and its angle in degrees.
type HotelInfo struct {
	Name  string  `json:"name"`
	Angle float64 `json:"angle"`
}

// InfoTopics is the topics map of info for t.
func InfoTopics(t Topics) map[string]string {
	return map[string]string{
		"commands": t.Command("<command>"), "replies": t.Reply("<command>"),
		"state": t.State(), "health": t.Health(), "availability": t.Availability(),
		"info": t.Info(), "events": t.Event(), "responses": ResponsesRoot(t.Prefix) + "<your-name>/...",
	}
}
