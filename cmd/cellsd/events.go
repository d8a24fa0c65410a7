package main

import (
	"context"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cellsd/cellsd/engine/natsbus"
)

// events publishes a batch run's events to NATS.
type events struct {
	nc  *nats.Conn
	pub *natsbus.Publisher
	e   *env
}

func openEvents(e *env, url string) (*events, error) {
	nc, err := nats.Connect(url, nats.Name("cellsd run"), nats.MaxReconnects(-1), nats.ReconnectBufSize(-1))
	if err != nil {
		return nil, usagef("--nats %s: %v", url, err)
	}
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncTimeout(5*time.Second))
	if err != nil {
		nc.Close()
		return nil, usagef("--nats %s: %v", url, err)
	}
	ctx, cancel := context.WithTimeout(e.ctx, 10*time.Second)
	defer cancel()
	if _, err := natsbus.Setup(ctx, js, 0); err != nil {
		nc.Close()
		return nil, usagef("--nats %s: %v", url, err)
	}
	return &events{nc: nc, pub: natsbus.NewPublisher(js, e.log, natsbus.Hooks{}), e: e}, nil
}

// close publishes what is buffered, for 10 s at most: a NATS outage never
// fails the run, but events it holds back are lost, and said so.
func (ev *events) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := ev.pub.Close(ctx); err != nil {
		ev.e.log.Warn("events not published", "err", err)
	}
	ev.nc.Close()
}
