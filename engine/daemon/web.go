package daemon

import (
	"net"
	"net/http"
	"slices"
	"strconv"

	"github.com/cellsd/cellsd/engine/daemon/page"
)

// registerPage serves the live page (package page) on mux.
func (d *Daemon) registerPage(mux *http.ServeMux) { page.Register(mux, d.pageWebsocket) }

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
