package agent

import (
	"context"
	"encoding/json"

	"github.com/plate-resort/plate-resort/contract"
	"github.com/plate-resort/plate-resort/internal/buildinfo"
)

func version() string { return buildinfo.Version }

// info describes the device: servo, hotels, topics, and the commands with
// their schemas as the service validates them now.
func (t *telemetry) info() contract.Info {
	cfg := t.resort.Config()
	hotels := make([]contract.HotelInfo, 0, len(cfg.Hotels))
	for _, h := range cfg.Hotels {
		angle, _ := cfg.HotelAngle(h)
		hotels = append(hotels, contract.HotelInfo{Name: h, Angle: degrees(angle)})
	}
	return contract.Info{
		Device: t.cfg.Device, Version: version(), Servo: servoInfo(t.resort.Identity()), Hotels: hotels,
		RoomsPerHotel: cfg.RoomsPerHotel, Topics: contract.InfoTopics(t.topics),
		Commands: t.status.catalog().Specs(), ErrorCodes: contract.Codes,
	}
}

func (t *telemetry) publishInfo(ctx context.Context) {
	payload, err := json.Marshal(t.info())
	if err != nil {
		t.log.Error().Err(err).Msg("info not encodable")
		return
	}
	t.publish(ctx, t.topics.Info(), payload, true)
}
