package contract

import "testing"

func TestResponseTopics(t *testing.T) {
	if got := ResponseTopic("plate-resort", "bridge-1", "resort-1"); got != "plate-resort/responses/bridge-1/resort-1" {
		t.Fatalf("ResponseTopic = %q", got)
	}
	if got := ResponsesFilter("lab/3", "me"); got != "lab/3/responses/me/#" {
		t.Fatalf("ResponsesFilter = %q", got)
	}
	for topic, want := range map[string]bool{
		"plate-resort/responses/bridge-1/resort-1":   true,
		"plate-resort/responses/bridge-1/a/b":        true,
		"plate-resort/responses/bridge-1/":           true, // # matches an empty level
		"plate-resort/responses/bridge-1":            false,
		"plate-resort/responses/bridge-10/resort-1":  false,
		"plate-resort/responses/other/resort-1":      false,
		"plate-resort/resort-1/reply/get_position":   false,
		"other/plate-resort/responses/bridge-1/x":    false,
		"plate-resort-2/responses/bridge-1/resort-1": false,
	} {
		if got := IsResponseTopic("plate-resort", "bridge-1", topic); got != want {
			t.Errorf("IsResponseTopic(%q) = %v, want %v", topic, got, want)
		}
	}
}
