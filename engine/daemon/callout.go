package daemon

import (
	"crypto/rand"
	"encoding/base64"
	"sync"
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
