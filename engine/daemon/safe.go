package daemon

import (
	"fmt"
	"net"

	"github.com/cellsd/cellsd/engine/natsbus"

	"github.com/cellsd/cellsd/engine/daemon/bridgeserver"
)

// checkExposure refuses settings that would expose the daemon to the
// network unauthenticated: HTTP on a non-loopback address without an auth
// token (the NATS side is checked where the embedded server starts).
func (c *Config) checkExposure() error {
	if c.NATSConfig != "" && c.NATSURL != "" {
		return fmt.Errorf("--nats-config configures the embedded NATS server; with --nats there is none")
	}
	host, _, err := net.SplitHostPort(c.HTTPAddr)
	if err != nil {
		return fmt.Errorf("--http %q: %w", c.HTTPAddr, err)
	}
	if !natsbus.IsLoopback(host) && c.AuthToken == "" {
		return fmt.Errorf("--http %s is not a loopback address and there is no --auth-token: anyone reaching it could query every connection through the bridge; set --auth-token (or CELLSD_AUTH_TOKEN)", c.HTTPAddr)
	}
	return nil
}

// bridgeAuth is the HTTP auth decision: the daemon's --auth-token reaches
// everything; a session's token reaches that session's connection,
// "session:<id>", only.
func (d *Daemon) bridgeAuth() bridgeserver.Authorizer {
	return bridgeserver.TokenAuthorizer(d.cfg.AuthToken, func(tok string) (bridgeserver.Access, bool) {
		id, ok := d.tokens.Session(tok)
		if !ok {
			return bridgeserver.Access{}, false
		}
		return bridgeserver.Access{Only: []string{"session:" + id}}, true
	})
}

// serveCallout answers the embedded server's auth callout, when the
// daemon set one up.
func (d *Daemon) serveCallout() error {
	if d.nats == nil || d.nats.Auth() == nil {
		return nil
	}
	a := d.nats.Auth()
	c := &natsbus.Callout{Issuer: a.Issuer, Account: "$G", Anonymous: a.Anonymous,
		Session: d.tokens.Session, Admitted: d.tokens.admitted, Log: d.log}
	if _, err := d.nc.Subscribe(natsbus.CalloutSubject, c.Handle); err != nil {
		return fmt.Errorf("subscribe auth callout: %w", err)
	}
	return d.nc.Flush()
}
