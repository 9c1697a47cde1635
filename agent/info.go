package agent

import (
	"context"
	"encoding/json"

	"github.com/plate-resort/plate-resort/contract"
)

func (a *Agent) info() contract.Info {
	cfg := a.resort.Config()
	hotels := make([]contract.HotelInfo, 0, len(cfg.Hotels))
	for _, h := range cfg.Hotels {
		angle, _ := cfg.HotelAngle(h)
		hotels = append(hotels, contract.HotelInfo{Name: h, Angle: degrees(angle)})
	}
	return contract.Info{
		Device: a.cfg.Device, Version: version(), Servo: servoInfo(a.resort.Identity()), Hotels: hotels,
		RoomsPerHotel: cfg.RoomsPerHotel, Topics: contract.InfoTopics(a.topics),
		Commands: a.Catalog().Specs(), ErrorCodes: contract.Codes,
	}
}

func (a *Agent) publishInfo(ctx context.Context) {
	payload, err := json.Marshal(a.info())
	if err != nil {
		a.log.Error().Err(err).Msg("info not encodable")
		return
	}
	a.publish(ctx, a.topics.Info(), payload, true)
}
