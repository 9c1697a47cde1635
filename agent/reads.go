package agent

import (
	"context"

	"github.com/plate-resort/plate-resort/contract"
)

// The read commands: they answer at once, even during a move, each on a
// goroutine of its own.

func (s *service) doGetHealth(ctx context.Context, _ *contract.Request) (any, error) {
	return s.health(ctx)
}

func (s *service) doGetPosition(ctx context.Context, _ *contract.Request) (any, error) {
	pos, err := s.resort.Position(ctx)
	if err != nil {
		return nil, err
	}
	return contract.PositionResult{PositionDeg: degrees(pos)}, nil
}

func (s *service) doGetActiveHotel(ctx context.Context, _ *contract.Request) (any, error) {
	h, pos, err := s.resort.ActiveHotel(ctx)
	if err != nil {
		return nil, err
	}
	out := contract.ActiveHotelResult{PositionDeg: degrees(pos)}
	if h != "" {
		out.Hotel = &h
	}
	return out, nil
}
