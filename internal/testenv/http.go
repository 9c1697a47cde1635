package testenv

import (
	"io"
	"net/http"
	"testing"
)

// HTTPGet fetches url and returns the status code and body; a request that
// fails (no answer at all) fails the test.
func HTTPGet(t testing.TB, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
