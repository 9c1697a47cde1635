package broker

import (
	"encoding/json"
	"net/http"
	"sync/atomic"

	mqtt "github.com/mochi-mqtt/server/v2"
)

// healthHandler answers GET /healthz with 200 and a small JSON summary while
// the broker serves. It is plain HTTP on its own address so a supervisor
// (systemd, Docker HEALTHCHECK, a load balancer) needs no MQTT client.
func healthHandler(srv *mqtt.Server) *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		info := srv.Info
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"status":            "ok",
			"broker":            "mochi-mqtt " + mqtt.Version,
			"uptime_s":          atomic.LoadInt64(&info.Uptime),
			"clients_connected": atomic.LoadInt64(&info.ClientsConnected),
			"retained":          atomic.LoadInt64(&info.Retained),
			"subscriptions":     atomic.LoadInt64(&info.Subscriptions),
		})
	})
	return mux
}
