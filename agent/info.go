package agent

import (
	"context"
	"encoding/json"

	"github.com/plate-resort/plate-resort/contract"
	"github.com/plate-resort/plate-resort/driver/resort"
	"github.com/plate-resort/plate-resort/driver/xseries"
)

// Info is the retained <base>/info payload: what this device is and what it
// accepts. The schemas here are the ones the agent validates with.
type Info struct {
	Device        string            `json:"device"`
	Version       string            `json:"version"`
	Servo         resort.Identity   `json:"servo"`
	Hotels        []HotelInfo       `json:"hotels"`
	RoomsPerHotel int               `json:"rooms_per_hotel"`
	Topics        map[string]string `json:"topics"`
	Commands      []*contract.Spec  `json:"commands"`
	ErrorCodes    []contract.Code   `json:"error_codes"`
}

// HotelInfo is one hotel and its angle.
type HotelInfo struct {
	Name  string          `json:"name"`
	Angle xseries.Degrees `json:"angle"`
}

func (a *Agent) info() Info {
	cfg := a.resort.Config()
	hotels := make([]HotelInfo, 0, len(cfg.Hotels))
	for _, h := range cfg.Hotels {
		angle, _ := cfg.HotelAngle(h)
		hotels = append(hotels, HotelInfo{Name: h, Angle: xseries.Degrees(round2(float64(angle)))})
	}
	return Info{
		Device: a.cfg.Device, Version: version(), Servo: a.resort.Identity(), Hotels: hotels,
		RoomsPerHotel: cfg.RoomsPerHotel,
		Topics: map[string]string{
			"commands": a.topics.Cmd + "<command>", "replies": a.topics.Reply + "<command>",
			"state": a.topics.State, "health": a.topics.Health, "availability": a.topics.Availability,
			"info": a.topics.Info, "responses": a.topics.Responses + "<your-name>/...",
		},
		Commands: a.Catalog().Specs(), ErrorCodes: contract.Codes,
	}
}

func (a *Agent) publishInfo(ctx context.Context) {
	payload, err := json.Marshal(a.info())
	if err != nil {
		a.log.Error().Err(err).Msg("info not encodable")
		return
	}
	a.publish(ctx, a.topics.Info, payload, true)
}
