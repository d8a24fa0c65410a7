package daemon

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"

	"github.com/cellsd/cellsd/engine"
	"github.com/cellsd/cellsd/engine/daemon/jobapi"
	"github.com/cellsd/cellsd/engine/natsbus"
)

// handleSessions answers cellsd.v1.api.sessions with this daemon's
// sessions, sorted by id. Every daemon answers (no queue group): a client
// gathers the replies.
func (d *Daemon) handleSessions(m *nats.Msg) {
	if err := jobapi.Decode(m.Data, &struct{}{}); err != nil {
		d.respond(m, "sessions", nil, err)
		return
	}
	d.mu.Lock()
	out := jobapi.SessionsReply{Sessions: []jobapi.SessionInfo{}}
	for _, s := range d.sessions {
		info := jobapi.SessionInfo{SessionID: s.id, Title: s.title, Daemon: jobapi.DaemonInfo{Name: d.name, HTTP: d.httpURL()},
			OpenedAt: s.openedAt.UTC().Format(time.RFC3339), Cells: s.cells}
		if s.path != "" {
			path := s.path
			info.Path = &path
		}
		out.Sessions = append(out.Sessions, info)
	}
	d.mu.Unlock()
	slices.SortFunc(out.Sessions, func(a, b jobapi.SessionInfo) int { return strings.Compare(a.SessionID, b.SessionID) })
	d.respond(m, "sessions", out, nil)
}

// Name is the daemon's name: what its claims of session ids carry, and how
// it knows, once restarted, which sessions were its own.
func (d *Daemon) Name() string { return d.name }

// daemonName is Config.Name, else a name made from the host and the
// absolute --data directory (the same after a restart), else a random one
// (a daemon with neither has nothing to find again: its store was a
// temporary directory).
func daemonName(cfg Config) (name string, stable bool) {
	if cfg.Name != "" {
		return cfg.Name, true
	}
	if cfg.DataDir != "" {
		abs, err := filepath.Abs(cfg.DataDir)
		if err != nil {
			abs = cfg.DataDir
		}
		host, _ := os.Hostname()
		sum := sha256.Sum256([]byte(abs))
		return "cellsd-" + host + "-" + hex.EncodeToString(sum[:4]), true
	}
	return "cellsd-" + strings.ToLower(nuid.Next()), false
}

// closeAbandoned closes the sessions an earlier run of this daemon (same
// name) left claimed, having been killed: their unfinished cells get a
// final cancel event, reason "daemon restarted", then the session its
// closed event, and the claim is dropped. A claim whose session answers
// (another process that shares the name) is left alone.
func (d *Daemon) closeAbandoned(ctx context.Context) error {
	claims, err := natsbus.Claims(ctx, d.js)
	if err != nil {
		return fmt.Errorf("read session claims: %w", err)
	}
	kv, err := d.js.KeyValue(ctx, natsbus.SessionsBucket)
	if err != nil {
		return fmt.Errorf("read session claims: %w", err)
	}
	for _, c := range claims {
		if c.Owner != d.name {
			continue
		}
		if live, err := natsbus.Live(ctx, d.nc, c.SessionID); err != nil || live {
			continue
		}
		publish := d.pub.Observer()
		n, err := natsbus.CloseAbandoned(ctx, d.js, c.SessionID, func(ev engine.Event) {
			d.metrics.observe(ev)
			publish(ev)
		})
		if err != nil {
			return fmt.Errorf("close session %q left by a killed daemon: %w", c.SessionID, err)
		}
		if err := d.pub.Flush(ctx); err != nil {
			return err
		}
		if err := kv.Delete(ctx, natsbus.Token(c.SessionID)); err != nil && err != jetstream.ErrKeyNotFound {
			return fmt.Errorf("drop claim of session %q: %w", c.SessionID, err)
		}
		d.log.Info("closed a session the daemon owned before it restarted", "session", c.SessionID, "cancelled", n)
	}
	return nil
}
