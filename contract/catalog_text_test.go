package contract

import (
	"strings"
	"testing"
)

// Every parameter of every command carries a title and a sentence for
// people: info publishes the schemas, and the Prefect forms, the web panel
// and Home Assistant users read them. The bridge checks its deployments the
// same way (bridge/schema_text_test.go); this covers commands it does not
// deploy, such as get_events and set_log_level.
func TestEveryCatalogParameterHasTitleAndDescription(t *testing.T) {
	cat := New(Options{Hotels: []string{"A", "B"}, Ports: []string{"/dev/ttyUSB0"}})
	checked := 0
	var walk func(cmd, path string, s *Schema)
	walk = func(cmd, path string, s *Schema) {
		for name, p := range s.Properties {
			at := cmd + "." + path + name
			checked++
			if strings.TrimSpace(p.Title) == "" || p.Title == name {
				t.Errorf("%s: no human title (got %q)", at, p.Title)
			}
			d := strings.TrimSpace(p.Description)
			if d == "" || !strings.HasSuffix(d, ".") || strings.ToUpper(d[:1]) != d[:1] {
				t.Errorf("%s: description %q is not a sentence", at, d)
			}
			walk(cmd, path+name+".", p)
		}
	}
	for _, spec := range cat.Specs() {
		if spec.Params != nil {
			walk(spec.Name, "", spec.Params)
		}
	}
	if checked < 20 {
		t.Fatalf("only %d parameters checked", checked)
	}
}
