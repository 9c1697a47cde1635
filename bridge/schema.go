package bridge

import (
	"sort"

	"github.com/plate-resort/plate-resort/contract"
)

// prefectSchema is the parameter_openapi_schema shape Prefect's own Python
// client produces (docs/prefect.md §8 "Parameter schema the UI renders"): an object with
// titled, positioned properties. The properties are the agent's own schema
// (the catalogue it validates with), renamed to the upstream parameter names,
// so Prefect refuses what the agent would refuse before a run is created.
type prefectSchema struct {
	Title       string                      `json:"title"`
	Type        string                      `json:"type"`
	Description string                      `json:"description,omitempty"`
	Properties  map[string]*contract.Schema `json:"properties"`
	Required    []string                    `json:"required"`
	// additionalProperties false: a misspelt parameter is refused at
	// creation (409) instead of being silently ignored.
	AdditionalProperties bool           `json:"additionalProperties"`
	Definitions          map[string]any `json:"definitions"`
}

// buildSchema turns the agent's spec into the deployment's schema for def.
func buildSchema(def *flowDef, spec *contract.Spec) *prefectSchema {
	out := &prefectSchema{Title: "Parameters", Type: "object", Description: spec.Description,
		Properties: map[string]*contract.Schema{}, Required: []string{}, Definitions: map[string]any{}}
	toPrefect := map[string]string{}
	for p, a := range def.Rename {
		toPrefect[a] = p
	}
	name := func(agentName string) string {
		if p, ok := toPrefect[agentName]; ok {
			return p
		}
		return agentName
	}
	if spec.Params != nil {
		for k, s := range spec.Params.Properties {
			c := s.Clone()
			c.Title = name(k)
			out.Properties[name(k)] = c
		}
		for _, r := range spec.Params.Required {
			out.Required = append(out.Required, name(r))
		}
	}
	extra := make([]string, 0, len(def.Accepted))
	for k := range def.Accepted {
		extra = append(extra, k)
	}
	sort.Strings(extra)
	next := len(out.Properties)
	for _, k := range extra {
		c := def.Accepted[k].Clone()
		c.Title = k
		pos := next
		c.Position = &pos
		next++
		out.Properties[k] = c
	}
	return out
}

// toAgentParams translates a run's parameters (upstream names) into the
// agent's payload: renamed, upstream-only parameters and nulls dropped
// (Python callers pass None for "not given").
func toAgentParams(def *flowDef, params map[string]any) map[string]any {
	out := make(map[string]any, len(params))
	for k, v := range params {
		if v == nil {
			continue
		}
		if _, ok := def.Accepted[k]; ok {
			continue
		}
		if a, ok := def.Rename[k]; ok {
			k = a
		}
		out[k] = v
	}
	return out
}
