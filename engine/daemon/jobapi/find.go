package jobapi

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/nats-io/nats.go"
)

// How long FindSession gathers the replies of cellsd.v1.api.sessions when
// it looks for the daemon that serves a session (CONTRACTS.md): until
// listQuiet passes with none, at most listMax.
const (
	listQuiet = 250 * time.Millisecond
	listMax   = 2 * time.Second
)

// FindSession asks every daemon for its sessions (SessionsSubject) and
// returns the daemon that serves id, or nil when none says it does.
func FindSession(ctx context.Context, nc *nats.Conn, id string) (*DaemonInfo, error) {
	inbox := nc.NewRespInbox()
	sub, err := nc.SubscribeSync(inbox)
	if err != nil {
		return nil, err
	}
	defer sub.Unsubscribe()
	if err := nc.PublishRequest(SessionsSubject, inbox, []byte(`{}`)); err != nil {
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
				SessionID string     `json:"sessionId"`
				Daemon    DaemonInfo `json:"daemon"`
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
