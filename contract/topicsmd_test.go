package contract

import (
	"encoding/json"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// topics.md is the prose of this package: every command, error code and
// topic it names must exist here, and everything here must be in it.
func TestTopicsMDMatchesCode(t *testing.T) {
	raw, err := os.ReadFile("../topics.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(raw)
	section := func(start, end string) string {
		i := strings.Index(doc, start)
		if i < 0 {
			t.Fatalf("topics.md has no %q", start)
		}
		rest := doc[i+len(start):]
		if j := strings.Index(rest, end); j >= 0 {
			rest = rest[:j]
		}
		return rest
	}

	// Commands: the ### headings under "## Commands" (one heading may name
	// several, "get_health / get_position").
	var docCmds []string
	for _, m := range regexp.MustCompile(`(?m)^### (.+)$`).FindAllStringSubmatch(section("\n## Commands", "\n## State"), -1) {
		for _, n := range strings.Split(m[1], "/") {
			docCmds = append(docCmds, strings.TrimSpace(n))
		}
	}
	var codeCmds []string
	for _, s := range New(Options{Hotels: []string{"A"}}).Specs() {
		codeCmds = append(codeCmds, s.Name)
	}
	sameSet(t, "commands", docCmds, codeCmds)

	// Error codes: the first column of the table under "### Error codes".
	var docCodes []string
	for _, m := range regexp.MustCompile("(?m)^\\| `([a-z_]+)` \\|").FindAllStringSubmatch(section("### Error codes", "\n## "), -1) {
		docCodes = append(docCodes, m[1])
	}
	var codes []string
	for _, c := range Codes {
		codes = append(codes, string(c))
	}
	sameSet(t, "error codes", docCodes, codes)

	// Device topic levels: every `$B/<level>` in the Topics and Reserved
	// names tables, against the levels of Topics.
	var docLevels []string
	for _, sec := range []string{section("\n## Topics", "\n## "), section("\n## Reserved names", "\n## ")} {
		for _, m := range regexp.MustCompile("`\\$B/([a-z_]+)").FindAllStringSubmatch(sec, -1) {
			docLevels = append(docLevels, m[1])
		}
	}
	sameSet(t, "device topic levels", docLevels,
		[]string{LevelCmd, LevelReply, LevelState, LevelHealth, LevelAvailability, LevelInfo, LevelEvent})

	// System topics, reserved names and properties must be spelt as in code.
	for _, s := range []string{
		FleetCommand("<prefix>", "<command>"), BridgeAvailability("<prefix>", "<worker-name>"),
		UserProperty, ResponsesRoot(DefaultPrefix), HADiscovery(DefaultHAPrefix, "<component>", "<device>", "<object>"),
		HAStatus(DefaultHAPrefix), "`" + Online + "`", "`" + Offline + "`",
	} {
		if !strings.Contains(doc, s) {
			t.Errorf("topics.md does not name %q", s)
		}
	}
	// State and health: the JSON example of each section has exactly the
	// fields of the payload type, and decodes into it.
	for _, c := range []struct {
		heading string
		v       any
	}{{"\n## State", &State{}}, {"\n## Health", &Health{}}} {
		ex := regexp.MustCompile("(?s)```json\n(.*?)```").FindStringSubmatch(section(c.heading, "\n## "))
		if ex == nil {
			t.Fatalf("topics.md %s has no JSON example", c.heading)
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(ex[1]), &m); err != nil {
			t.Fatalf("topics.md %s example: %v", c.heading, err)
		}
		dec := json.NewDecoder(strings.NewReader(ex[1]))
		dec.DisallowUnknownFields()
		if err := dec.Decode(c.v); err != nil {
			t.Errorf("topics.md %s example does not decode into the payload type: %v", c.heading, err)
		}
		var keys []string
		for k := range m {
			keys = append(keys, k)
		}
		sameSet(t, strings.TrimSpace(c.heading)+" fields", keys, jsonFields(reflect.ValueOf(c.v).Elem().Interface()))
	}
}

func sameSet(t *testing.T, what string, doc, code []string) {
	t.Helper()
	for _, d := range doc {
		if !slices.Contains(code, d) {
			t.Errorf("%s: topics.md names %q, which the code does not have", what, d)
		}
	}
	for _, c := range code {
		if !slices.Contains(doc, c) {
			t.Errorf("%s: the code has %q, which topics.md does not document", what, c)
		}
	}
}
