package natsbus

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nkeys"
	"golang.org/x/crypto/bcrypt"
)

// Server is the NATS server a daemon starts when it is given none.
type Server struct {
	srv     *server.Server
	tempDir string // removed at Stop; empty when the store is the caller's
	auth    *Auth  // the daemon's user and the callout's key; nil when the config file does its own auth
}

// ServerConfig configures StartServer; the flags named are cellsd
// serve's.
type ServerConfig struct {
	// Listen is the client address (--nats-listen); port 0 picks one.
	Listen string
	// Websocket is the browsers' address (--nats-websocket); empty: a
	// free port of 127.0.0.1, for the live page.
	Websocket string
	// Origins are the web origins whose pages may open the WebSocket
	// ("*" any; empty: none of another origin).
	Origins []string
	// DataDir is the JetStream store; empty: a temporary directory
	// removed at Stop.
	DataDir string
	// ConfigFile is a nats-server config file (--nats-config); empty:
	// loopback only.
	ConfigFile string
}

// StartServer starts a NATS server with JetStream, storing in DataDir (a
// temporary directory when empty), listening for clients on Listen and
// for browsers on Websocket (a free port of 127.0.0.1 when empty, for the
// live page): from pages of Origins
// (any, with "*"; none of another origin, when empty). Clients that are
// not browsers send no origin and are always let in.
//
// Without a config file both addresses must be loopback ones. With one,
// the file is nats-server's own format and its settings win; Listen and
// Websocket fill in only what it leaves unset. Either way the server gets
// the daemon's own user and the auth callout for session tokens (Auth).
// It logs to log.
func StartServer(cfg ServerConfig, log *slog.Logger) (*Server, error) {
	e := &Server{}
	if cfg.Websocket == "" {
		cfg.Websocket = "127.0.0.1:0" // for the live page
	}
	opts := &server.Options{}
	if cfg.ConfigFile != "" {
		var err error
		if opts, err = server.ProcessConfigFile(cfg.ConfigFile); err != nil {
			return nil, fmt.Errorf("--nats-config %s: %w", cfg.ConfigFile, err)
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
		host, port, err := hostPort(cfg.Listen)
		if err != nil {
			return nil, fmt.Errorf("embedded nats: --nats-listen %q: %w", cfg.Listen, err)
		}
		opts.Host, opts.Port = host, port
	}
	if cfg.Websocket != "" && opts.Websocket.Port == 0 {
		wsHost, wsPort, err := hostPort(cfg.Websocket)
		if err != nil {
			return nil, fmt.Errorf("embedded nats: --nats-websocket %q: %w", cfg.Websocket, err)
		}
		opts.Websocket.Host, opts.Websocket.Port, opts.Websocket.NoTLS = wsHost, wsPort, true
		switch {
		case len(cfg.Origins) == 0: // no web page of another origin
			opts.Websocket.SameOrigin = true
		case !slices.Contains(cfg.Origins, "*"):
			opts.Websocket.AllowedOrigins = cfg.Origins
		}
	}
	if cfg.ConfigFile == "" {
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
	if e.auth, err = addAuth(opts, cfg.ConfigFile != ""); err != nil {
		return nil, err
	}
	if e.auth == nil {
		log.Warn("--nats-config does its own auth callout or runs in operator mode: session tokens will not let clients in", "file", cfg.ConfigFile)
	}
	if opts.StoreDir == "" {
		dataDir := cfg.DataDir
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
	if IsLoopback(host) {
		return nil
	}
	return fmt.Errorf("%s %s is not a loopback address: without --nats-config (users, permissions, TLS) the embedded NATS server listens on loopback only, since any client reaching it could open, read and change every session", flag, host)
}

// IsLoopback says whether host (an IP or a name) is a loopback address;
// "" and "0.0.0.0" are every address, so not.
func IsLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (e *Server) fail(err error) error {
	if e.tempDir != "" {
		os.RemoveAll(e.tempDir)
	}
	return err
}

// Stop shuts the server down and removes a temporary store.
func (e *Server) Stop() {
	e.srv.Shutdown()
	e.srv.WaitForShutdown()
	if e.tempDir != "" {
		os.RemoveAll(e.tempDir)
	}
}

// ClientURL is the URL clients connect to.
func (e *Server) ClientURL() string { return e.srv.ClientURL() }

// WebsocketURL is the URL browsers connect to.
func (e *Server) WebsocketURL() string { return e.srv.WebsocketURL() }

// Auth is the daemon's user and the auth callout's key, or nil when the
// config file does its own auth (then session tokens let no one in).
func (e *Server) Auth() *Auth { return e.auth }

// DisconnectClient closes the connection of the client with the given id,
// if it is still connected.
func (e *Server) DisconnectClient(id uint64) { e.srv.DisconnectClientByID(id) }

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

// Auth is what StartServer adds to the server's options so that the
// daemon's auth callout runs: the daemon's own user (which bypasses the
// callout) and the callout itself.
type Auth struct {
	// User and Password are the daemon's own connection's.
	User, Password string
	// Issuer is the account key the server trusts for callout users.
	Issuer nkeys.KeyPair
	// Anonymous lets a client with no credentials from a loopback
	// address in (the default, loopback-only mode).
	Anonymous bool
}

// addAuth sets opts up for the callout, keeping the users a --nats-config
// file names (they bypass the callout, with their own permissions). It
// returns nil, leaving opts as they are, when the file does its own
// callout or runs in operator mode.
func addAuth(opts *server.Options, fromFile bool) (*Auth, error) {
	if opts.AuthCallout != nil || len(opts.TrustedOperators) > 0 || len(opts.TrustedKeys) > 0 {
		return nil, nil
	}
	if opts.Authorization != "" || opts.Username != "" {
		return nil, fmt.Errorf("--nats-config: cellsd needs its clients as a users list (authorization { users = [...] }), not a single token or user: it adds its own user and the session tokens' auth callout")
	}
	kp, err := nkeys.CreateAccount()
	if err != nil {
		return nil, err
	}
	pub, err := kp.PublicKey()
	if err != nil {
		return nil, err
	}
	pw := make([]byte, 32)
	rand.Read(pw)
	a := &Auth{User: "cellsd-daemon", Password: base64.RawURLEncoding.EncodeToString(pw), Issuer: kp,
		Anonymous: !fromFile || (len(opts.Users) == 0 && len(opts.Nkeys) == 0)}
	authUsers := []string{a.User}
	for _, u := range opts.Users {
		if strings.EqualFold(u.Username, a.User) {
			return nil, fmt.Errorf("--nats-config: user %q is cellsd's own", a.User)
		}
		authUsers = append(authUsers, u.Username)
	}
	for _, u := range opts.Nkeys {
		authUsers = append(authUsers, u.Nkey)
	}
	// Stored hashed, as nats-server wants; the cost is paid once per
	// connect of the daemon's own connection.
	hash, err := bcrypt.GenerateFromPassword([]byte(a.Password), bcrypt.MinCost)
	if err != nil {
		return nil, err
	}
	opts.Users = append(opts.Users, &server.User{Username: a.User, Password: string(hash)})
	opts.AuthCallout = &server.AuthCallout{Issuer: pub, AuthUsers: authUsers}
	return a, nil
}
