package daemon

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/cellsd/cellsd/engine"
	"github.com/cellsd/cellsd/engine/daemon/bridgeserver"
	"github.com/cellsd/cellsd/sqlparse"
)

// How long the bridge gathers the replies of cellsd.v1.api.sessions when
// it looks for the daemon that serves a session (CONTRACTS.md): until
// listQuiet passes with none, at most listMax.
const (
	listSessionsSubject = "cellsd.v1.api.sessions"
	listQuiet           = 250 * time.Millisecond
	listMax             = 2 * time.Second
)

// bridgeSessions gives the bridge the daemon's sessions.
type bridgeSessions struct{ d *Daemon }

// Session returns a session this daemon serves. For any other, it asks
// every daemon on the NATS for its sessions, so the 404 can name the HTTP
// address of the one that serves it.
func (b bridgeSessions) Session(ctx context.Context, id string) (bridgeserver.SessionDB, error) {
	b.d.mu.Lock()
	s := b.d.sessions[id]
	b.d.mu.Unlock()
	if s != nil {
		if es := s.s.Load(); es != nil { // nil while it opens
			return sessionDB{es}, nil
		}
	}
	owner, err := b.d.ownerOf(ctx, id)
	switch {
	case err != nil:
		return nil, fmt.Errorf("%w: session %q: this daemon does not serve it, and listing the sessions of the others failed: %v", bridgeserver.ErrUnknownSession, id, err)
	case owner == nil:
		return nil, fmt.Errorf("%w: session %q: no daemon on this NATS serves it", bridgeserver.ErrUnknownSession, id)
	}
	return nil, fmt.Errorf("%w: session %q is served by daemon %s at %s; ask that address",
		bridgeserver.ErrUnknownSession, id, owner.Name, owner.HTTP)
}

// sessionDB is an engine session as the bridge reads it.
type sessionDB struct{ s *engine.Session }

func (db sessionDB) Check(ctx context.Context, text string) error {
	return bridgeError(db.s.CheckQuery(ctx, text))
}

func (db sessionDB) Query(ctx context.Context, text string, fn func(*sql.Rows) error) error {
	if err := db.Check(ctx, text); err != nil {
		return err
	}
	return bridgeError(db.s.ReadOnly(ctx, func(ctx context.Context, conn *sql.Conn) error {
		rows, err := conn.QueryContext(ctx, text)
		if err != nil {
			return err
		}
		defer rows.Close()
		if err := fn(rows); err != nil {
			return err
		}
		return rows.Close()
	}))
}

func (db sessionDB) Schemas() (string, []string) { return db.s.Schemas() }

// bridgeError makes the engine's errors the bridge's: SQL that is not one
// query is bridgeserver.ErrNotQuery, a closed session bridgeserver.ErrUnknownSession.
func bridgeError(err error) error {
	switch {
	case errors.Is(err, sqlparse.ErrNotQuery):
		return alsoIs{err, bridgeserver.ErrNotQuery}
	case errors.Is(err, engine.ErrClosed):
		return alsoIs{err, bridgeserver.ErrUnknownSession}
	}
	return err
}

// alsoIs is err, also matching is for errors.Is.
type alsoIs struct{ err, is error }

func (e alsoIs) Error() string   { return e.err.Error() }
func (e alsoIs) Unwrap() []error { return []error{e.err, e.is} }

// listedDaemon is the daemon of an entry of cellsd.v1.api.sessions.
type listedDaemon struct {
	Name string `json:"name"`
	HTTP string `json:"http"`
}

// ownerOf asks every daemon for its sessions (cellsd.v1.api.sessions) and
// returns the daemon that serves id, or nil when none says it does.
func (d *Daemon) ownerOf(ctx context.Context, id string) (*listedDaemon, error) {
	inbox := d.nc.NewRespInbox()
	sub, err := d.nc.SubscribeSync(inbox)
	if err != nil {
		return nil, err
	}
	defer sub.Unsubscribe()
	if err := d.nc.PublishRequest(listSessionsSubject, inbox, []byte(`{}`)); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, listMax)
	defer cancel()
	for {
		wait, wcancel := context.WithTimeout(ctx, listQuiet)
		m, err := sub.NextMsgWithContext(wait)
		wcancel()
		switch {
		case errors.Is(err, context.DeadlineExceeded), errors.Is(err, nats.ErrNoResponders):
			return nil, nil // quiet, or at most listMax: every answer is in
		case err != nil:
			return nil, err
		case len(m.Data) == 0: // a status message: no responders
			return nil, nil
		}
		var list struct {
			Sessions []struct {
				SessionID string       `json:"sessionId"`
				Daemon    listedDaemon `json:"daemon"`
			} `json:"sessions"`
		}
		if json.Unmarshal(m.Data, &list) != nil {
			continue // not a list (an error reply): no session in it
		}
		for _, s := range list.Sessions {
			if s.SessionID == id {
				return &s.Daemon, nil
			}
		}
	}
}
