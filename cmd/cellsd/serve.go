package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cellsd/cellsd/connectors"
	"github.com/cellsd/cellsd/engine/daemon"
	"github.com/cellsd/cellsd/engine/natsbus"
)

type serveCmd struct {
	NATS          string `name:"nats" placeholder:"URL" help:"Use this NATS server or cluster instead of starting an embedded one."`
	NATSListen    string `name:"nats-listen" default:"127.0.0.1:4222" placeholder:"HOST:PORT" help:"Client address of the embedded NATS server (port 0: any free port)."`
	NATSWebsocket string `name:"nats-websocket" placeholder:"HOST:PORT" help:"WebSocket address of the embedded NATS server, for browser frontends."`
	Data          string `type:"path" placeholder:"DIR" help:"JetStream store of the embedded NATS server (default: a temporary directory)."`
	HTTP          string `name:"http" default:"127.0.0.1:8765" placeholder:"HOST:PORT" help:"HTTP address: the SQLRooms DB bridge, /healthz, /readyz, /metrics."`
	Connections   string `type:"path" placeholder:"FILE" help:"Connections config (TOML, [[db.connectors]])."`
	DB            string `name:"db" type:"path" placeholder:"PATH" help:"Shared core DuckDB database, attached read-only into every session."`
	AuthToken     string `name:"auth-token" env:"CELLSD_AUTH_TOKEN" placeholder:"TOKEN" help:"Require Authorization: Bearer TOKEN on every HTTP request."`
	Concurrency   int    `placeholder:"N" help:"Cells each session runs at once (default: number of CPUs)."`
}

// shutdownGrace bounds a graceful stop: cancel, flush, release; SIGTERM
// must end the process within 10 s.
const shutdownGrace = 8 * time.Second

func (c *serveCmd) Run(e *env) error {
	if c.Concurrency < 0 {
		return usagef("--concurrency must be positive, got %d", c.Concurrency)
	}
	var reg *connectors.Registry
	if c.Connections != "" {
		var err error
		if reg, err = connectors.LoadFile(c.Connections); err != nil {
			return usageError{err}
		}
	}
	log := slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	d := daemon.New(daemon.Config{
		NATSURL: c.NATS, NATSListen: c.NATSListen, NATSWebsocket: c.NATSWebsocket, DataDir: c.Data,
		HTTPAddr: c.HTTP, Connections: reg, DBPath: c.DB, AuthToken: c.AuthToken, Concurrency: c.Concurrency,
		Logger: log,
	})
	openCtx, cancel := context.WithTimeout(e.ctx, time.Minute)
	defer cancel()
	if err := d.Open(openCtx); err != nil {
		return usageError{err}
	}
	<-e.ctx.Done() // SIGINT or SIGTERM; a second one kills the process
	log.Info("shutting down: cancelling running cells and flushing events", "grace", shutdownGrace)
	ctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if err := d.Close(ctx); err != nil {
		log.Error("shutdown incomplete", "err", err)
	}
	return nil
}

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
