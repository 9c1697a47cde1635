package benchstat

import (
	"os"
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	d := []time.Duration{5, 1, 4, 2, 3, 10, 9, 8, 7, 6}
	cases := map[int]time.Duration{50: 5, 90: 9, 99: 10, 100: 10, 1: 1}
	for p, want := range cases {
		if got := Percentile(d, p); got != want {
			t.Errorf("p%d = %d, want %d", p, got, want)
		}
	}
	if d[0] != 5 {
		t.Error("input reordered")
	}
	if Percentile(nil, 50) != 0 {
		t.Error("empty input")
	}
}

func TestRSSKiB(t *testing.T) {
	kib, err := RSSKiB(os.Getpid())
	if err != nil || kib < 1000 || kib > 10_000_000 {
		t.Fatalf("own RSS %d KiB, %v", kib, err)
	}
	if _, err := RSSKiB(-1); err == nil {
		t.Fatal("no error for a missing process")
	}
}
