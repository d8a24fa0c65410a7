package natsbus

import (
	"log/slog"
	"net"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
)

// SessionPermissions is what a client connected with a session's token
// may do: request the session's operations, follow its events live, and
// read, watch and replay its keys and stream messages, the README's
// late-joiner protocol, replies coming to inboxes under
// "_INBOX.<session token>" (its inbox prefix). Nothing else: no other
// session's subjects, no cellsd.v1.api.*, no JetStream API but reading
// the two streams filtered on this session.
func SessionPermissions(sessionID string) jwt.Permissions {
	t := Token(sessionID)
	kvStream := "KV_" + BucketName
	kvKeys := "$KV." + BucketName + "." + t + ".>"
	events := SubjectPrefix + "." + t + ".>"
	var p jwt.Permissions
	p.Pub.Allow.Add(
		APISubject(sessionID)+".*",
		"$JS.API.STREAM.INFO."+kvStream,
		"$JS.API.STREAM.INFO."+StreamName,
		// Consumers filtered on this session only: the server refuses a
		// create whose body filters otherwise than its subject.
		"$JS.API.CONSUMER.CREATE."+kvStream+".*."+kvKeys,
		"$JS.API.CONSUMER.CREATE."+StreamName+".*."+events,
		"$JS.API.DIRECT.GET."+kvStream+"."+kvKeys,
		// Pulling from, asking after (nats.js's ordered consumers do) and
		// deleting when done, consumers by their (random, unlisted) names;
		// flow control of push consumers.
		"$JS.API.CONSUMER.INFO."+kvStream+".*",
		"$JS.API.CONSUMER.INFO."+StreamName+".*",
		"$JS.API.CONSUMER.MSG.NEXT."+kvStream+".*",
		"$JS.API.CONSUMER.MSG.NEXT."+StreamName+".*",
		"$JS.API.CONSUMER.DELETE."+kvStream+".*",
		"$JS.API.CONSUMER.DELETE."+StreamName+".*",
		"$JS.FC."+kvStream+".>",
		"$JS.FC."+StreamName+".>",
	)
	p.Sub.Allow.Add(events, InboxPrefix(sessionID)+".>")
	return p
}

// InboxPrefix is the inbox prefix a session-token client must connect
// with (nats.CustomInboxPrefix; inboxPrefix in nats.js).
func InboxPrefix(sessionID string) string { return "_INBOX." + Token(sessionID) }

// Callout answers the embedded server's auth callout requests
// ($SYS.REQ.USER.AUTH): a client with a session's token gets a user JWT
// with SessionPermissions; one with no credentials at all, from a loopback
// address, gets every permission when anonymous is set (the default,
// loopback-only mode); every other client is refused.
type Callout struct {
	Issuer    nkeys.KeyPair // the account key the server trusts for callout users
	Account   string        // the account callout users join
	Anonymous bool
	// Session is the id of the open session whose token tok is.
	Session func(tok string) (id string, ok bool)
	// Admitted is told of each client let in with a session's token.
	Admitted func(id string, client uint64)
	Log      *slog.Logger
}

// CalloutSubject is the subject of the server's auth callout requests.
const CalloutSubject = "$SYS.REQ.USER.AUTH"

// Handle answers one auth callout request.
func (c *Callout) Handle(m *nats.Msg) {
	req, err := jwt.DecodeAuthorizationRequestClaims(string(m.Data))
	if err != nil {
		c.Log.Warn("nats connection refused", "reason", "bad auth callout request: "+err.Error())
		return // the server times the client out
	}
	ci, co := req.ClientInformation, req.ConnectOptions
	uc := jwt.NewUserClaims(req.UserNkey)
	uc.Audience = c.Account
	var reason string
	switch {
	case co.Token != "":
		id, ok := c.Session(co.Token)
		if !ok {
			reason = "unknown or ended session token"
			break
		}
		uc.Name = "session:" + id
		uc.Permissions = SessionPermissions(id)
		c.Admitted(id, ci.ID)
		c.Log.Info("nats connection for session", "session", id, "client", ci.ID, "host", ci.Host)
	case co.Username == "" && co.Password == "" && co.Nkey == "" && co.JWT == "":
		if !c.Anonymous {
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
		resp.Jwt, err = uc.Encode(c.Issuer)
		if err != nil {
			reason = "cannot sign user: " + err.Error()
		}
	}
	if reason != "" {
		resp.Jwt, resp.Error = "", reason
		c.Log.Warn("nats connection refused", "reason", reason, "client", ci.ID, "host", ci.Host, "user", co.Username)
	}
	tok, err := resp.Encode(c.Issuer)
	if err != nil {
		c.Log.Error("auth callout: sign response", "err", err)
		return
	}
	m.Respond([]byte(tok))
}
