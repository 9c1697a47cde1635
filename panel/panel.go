// Package panel is the live web panel for the carousel and the fleet: a
// hand-written page (web/) and the MQTT.js browser bundle (web/vendor/,
// pinned in package-lock.json, reproduced by `make panel-vendor`), embedded
// in the binary and served by the broker's WebSocket listener, so the page
// and MQTT over WebSocket share one origin. Nothing is fetched from the
// internet at run time. The page logs in with a broker user and speaks MQTT 5
// to the broker itself, so the broker's roles decide what it may do.
package panel

import (
	"embed"
	"encoding/json"
	"io/fs"
	"net/http"
)

//go:embed web
var files embed.FS

// Web is the panel's files (index.html at the root).
func Web() fs.FS {
	sub, err := fs.Sub(files, "web")
	if err != nil {
		panic(err) // the embed directive guarantees web/ exists
	}
	return sub
}

// Options is what the page cannot know by itself.
type Options struct {
	// Prefix is the first topic level of the contract (topics.md).
	Prefix string
}

// csp allows only the panel's own files and a WebSocket back to the same
// origin: no inline script, no foreign origin. Even if a payload string were
// ever inserted as HTML by mistake, an inline handler such as onerror would
// not run (MDN: Content-Security-Policy, script-src). connect-src 'self'
// covers ws:/wss: to the same host in CSP Level 3 (MDN: CSP connect-src).
const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// Handler serves the panel: the embedded files and /config.json (the topic
// prefix). GET and HEAD only.
func Handler(o Options) http.Handler {
	cfg, _ := json.Marshal(map[string]string{"prefix": o.Prefix})
	static := http.FileServerFS(Web())
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		h := w.Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		// The files change with the binary, never while it runs; no-cache
		// makes the browser revalidate after an upgrade instead of mixing
		// an old script with a new page.
		h.Set("Cache-Control", "no-cache")
		if r.URL.Path == "/config.json" {
			h.Set("Content-Type", "application/json")
			_, _ = w.Write(cfg)
			return
		}
		static.ServeHTTP(w, r)
	})
}
