package daemon

import (
	"fmt"
	"log/slog"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// embedded is the NATS server a daemon starts when it is given none.
type embedded struct {
	srv     *server.Server
	tempDir string     // removed at stop; empty when the store is the caller's
	auth    *authSetup // the daemon's user and the callout's key; nil when the config file does its own auth
}

// embeddedConfig is what startEmbedded needs from the daemon's Config.
type embeddedConfig struct {
	listen, websocket string
	origins           []string
	dataDir           string
	configFile        string // nats-server config; empty: loopback only
}

// startEmbedded starts a NATS server with JetStream, storing in dataDir (a
// temporary directory when empty), listening for clients on listen and
// for browsers on websocket (a free port of 127.0.0.1 when empty, for the
// live page): from pages of origins
// (any, with "*"; none of another origin, when empty). Clients that are
// not browsers send no origin and are always let in.
//
// Without a config file both addresses must be loopback ones. With one,
// the file is nats-server's own format and its settings win; listen and
// websocket fill in only what it leaves unset. Either way the daemon adds
// its own user and the auth callout for session tokens (addAuth).
func startEmbedded(cfg embeddedConfig, log *slog.Logger) (*embedded, error) {
	e := &embedded{}
	if cfg.websocket == "" {
		cfg.websocket = "127.0.0.1:0" // for the live page
	}
	opts := &server.Options{}
	if cfg.configFile != "" {
		var err error
		if opts, err = server.ProcessConfigFile(cfg.configFile); err != nil {
			return nil, fmt.Errorf("--nats-config %s: %w", cfg.configFile, err)
		}
	}
	if opts.ServerName == "" {
		opts.ServerName = "cellsd"
	}
	opts.NoSigs = true // signals belong to cmd/cellsd
	opts.JetStream = true
	if opts.MaxPayload == 0 {
		opts.MaxPayload = 8 << 20
	}
	if opts.Port == 0 && opts.Host == "" {
		host, port, err := hostPort(cfg.listen)
		if err != nil {
			return nil, fmt.Errorf("embedded nats: --nats-listen %q: %w", cfg.listen, err)
		}
		opts.Host, opts.Port = host, port
	}
	if cfg.websocket != "" && opts.Websocket.Port == 0 {
		wsHost, wsPort, err := hostPort(cfg.websocket)
		if err != nil {
			return nil, fmt.Errorf("embedded nats: --nats-websocket %q: %w", cfg.websocket, err)
		}
		opts.Websocket.Host, opts.Websocket.Port, opts.Websocket.NoTLS = wsHost, wsPort, true
		switch {
		case len(cfg.origins) == 0: // no web page of another origin
			opts.Websocket.SameOrigin = true
		case !slices.Contains(cfg.origins, "*"):
			opts.Websocket.AllowedOrigins = cfg.origins
		}
	}
	if cfg.configFile == "" {
		if err := loopbackOnly("--nats-listen", opts.Host); err != nil {
			return nil, err
		}
		if opts.Websocket.Port != 0 {
			if err := loopbackOnly("--nats-websocket", opts.Websocket.Host); err != nil {
				return nil, err
			}
		}
	}
	var err error
	if e.auth, err = addAuth(opts, cfg.configFile != ""); err != nil {
		return nil, err
	}
	if e.auth == nil {
		log.Warn("--nats-config does its own auth callout or runs in operator mode: session tokens will not let clients in", "file", cfg.configFile)
	}
	if opts.StoreDir == "" {
		dataDir := cfg.dataDir
		if dataDir == "" {
			dir, err := makeTempStore(log)
			if err != nil {
				return nil, err
			}
			dataDir, e.tempDir = dir, dir
		}
		opts.StoreDir = dataDir
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		return nil, e.fail(fmt.Errorf("embedded nats: %w", err))
	}
	srv.SetLoggerV2(natsLogger{log.With("component", "nats-server")}, false, false, false)
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		srv.Shutdown()
		return nil, e.fail(fmt.Errorf("embedded nats: not ready on %s:%d within 10s (is the port taken?)", opts.Host, opts.Port))
	}
	e.srv = srv
	return e, nil
}

// loopbackOnly refuses a non-loopback listen address without a
// --nats-config: the embedded server would take anyone's connection.
func loopbackOnly(flag, host string) error {
	if isLoopback(host) {
		return nil
	}
	return fmt.Errorf("%s %s is not a loopback address: without --nats-config (users, permissions, TLS) the embedded NATS server listens on loopback only, since any client reaching it could open, read and change every session", flag, host)
}

// isLoopback says whether host (an IP or a name) is a loopback address;
// "" and "0.0.0.0" are every address, so not.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
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
