package journal

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkBeginFinish is the journal's cost per executed command: two
// fsynced bbolt transactions.
func BenchmarkBeginFinish(b *testing.B) {
	now := time.Now()
	j, _, err := Open(filepath.Join(b.TempDir(), "j.db"), time.Hour, 1<<30, now)
	if err != nil {
		b.Fatal(err)
	}
	defer j.Close()
	i := 0
	for b.Loop() {
		id := fmt.Sprintf("id-%d", i)
		i++
		if err := j.Begin(id, "move_to_angle", now); err != nil {
			b.Fatal(err)
		}
		if err := j.Finish(id, []byte(`{"status":"ok"}`), now); err != nil {
			b.Fatal(err)
		}
	}
}
