package daemon

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/cellsd/cellsd/engine"
	"github.com/cellsd/cellsd/engine/daemon/bridgeserver"
	"github.com/cellsd/cellsd/engine/daemon/jobapi"
	"github.com/cellsd/cellsd/sqlparse"
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
	owner, err := jobapi.FindSession(ctx, b.d.nc, id)
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
