package bridge

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"github.com/plate-resort/plate-resort/contract"
)

// checkFormText walks a deployment's parameter schema as Prefect stores it
// and reports every property without a human title or a sentence of
// description, and every exclusive bound the description does not state in
// words (the form does not show it, docs/prefect.md §17). It returns the
// number of properties checked.
func checkFormText(t *testing.T, where string, schema map[string]any) int {
	t.Helper()
	n := 0
	var walk func(path string, props map[string]any)
	walk = func(path string, props map[string]any) {
		for k, v := range props {
			p, _ := v.(map[string]any)
			name := path + k
			n++
			title, _ := p["title"].(string)
			desc, _ := p["description"].(string)
			if title == "" || title == k && strings.Contains(k, "_") {
				t.Errorf("%s: %s has no human title (%q)", where, name, title)
			}
			if len(desc) < 20 || !strings.HasSuffix(strings.TrimSpace(desc), ".") || strings.ToUpper(desc[:1]) != desc[:1] {
				t.Errorf("%s: %s: description is not a sentence: %q", where, name, desc)
			}
			for key, words := range map[string][]string{"exclusiveMaximum": {"less than", "below"}, "exclusiveMinimum": {"more than", "above"}} {
				bound, ok := p[key].(float64)
				if !ok {
					continue
				}
				said := false
				for _, w := range words {
					said = said || strings.Contains(desc, w+" "+strconv.FormatFloat(bound, 'g', -1, 64))
				}
				if !said {
					t.Errorf("%s: %s has %s %g, which its description %q does not state", where, name, key, bound, desc)
				}
			}
			if sub, ok := p["properties"].(map[string]any); ok {
				walk(name+".", sub)
			}
			if alts, ok := p["anyOf"].([]any); ok {
				for _, a := range alts {
					if sub, ok := a.(map[string]any)["properties"].(map[string]any); ok {
						walk(name+".", sub)
					}
				}
			}
		}
	}
	props, _ := schema["properties"].(map[string]any)
	walk("", props)
	return n
}

func schemaJSON(t *testing.T, v any) map[string]any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestEveryParameterHasTitleAndDescription(t *testing.T) {
	cat := contract.New(contract.Options{Hotels: []string{"A", "B"}, Ports: []string{"/dev/ttyUSB0"}})
	total := 0
	for i := range flowDefs {
		def := &flowDefs[i]
		spec, ok := cat.Lookup(def.Command)
		if !ok && def.Newer {
			continue // not in this contract yet (lock.go)
		}
		if !ok {
			t.Fatalf("%s: no command %s", def.Flow, def.Command)
		}
		total += checkFormText(t, def.Flow, schemaJSON(t, buildSchema(def, spec)))
	}
	// activate-hotel alone has hotel, precise, overrides and 14 overrides.
	if total < 17 {
		t.Fatalf("only %d properties checked", total)
	}
}

// An agent of an older version publishes its catalogue without titles:
// the bridge fills them in from its own copy of the contract.
func TestOldAgentInfoGetsTitles(t *testing.T) {
	spec, _ := contract.New(contract.Options{Hotels: []string{"A"}}).Lookup(contract.ActivateHotel)
	old := *spec
	old.Params = spec.Params.Clone()
	var strip func(s *contract.Schema)
	strip = func(s *contract.Schema) {
		for k, p := range s.Properties {
			p.Title, p.Description = k, ""
			strip(p)
		}
	}
	strip(old.Params)
	def, _ := flowDefByName("activate-hotel")
	if n := checkFormText(t, "old agent", schemaJSON(t, buildSchema(def, &old))); n != 17 {
		t.Fatalf("checked %d properties, want 17 (hotel, precise, overrides and its 14)", n)
	}
}

func TestFormOrderAndAdvancedOverrides(t *testing.T) {
	cat := contract.New(contract.Options{Hotels: []string{"A", "B"}})
	for _, flow := range []string{"activate-hotel", "move-to-angle"} {
		def, _ := flowDefByName(flow)
		spec, _ := cat.Lookup(def.Command)
		s := schemaJSON(t, buildSchema(def, spec))
		props := s["properties"].(map[string]any)
		pos := func(k string) float64 { return props[k].(map[string]any)["position"].(float64) }
		first := map[string]string{"activate-hotel": "hotel", "move-to-angle": "angle"}[flow]
		if !(pos(first) < pos("precise") && pos("precise") < pos("overrides")) {
			t.Errorf("%s: form order %s=%v precise=%v overrides=%v; want the common parameters first, overrides last",
				flow, first, pos(first), pos("precise"), pos("overrides"))
		}
		ov := props["overrides"].(map[string]any)
		if !strings.Contains(ov["title"].(string), "Advanced") {
			t.Errorf("%s: overrides title %q does not say advanced", flow, ov["title"])
		}
		alts, _ := ov["anyOf"].([]any)
		if len(alts) != 2 || alts[0].(map[string]any)["type"] != "null" || alts[1].(map[string]any)["type"] != "object" {
			t.Fatalf("%s: overrides %v: want anyOf [null, object], null first so the form opens closed", flow, ov)
		}
		if n := len(alts[1].(map[string]any)["properties"].(map[string]any)); n != 14 {
			t.Errorf("%s: %d overrides, want 14", flow, n)
		}
	}
	// The two position deployments say which is the alias.
	for flow, want := range map[string]string{"get-position": "get-current-position/get-position, which is only the alias",
		"get-current-position": "This is the alias"} {
		def, _ := flowDefByName(flow)
		spec, _ := cat.Lookup(def.Command)
		if d := buildSchema(def, spec).Description; !strings.Contains(d, want) {
			t.Errorf("%s: description %q does not say %q", flow, d, want)
		}
	}
}
