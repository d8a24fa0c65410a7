// Package page serves the live page (DESIGN.md "The live page"): the
// built web app of package web, embedded in the binary. Its handlers are
// safe for concurrent use.
package page

import (
	"encoding/json"
	"io/fs"
	"net/http"

	"github.com/cellsd/cellsd/web"
)

// Register serves the live page on mux: the built web app, served at
// / (the sessions) and /s/<sessionId> (one session; both answer
// index.html and the app routes), its assets under /assets/, and
// /api/page-config, which tells the page where the NATS WebSocket is. The
// page then uses only what any frontend can: the WebSocket, the job API,
// the events and the status bucket.
//
// websocket is the NATS WebSocket URL the page is told, "" for none.
func Register(mux *http.ServeMux, websocket func() string) {
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
		if u := websocket(); u != "" {
			ws = &u
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]*string{"natsWebsocket": ws})
	})
}
