package daemon

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/cors"

	"github.com/cellsd/cellsd/engine/daemon/bridgeserver"
)

// handler serves the SQLRooms DB bridge under /api/db/, /healthz, /readyz
// and /metrics, every one behind the auth token when there is one. Web
// pages may call it from the allowed origins only: a request a browser
// sends from any other page (a form, a fetch with no preflight) is refused
// before it reaches the bridge, and on a loopback address so is a request
// for any host but a loopback one (DNS rebinding).
func (d *Daemon) handler() (http.Handler, error) {
	mux := http.NewServeMux()
	mux.Handle("/api/db/", d.bridge)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		// A daemon cut off from NATS answers nothing of the job API: not
		// healthy, though the connection keeps trying forever.
		if !d.nc.IsConnected() {
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "error": fmt.Sprintf("nats not connected (%s)", d.nc.Status())})
			return
		}
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
	d.registerPage(mux)
	h := bridgeserver.RequireAuth(d.bridgeAuth(), mux)

	if !slices.Contains(d.cfg.AllowOrigins, "*") {
		csrf := http.NewCrossOriginProtection()
		for _, o := range d.cfg.AllowOrigins {
			if err := csrf.AddTrustedOrigin(o); err != nil {
				return nil, fmt.Errorf("--allow-origin %q: %w", o, err)
			}
		}
		csrf.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, http.StatusForbidden, map[string]string{"error": fmt.Sprintf(
				"cross-origin request from %q refused: let its pages in with --allow-origin", r.Header.Get("Origin"))})
		}))
		h = csrf.Handler(h)
	}
	if addr, ok := d.httpLn.Addr().(*net.TCPAddr); ok && addr.IP.IsLoopback() {
		h = loopbackHostOnly(h)
	}
	if len(d.cfg.AllowOrigins) > 0 {
		// Outside the token check: a browser's preflight carries no token.
		h = cors.New(cors.Options{
			AllowedOrigins: d.cfg.AllowOrigins,
			AllowedMethods: []string{http.MethodGet, http.MethodPost},
			AllowedHeaders: []string{"Authorization", "Content-Type"},
			MaxAge:         600,
		}).Handler(h)
	}
	return h, nil
}

// loopbackHostOnly refuses requests for a host that is not a loopback
// address or a localhost name: a page whose own name was made to resolve
// to 127.0.0.1 would otherwise talk to the daemon as its own origin.
func loopbackHostOnly(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := r.Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		host = strings.ToLower(strings.TrimSuffix(host, "."))
		ip := net.ParseIP(host)
		if (ip == nil || !ip.IsLoopback()) && host != "localhost" && !strings.HasSuffix(host, ".localhost") {
			writeJSON(w, http.StatusForbidden, map[string]string{"error": fmt.Sprintf(
				"host %q refused: cellsd on a loopback address answers to localhost only", r.Host)})
			return
		}
		next.ServeHTTP(w, r)
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
