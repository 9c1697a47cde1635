package prefect

import (
	"context"
	"fmt"
	"net/url"
)

// UpsertFlow creates the flow or returns the existing one with that name
// (POST /flows/ answers 200 with the existing flow, docs/prefect.md §8).
func (c *Client) UpsertFlow(ctx context.Context, name string, tags []string) (*Flow, error) {
	if tags == nil {
		tags = []string{}
	}
	body := struct {
		Name string   `json:"name"`
		Tags []string `json:"tags"`
	}{name, tags}
	var f Flow
	if err := c.do(ctx, call{method: "POST", path: "/flows/", body: body, out: &f, idempotent: true}); err != nil {
		return nil, fmt.Errorf("upsert flow %q: %w", name, err)
	}
	return &f, nil
}

// ReadFlowByName returns the flow or a 404 *APIError.
func (c *Client) ReadFlowByName(ctx context.Context, name string) (*Flow, error) {
	var f Flow
	if err := c.do(ctx, call{method: "GET", path: "/flows/name/" + url.PathEscape(name), out: &f, idempotent: true}); err != nil {
		return nil, err
	}
	return &f, nil
}
