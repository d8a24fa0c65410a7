package daemon

import (
	"crypto/rand"
	"encoding/base64"
	"net"
	"sync"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"github.com/cellsd/cellsd/engine/natsbus"
)

// tokens are the sessions' tokens: a secret per open session that lets a
// NATS client (through the auth callout) and a bridge request (as a Bearer
// token) reach that session and nothing else. Safe for concurrent use.
type tokens struct {
	mu        sync.Mutex
	byID      map[string]string   // session id → token
	byToken   map[string]string   // token → session id
	clients   map[string][]uint64 // session id → NATS clients let in with its token
	revokedCB func(clients []uint64)
}

func newTokens() *tokens {
	return &tokens{byID: map[string]string{}, byToken: map[string]string{}, clients: map[string][]uint64{}}
}

// issue makes session id's token: 32 random bytes, URL-safe.
func (t *tokens) issue(id string) string {
	b := make([]byte, 32)
	rand.Read(b) // never fails (crypto/rand)
	tok := "cst_" + base64.RawURLEncoding.EncodeToString(b)
	t.mu.Lock()
	defer t.mu.Unlock()
	t.byID[id], t.byToken[tok] = tok, id
	return tok
}

// token is session id's token, or "".
func (t *tokens) token(id string) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.byID[id]
}

// Session is the id of the open session whose token tok is.
func (t *tokens) Session(tok string) (string, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	id, ok := t.byToken[tok]
	return id, ok
}

// admitted records a NATS client let in with session id's token.
func (t *tokens) admitted(id string, client uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.clients[id] = append(t.clients[id], client)
}

// revoke ends session id's token and returns the clients it let in.
func (t *tokens) revoke(id string) []uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.byToken, t.byID[id])
	delete(t.byID, id)
	c := t.clients[id]
	delete(t.clients, id)
	return c
}

// endSession ends a session's token, disconnects the NATS clients it let
// in (a reconnect is refused: the token is gone) and logs the close.
func (d *Daemon) endSession(id string) {
	clients := d.tokens.revoke(id)
	if d.nats != nil {
		for _, c := range clients {
			d.nats.DisconnectClient(c) // gone already: nothing to do
		}
	}
	d.log.Info("session closed", "session", id, "clients_disconnected", len(clients))
}

// SessionPermissions is what a client connected with a session's token
// may do: request the session's operations, follow its events live, and
// read, watch and replay its keys and stream messages, the README's
// late-joiner protocol, replies coming to inboxes under
// "_INBOX.<session token>" (its inbox prefix). Nothing else: no other
// session's subjects, no cellsd.v1.api.*, no JetStream API but reading
// the two streams filtered on this session.
func SessionPermissions(sessionID string) jwt.Permissions {
	t := natsbus.Token(sessionID)
	kvStream := "KV_" + natsbus.BucketName
	kvKeys := "$KV." + natsbus.BucketName + "." + t + ".>"
	events := natsbus.SubjectPrefix + "." + t + ".>"
	var p jwt.Permissions
	p.Pub.Allow.Add(
		natsbus.APISubject(sessionID)+".*",
		"$JS.API.STREAM.INFO."+kvStream,
		"$JS.API.STREAM.INFO."+natsbus.StreamName,
		// Consumers filtered on this session only: the server refuses a
		// create whose body filters otherwise than its subject.
		"$JS.API.CONSUMER.CREATE."+kvStream+".*."+kvKeys,
		"$JS.API.CONSUMER.CREATE."+natsbus.StreamName+".*."+events,
		"$JS.API.DIRECT.GET."+kvStream+"."+kvKeys,
		// Pulling from, asking after (nats.js's ordered consumers do) and
		// deleting when done, consumers by their (random, unlisted) names;
		// flow control of push consumers.
		"$JS.API.CONSUMER.INFO."+kvStream+".*",
		"$JS.API.CONSUMER.INFO."+natsbus.StreamName+".*",
		"$JS.API.CONSUMER.MSG.NEXT."+kvStream+".*",
		"$JS.API.CONSUMER.MSG.NEXT."+natsbus.StreamName+".*",
		"$JS.API.CONSUMER.DELETE."+kvStream+".*",
		"$JS.API.CONSUMER.DELETE."+natsbus.StreamName+".*",
		"$JS.FC."+kvStream+".>",
		"$JS.FC."+natsbus.StreamName+".>",
	)
	p.Sub.Allow.Add(events, InboxPrefix(sessionID)+".>")
	return p
}

// InboxPrefix is the inbox prefix a session-token client must connect
// with (nats.CustomInboxPrefix; inboxPrefix in nats.js).
func InboxPrefix(sessionID string) string { return "_INBOX." + natsbus.Token(sessionID) }

// callout answers the embedded server's auth callout requests
// ($SYS.REQ.USER.AUTH): a client with a session's token gets a user JWT
// with SessionPermissions; one with no credentials at all, from a loopback
// address, gets every permission when anonymous is set (the default,
// loopback-only mode); every other client is refused.
type callout struct {
	d         *Daemon
	issuer    nkeys.KeyPair // the account key the server trusts for callout users
	account   string        // the account callout users join
	anonymous bool
	sub       *nats.Subscription
}

func (c *callout) handle(m *nats.Msg) {
	req, err := jwt.DecodeAuthorizationRequestClaims(string(m.Data))
	if err != nil {
		c.d.log.Warn("nats connection refused", "reason", "bad auth callout request: "+err.Error())
		return // the server times the client out
	}
	ci, co := req.ClientInformation, req.ConnectOptions
	uc := jwt.NewUserClaims(req.UserNkey)
	uc.Audience = c.account
	var reason string
	switch {
	case co.Token != "":
		id, ok := c.d.tokens.Session(co.Token)
		if !ok {
			reason = "unknown or ended session token"
			break
		}
		uc.Name = "session:" + id
		uc.Permissions = SessionPermissions(id)
		c.d.tokens.admitted(id, ci.ID)
		c.d.log.Info("nats connection for session", "session", id, "client", ci.ID, "host", ci.Host)
	case co.Username == "" && co.Password == "" && co.Nkey == "" && co.JWT == "":
		if !c.anonymous {
			reason = "no credentials"
		} else if ip := net.ParseIP(ci.Host); ip == nil || !ip.IsLoopback() {
			reason = "no credentials, from a non-loopback address"
		} else {
			uc.Name = "loopback"
		}
	default:
		reason = "unknown user or credentials"
	}
	resp := jwt.NewAuthorizationResponseClaims(req.UserNkey)
	resp.Audience = req.Server.ID
	if reason == "" {
		resp.Jwt, err = uc.Encode(c.issuer)
		if err != nil {
			reason = "cannot sign user: " + err.Error()
		}
	}
	if reason != "" {
		resp.Jwt, resp.Error = "", reason
		c.d.log.Warn("nats connection refused", "reason", reason, "client", ci.ID, "host", ci.Host, "user", co.Username)
	}
	tok, err := resp.Encode(c.issuer)
	if err != nil {
		c.d.log.Error("auth callout: sign response", "err", err)
		return
	}
	m.Respond([]byte(tok))
}
