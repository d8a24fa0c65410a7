package daemon

import (
	"encoding/json"
	"net/http"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/cors"

	"github.com/cellsd/cellsd/connectors/bridge"
)

// handler serves the SQLRooms DB bridge under /api/db/, /healthz, /readyz
// and /metrics, every one behind the auth token when there is one, to
// pages of the allowed origins too.
func (d *Daemon) handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/api/db/", d.bridge)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if err := d.ready(r.Context()); err != nil {
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "error": err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(d.metrics.reg, promhttp.HandlerOpts{}))
	h := bridge.RequireToken(d.cfg.AuthToken, mux)
	if len(d.cfg.AllowOrigins) == 0 {
		return h
	}
	// Outside the token check: a browser's preflight carries no token.
	return cors.New(cors.Options{
		AllowedOrigins: d.cfg.AllowOrigins,
		AllowedMethods: []string{http.MethodGet, http.MethodPost},
		AllowedHeaders: []string{"Authorization", "Content-Type"},
		MaxAge:         600,
	}).Handler(h)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
