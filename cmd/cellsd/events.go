package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cellsd/cellsd/engine/natsbus"
)

// events publishes a batch run's events to NATS.
type events struct {
	nc    *nats.Conn
	js    jetstream.JetStream
	pub   *natsbus.Publisher
	e     *env
	sub   *nats.Subscription
	claim *natsbus.Holder
}

func openEvents(e *env, url string) (*events, error) {
	ctx, cancel := context.WithTimeout(e.ctx, 10*time.Second)
	defer cancel()
	nc, js, err := natsbus.Connect(ctx, url, natsbus.ConnectOptions{Name: "cellsd run"})
	if err != nil {
		return nil, usagef("--nats %s: %v", url, err)
	}
	return &events{nc: nc, js: js, pub: natsbus.NewPublisher(js, e.log, natsbus.Hooks{}), e: e}, nil
}

// begin claims the run's session id on NATS, as a daemon's open does
// (natsbus.Acquire), before anything runs: an id live on a daemon or in
// another run is a conflict (exit 2) and nothing is written. While the run
// holds it, the session's API subjects answer that it is a batch run. It
// returns the seq the run's events continue from; the bucket's keys of
// the id's earlier incarnation are gone.
func (ev *events) begin(id string) (int64, error) {
	if err := natsbus.CheckID(id); err != nil {
		return 0, usagef("--session: %v", err)
	}
	ctx, cancel := context.WithTimeout(ev.e.ctx, 30*time.Second)
	defer cancel()
	host, _ := os.Hostname()
	busy, _ := json.Marshal(map[string]any{"error": map[string]string{"code": "unavailable",
		"message": fmt.Sprintf("session %q is a batch run (cellsd run): it takes no requests", id)}})
	h, err := natsbus.Acquire(ctx, ev.js, natsbus.Claim{SessionID: id, Owner: fmt.Sprintf("cellsd run (pid %d on %s)", os.Getpid(), host), OpenedAt: time.Now().UTC()},
		func() error {
			var err error
			if ev.sub, err = ev.nc.Subscribe(natsbus.APISubject(id)+".*", func(m *nats.Msg) { m.Respond(busy) }); err != nil {
				return err
			}
			return ev.nc.FlushTimeout(10 * time.Second)
		})
	if err != nil {
		if ev.sub != nil {
			ev.sub.Unsubscribe()
		}
		if errors.Is(err, natsbus.ErrConflict) {
			return 0, usagef("--session %s: conflict: %v", id, err)
		}
		return 0, usagef("--session %s: %v", id, err)
	}
	ev.claim = h
	first, err := natsbus.Begin(ctx, ev.js, id)
	if err != nil {
		return 0, usagef("--session %s: %v", id, err)
	}
	return first, nil
}

// close publishes what is buffered, for 10 s at most: a NATS outage never
// fails the run, but events it holds back are lost, and said so.
func (ev *events) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := ev.pub.Close(ctx); err != nil {
		ev.e.log.Warn("events not published", "err", err)
	}
	if ev.sub != nil {
		ev.sub.Unsubscribe()
	}
	if err := ev.claim.Release(ctx); err != nil {
		ev.e.log.Warn("session claim not released", "err", err)
	}
	ev.nc.Close()
}
