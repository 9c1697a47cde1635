package contract

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strings"
)

// Schema is the subset of JSON Schema (draft 2020-12 / OpenAPI 3) the
// catalogue needs. It marshals to standard JSON Schema, which the Prefect UI
// renders as a form (enum as a dropdown, position ordering fields).
type Schema struct {
	Title                string             `json:"title,omitempty"`
	Description          string             `json:"description,omitempty"`
	Type                 string             `json:"type,omitempty"` // object, string, number, integer, boolean
	Properties           map[string]*Schema `json:"properties,omitempty"`
	Required             []string           `json:"required,omitempty"`
	AdditionalProperties *bool              `json:"additionalProperties,omitempty"`
	Enum                 []any              `json:"enum,omitempty"`
	Minimum              *float64           `json:"minimum,omitempty"`
	Maximum              *float64           `json:"maximum,omitempty"`
	ExclusiveMaximum     *float64           `json:"exclusiveMaximum,omitempty"`
	MaxLength            *int               `json:"maxLength,omitempty"`
	MinLength            *int               `json:"minLength,omitempty"`
	Default              any                `json:"default,omitempty"`
	Position             *int               `json:"position,omitempty"` // Prefect UI field order
}

func f64(v float64) *float64 { return &v }
func intp(v int) *int        { return &v }
func boolp(v bool) *bool     { return &v }

// Clone returns a deep copy, so callers may decorate a schema (the bridge
// adds titles) without touching the catalogue.
func (s *Schema) Clone() *Schema {
	if s == nil {
		return nil
	}
	b, _ := json.Marshal(s)
	var c Schema
	_ = json.Unmarshal(b, &c)
	return &c
}

// validate checks v (decoded with UseNumber) against s. path names the
// value in messages ("hotel", "overrides.pwm_max").
func (s *Schema) validate(path string, v any) (any, error) {
	switch s.Type {
	case "object":
		m, ok := v.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%s must be a JSON object, got %s", orRoot(path), typeName(v))
		}
		out := make(map[string]any, len(m))
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			ps, ok := s.Properties[k]
			if !ok {
				if s.AdditionalProperties == nil || !*s.AdditionalProperties {
					return nil, fmt.Errorf("unknown field %q%s (allowed: %s)", join(path, k), "", strings.Join(s.propertyNames(), ", "))
				}
				out[k] = m[k]
				continue
			}
			cv, err := ps.validate(join(path, k), m[k])
			if err != nil {
				return nil, err
			}
			out[k] = cv
		}
		for _, r := range s.Required {
			if _, ok := m[r]; !ok {
				return nil, fmt.Errorf("missing required field %q", join(path, r))
			}
		}
		return out, nil
	case "string":
		str, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("%s must be a string, got %s", path, typeName(v))
		}
		if s.MaxLength != nil && len(str) > *s.MaxLength {
			return nil, fmt.Errorf("%s is %d bytes long, at most %d allowed", path, len(str), *s.MaxLength)
		}
		if s.MinLength != nil && len(str) < *s.MinLength {
			return nil, fmt.Errorf("%s must be at least %d characters", path, *s.MinLength)
		}
		if len(s.Enum) > 0 {
			for _, e := range s.Enum {
				if es, _ := e.(string); strings.EqualFold(es, str) {
					return es, nil // canonical spelling
				}
			}
			return nil, fmt.Errorf("%s %q is not one of %s", path, str, enumList(s.Enum))
		}
		return str, nil
	case "number", "integer":
		n, ok := v.(json.Number)
		if !ok {
			return nil, fmt.Errorf("%s must be a number, got %s", path, typeName(v))
		}
		f, err := n.Float64()
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, fmt.Errorf("%s must be a finite number, got %s", path, n.String())
		}
		if s.Type == "integer" && f != math.Trunc(f) {
			return nil, fmt.Errorf("%s must be a whole number, got %s", path, n.String())
		}
		if s.Minimum != nil && f < *s.Minimum {
			return nil, fmt.Errorf("%s %s is below the minimum %g", path, n.String(), *s.Minimum)
		}
		if s.Maximum != nil && f > *s.Maximum {
			return nil, fmt.Errorf("%s %s is above the maximum %g", path, n.String(), *s.Maximum)
		}
		if s.ExclusiveMaximum != nil && f >= *s.ExclusiveMaximum {
			return nil, fmt.Errorf("%s %s must be below %g", path, n.String(), *s.ExclusiveMaximum)
		}
		if len(s.Enum) > 0 {
			found := false
			for _, e := range s.Enum {
				switch ev := e.(type) {
				case int:
					found = found || float64(ev) == f
				case float64:
					found = found || ev == f
				}
			}
			if !found {
				return nil, fmt.Errorf("%s %s is not one of %s", path, n.String(), enumList(s.Enum))
			}
		}
		if s.Type == "integer" {
			return int(f), nil
		}
		return f, nil
	case "boolean":
		b, ok := v.(bool)
		if !ok {
			return nil, fmt.Errorf("%s must be true or false, got %s", path, typeName(v))
		}
		return b, nil
	}
	return nil, fmt.Errorf("%s: schema type %q not supported", path, s.Type)
}

func (s *Schema) propertyNames() []string {
	names := make([]string, 0, len(s.Properties))
	for k := range s.Properties {
		names = append(names, k)
	}
	sort.Strings(names)
	if len(names) == 0 {
		return []string{"none"}
	}
	return names
}

func join(path, k string) string {
	if path == "" {
		return k
	}
	return path + "." + k
}

func orRoot(p string) string {
	if p == "" {
		return "the payload"
	}
	return p
}

func typeName(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

func enumList(e []any) string {
	parts := make([]string, len(e))
	for i, v := range e {
		parts[i] = fmt.Sprint(v)
	}
	return strings.Join(parts, ", ")
}
