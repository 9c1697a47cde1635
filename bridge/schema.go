package bridge

import (
	"sort"
	"strings"

	"github.com/plate-resort/plate-resort/contract"
)

// prefectSchema is the parameter_openapi_schema shape Prefect's own Python
// client produces (docs/prefect.md §8 "Parameter schema the UI renders"): an object with
// titled, positioned properties. The properties are the agent's own schema
// (the catalogue it validates with), renamed to the upstream parameter names,
// so Prefect refuses what the agent would refuse before a run is created.
type prefectSchema struct {
	Title       string `json:"title"`
	Type        string `json:"type"`
	Description string `json:"description,omitempty"`
	// Properties are *contract.Schema, or *optionalObject for a nested
	// object (the overrides).
	Properties map[string]any `json:"properties"`
	Required   []string       `json:"required"`
	// additionalProperties false: a misspelt parameter is refused at
	// creation (409) instead of being silently ignored.
	AdditionalProperties bool           `json:"additionalProperties"`
	Definitions          map[string]any `json:"definitions"`
}

// optionalObject is how a nested object parameter (the overrides) reaches
// the form: anyOf [null, object], the shape Python gives an Optional model
// parameter. Prefect's form shows an anyOf as a choice of its members and,
// with no value, picks the first (prefect-ui-library
// src/schemas/utilities/properties.ts getInitialIndexForSchemaPropertyAnyOfValue),
// so the form opens with "Agent's settings" chosen and the overrides box
// closed (docs/prefect.md §17). The agent never sees the null: toAgentParams
// drops it.
type optionalObject struct {
	Title       string `json:"title"`
	Description string `json:"description"`
	Position    *int   `json:"position,omitempty"`
	AnyOf       []any  `json:"anyOf"`
}

// nullOption is the "leave it to the agent" member of an optionalObject.
type nullOption struct {
	Type  string `json:"type"`
	Title string `json:"title"`
}

// builtinCatalog supplies titles and descriptions an older agent's info
// lacks: they live in the contract (contract/catalog.go), so every agent of
// this version publishes them itself.
var builtinCatalog = contract.New(contract.Options{})

// buildSchema turns the agent's spec into the deployment's schema for def.
func buildSchema(def *flowDef, spec *contract.Spec) *prefectSchema {
	out := &prefectSchema{Title: "Parameters", Type: "object", Description: deploymentDescription(def, spec),
		Properties: map[string]any{}, Required: []string{}, Definitions: map[string]any{}}
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
	var builtin *contract.Schema
	if b, ok := builtinCatalog.Lookup(spec.Name); ok {
		builtin = b.Params
	}
	if spec.Params != nil {
		for k, s := range spec.Params.Properties {
			c := s.Clone()
			fillText(c, k, builtin)
			if c.Type == "object" {
				out.Properties[name(k)] = optional(c)
				continue
			}
			out.Properties[name(k)] = c
		}
		for _, r := range spec.Params.Required {
			if def.FillsLockID && r == contract.LockIDField {
				continue // the bridge fills it in (lock.go)
			}
			out.Required = append(out.Required, name(r))
		}
		if p, ok := out.Properties[contract.LockIDField].(*contract.Schema); ok && def.FillsLockID {
			p.Title = "Lock id (optional)"
			p.Description = "Leave empty when running this from inside a flow: the bridge uses the parent flow run's id. Give it only to release a lock from elsewhere."
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
		pos := next
		c.Position = &pos
		next++
		out.Properties[k] = c
	}
	return out
}

// fillText gives s (property k) the built-in title and description when the
// agent's catalogue had none, down into nested objects.
func fillText(s *contract.Schema, k string, builtinParent *contract.Schema) {
	var b *contract.Schema
	if builtinParent != nil {
		b = builtinParent.Properties[k]
	}
	if b != nil {
		if s.Title == "" || s.Title == k {
			s.Title = b.Title
		}
		if s.Description == "" {
			s.Description = b.Description
		}
	}
	for nk, ns := range s.Properties {
		fillText(ns, nk, b)
	}
}

// optional wraps a nested object parameter as an optionalObject.
func optional(obj *contract.Schema) *optionalObject {
	o := &optionalObject{Title: obj.Title, Description: obj.Description, Position: obj.Position}
	inner := obj.Clone()
	inner.Title, inner.Position = "Set overrides", nil
	o.AnyOf = []any{nullOption{Type: "null", Title: "Agent's settings"}, inner}
	return o
}

// deploymentDescription is the deployment's description, a sentence for lab
// users, with def's note (which name is the upstream alias).
func deploymentDescription(def *flowDef, spec *contract.Spec) string {
	d := strings.TrimSpace(spec.Description)
	if d != "" {
		d = strings.ToUpper(d[:1]) + d[1:]
		if !strings.HasSuffix(d, ".") {
			d += "."
		}
	}
	if def.Note != "" {
		d += " " + def.Note
	}
	return strings.TrimSpace(d)
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
