package prefect

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"time"
)

// Artifact types the Prefect UI renders (src/prefect/artifacts.py:
// MarkdownArtifact, TableArtifact; docs/prefect.md §16).
const (
	ArtifactMarkdown = "markdown"
	ArtifactTable    = "table"
)

// ArtifactCreate is the body of POST /artifacts/ (ArtifactCreate in
// src/prefect/server/schemas/actions.py; extra keys are refused, so only
// these). Data is the markdown text for a markdown artifact and, for a
// table, the table as a JSON string, as Python's TableArtifact sends it.
type ArtifactCreate struct {
	Key         string `json:"key,omitempty"`
	Type        string `json:"type"`
	Description string `json:"description,omitempty"`
	Data        any    `json:"data"`
	FlowRunID   string `json:"flow_run_id,omitempty"`
}

// Artifact is an artifact as the server returns it (core.Artifact).
type Artifact struct {
	ID          string          `json:"id"`
	Key         *string         `json:"key"`
	Type        *string         `json:"type"`
	Description *string         `json:"description"`
	Data        json.RawMessage `json:"data"`
	FlowRunID   *string         `json:"flow_run_id"`
	Created     time.Time       `json:"created"`
}

// artifactKey is the rule of Prefect's ArtifactKey (src/prefect/types/names.py:
// lowercase letters, numbers and dashes only); anything else is a 422.
var artifactKey = regexp.MustCompile(`^[a-z0-9-]*$`)

// ErrBadArtifactKey is returned before any request for a key the server
// would refuse.
var ErrBadArtifactKey = errors.New("prefect: artifact key must only contain lowercase letters, numbers and dashes")

// CreateArtifact creates one artifact. Not retried: a lost response would
// create a second copy (the POST is not idempotent), and an artifact is a
// report, never worth delaying a caller for.
func (c *Client) CreateArtifact(ctx context.Context, a ArtifactCreate) (*Artifact, error) {
	if !artifactKey.MatchString(a.Key) {
		return nil, fmt.Errorf("%w: %q", ErrBadArtifactKey, clip(a.Key))
	}
	var out Artifact
	if err := c.do(ctx, call{method: "POST", path: "/artifacts/", body: a, out: &out, idempotent: false}); err != nil {
		return nil, err
	}
	if out.ID == "" {
		return nil, fmt.Errorf("prefect: POST /artifacts/: response has no artifact id")
	}
	return &out, nil
}

// FilterArtifacts returns the artifacts of one flow run, newest first
// (POST /artifacts/filter, src/prefect/server/api/artifacts.py read_artifacts).
func (c *Client) FilterArtifacts(ctx context.Context, flowRunID string) ([]Artifact, error) {
	body := map[string]any{
		"artifacts": map[string]any{"flow_run_id": anyOf[string]{[]string{flowRunID}}},
		"sort":      "CREATED_DESC",
		"limit":     MaxScheduledRunsLimit,
	}
	var out []Artifact
	err := c.do(ctx, call{method: "POST", path: "/artifacts/filter", body: body, out: &out, idempotent: true})
	return out, err
}
