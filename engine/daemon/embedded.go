package daemon

import (
	"fmt"
	"log/slog"
	"net"
	"os"
	"slices"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// embedded is the NATS server a daemon starts when it is given none.
type embedded struct {
	srv     *server.Server
	tempDir string // removed at stop; empty when the store is the caller's
}

// startEmbedded starts a NATS server with JetStream, storing in dataDir (a
// temporary directory when empty), listening for clients on listen and,
// when websocket is set, for browsers on websocket: from pages of origins
// (any, with "*"; none of another origin, when empty). Clients that are
// not browsers send no origin and are always let in.
func startEmbedded(listen, websocket string, origins []string, dataDir string, log *slog.Logger) (*embedded, error) {
	e := &embedded{}
	if dataDir == "" {
		dir, err := makeTempStore(log)
		if err != nil {
			return nil, err
		}
		dataDir, e.tempDir = dir, dir
	}
	host, port, err := hostPort(listen)
	if err != nil {
		return nil, e.fail(fmt.Errorf("embedded nats: --nats-listen %q: %w", listen, err))
	}
	opts := &server.Options{
		ServerName: "cellsd",
		Host:       host,
		Port:       port,
		JetStream:  true,
		StoreDir:   dataDir,
		NoSigs:     true, // signals belong to cmd/cellsd
		MaxPayload: 8 << 20,
	}
	if websocket != "" {
		wsHost, wsPort, err := hostPort(websocket)
		if err != nil {
			return nil, e.fail(fmt.Errorf("embedded nats: --nats-websocket %q: %w", websocket, err))
		}
		opts.Websocket = server.WebsocketOpts{Host: wsHost, Port: wsPort, NoTLS: true}
		switch {
		case len(origins) == 0: // no web page of another origin
			opts.Websocket.SameOrigin = true
		case !slices.Contains(origins, "*"):
			opts.Websocket.AllowedOrigins = origins
		}
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		return nil, e.fail(fmt.Errorf("embedded nats: %w", err))
	}
	srv.SetLoggerV2(natsLogger{log.With("component", "nats-server")}, false, false, false)
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		srv.Shutdown()
		return nil, e.fail(fmt.Errorf("embedded nats: not ready on %s within 10s (is the port taken?)", listen))
	}
	e.srv = srv
	return e, nil
}

func (e *embedded) fail(err error) error {
	if e.tempDir != "" {
		os.RemoveAll(e.tempDir)
	}
	return err
}

// stop shuts the server down and removes a temporary store.
func (e *embedded) stop() {
	e.srv.Shutdown()
	e.srv.WaitForShutdown()
	if e.tempDir != "" {
		os.RemoveAll(e.tempDir)
	}
}

// hostPort splits "host:port"; port 0 means a free one.
func hostPort(addr string) (string, int, error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		return "", 0, fmt.Errorf("bad port %q", p)
	}
	if port == 0 {
		port = server.RANDOM_PORT
	}
	return host, port, nil
}

// natsLogger sends the embedded server's log to slog.
type natsLogger struct{ log *slog.Logger }

func (l natsLogger) Noticef(format string, v ...any) { l.log.Debug(fmt.Sprintf(format, v...)) }
func (l natsLogger) Warnf(format string, v ...any)   { l.log.Warn(fmt.Sprintf(format, v...)) }
func (l natsLogger) Fatalf(format string, v ...any)  { l.log.Error(fmt.Sprintf(format, v...)) }
func (l natsLogger) Errorf(format string, v ...any)  { l.log.Error(fmt.Sprintf(format, v...)) }
func (l natsLogger) Debugf(format string, v ...any)  { l.log.Debug(fmt.Sprintf(format, v...)) }
func (l natsLogger) Tracef(format string, v ...any)  { l.log.Debug(fmt.Sprintf(format, v...)) }
