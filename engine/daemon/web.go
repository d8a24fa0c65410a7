package daemon

import (
	"io/fs"
	"net"
	"net/http"
	"slices"
	"strconv"

	"github.com/cellsd/cellsd/web"
)

// The live page (DESIGN.md "The live page"): the built web app, served at
// / (the sessions) and /s/<sessionId> (one session; both answer
// index.html and the app routes), its assets under /assets/, and
// /api/page-config, which tells the page where the NATS WebSocket is. The
// page then uses only what any frontend can: the WebSocket, the job API,
// the events and the status bucket.
func (d *Daemon) registerPage(mux *http.ServeMux) {
	dist, err := fs.Sub(web.Dist, "dist")
	if err != nil {
		panic(err) // the embed pattern guarantees dist/
	}
	index, err := fs.ReadFile(dist, "index.html")
	if err != nil {
		panic("web/dist/index.html is missing: build the page (cd web && npm ci && npm run build)")
	}
	serveIndex := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-cache")
		w.Write(index)
	}
	mux.HandleFunc("GET /{$}", serveIndex)
	mux.HandleFunc("GET /s/", serveIndex)
	assets := http.FileServerFS(dist)
	mux.HandleFunc("GET /assets/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache") // names carry no hash: the build is reproducible
		assets.ServeHTTP(w, r)
	})
	mux.HandleFunc("GET /api/page-config", func(w http.ResponseWriter, r *http.Request) {
		var ws *string
		if u := d.pageWebsocket(); u != "" {
			ws = &u
		}
		writeJSON(w, http.StatusOK, map[string]*string{"natsWebsocket": ws})
	})
}

// pageWebsocket is the NATS WebSocket URL the page connects to: the one
// configured for it, else the embedded server's.
func (d *Daemon) pageWebsocket() string {
	if d.cfg.PageWebsocket != "" {
		return d.cfg.PageWebsocket
	}
	if d.nats == nil {
		return ""
	}
	return d.nats.WebsocketURL()
}

// websocketOrigins are the origins whose pages may open the embedded
// server's WebSocket: the allowed ones (--allow-origin) and the daemon's
// own page, served from the HTTP address under each name a browser may
// use for it.
func (d *Daemon) websocketOrigins() []string {
	if slices.Contains(d.cfg.AllowOrigins, "*") {
		return []string{"*"}
	}
	origins := slices.Clone(d.cfg.AllowOrigins)
	addr, ok := d.httpLn.Addr().(*net.TCPAddr)
	if !ok {
		return origins
	}
	port := strconv.Itoa(addr.Port)
	switch {
	case addr.IP.IsLoopback():
		origins = append(origins, "http://127.0.0.1:"+port, "http://localhost:"+port, "http://[::1]:"+port)
	case addr.IP.IsUnspecified():
		origins = append(origins, "http://127.0.0.1:"+port, "http://localhost:"+port)
	default:
		origins = append(origins, "http://"+net.JoinHostPort(addr.IP.String(), port))
	}
	return origins
}
