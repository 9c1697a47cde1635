package prefect

import (
	"context"
	"fmt"
)

// Health checks GET /health, which answers JSON true when the API is up. It is
// exempt from auth (docs/prefect.md §11), so it does not prove the credentials are right.
func (c *Client) Health(ctx context.Context) error {
	var ok bool
	if err := c.do(ctx, call{method: "GET", path: "/health", out: &ok, idempotent: true}); err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("prefect: GET /health: server reports unhealthy")
	}
	return nil
}
