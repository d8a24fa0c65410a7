package main

import (
	"context"
	"time"

	"github.com/cellsd/cellsd/engine"
	"github.com/cellsd/cellsd/engine/daemon"
)

type serveCmd struct {
	NATS           string   `name:"nats" placeholder:"URL" help:"Use this NATS server or cluster instead of starting an embedded one."`
	NATSListen     string   `name:"nats-listen" default:"127.0.0.1:4222" placeholder:"HOST:PORT" help:"Client address of the embedded NATS server (port 0: any free port)."`
	NATSWebsocket  string   `name:"nats-websocket" placeholder:"HOST:PORT" help:"WebSocket address of the embedded NATS server, for browser frontends."`
	Data           string   `type:"path" placeholder:"DIR" help:"JetStream store of the embedded NATS server (default: a temporary directory)."`
	HTTP           string   `name:"http" default:"127.0.0.1:8765" placeholder:"HOST:PORT" help:"HTTP address: the SQLRooms DB bridge, /healthz, /readyz, /metrics."`
	Connections    string   `type:"path" placeholder:"FILE" help:"Connections config (TOML, [[db.connectors]])."`
	DB             string   `name:"db" type:"path" placeholder:"PATH" help:"Shared core DuckDB database, attached read-only into every session."`
	AuthToken      string   `name:"auth-token" env:"CELLSD_AUTH_TOKEN" placeholder:"TOKEN" help:"Require Authorization: Bearer TOKEN on every HTTP request."`
	AllowOrigin    []string `name:"allow-origin" sep:"none" placeholder:"ORIGIN" help:"Let web pages of ORIGIN (http://localhost:5173; * for any) call the HTTP API and open the NATS WebSocket. Repeatable."`
	Concurrency    int      `default:"${cpus}" placeholder:"N" help:"Cells each session runs at once (default: the number of CPUs, ${default})."`
	NATSConfig     string   `name:"nats-config" type:"existingfile" placeholder:"FILE" help:"nats-server config file for the embedded server (users, permissions, accounts, TLS, websocket). Without it the server listens on loopback only."`
	Notebooks      string   `type:"existingdir" placeholder:"DIR" help:"Directory open may read notebook files from (default: none, inline notebooks only)."`
	AllowDir       []string `name:"allow-dir" sep:"none" type:"existingdir" placeholder:"DIR" help:"Let SQL read files under DIR (DuckDB allowed_directories). Repeatable."`
	SessionMemory  string   `name:"session-memory" placeholder:"SIZE" help:"DuckDB memory_limit of each session, e.g. 2GB (default: a quarter of the machine's memory)."`
	SessionThreads int      `name:"session-threads" placeholder:"N" help:"DuckDB threads of each session (default: number of CPUs)."`
	MaxFileSize    int64    `name:"max-file-size" default:"16777216" placeholder:"BYTES" help:"Largest notebook or connections file read."`
	Name           string   `placeholder:"NAME" help:"The daemon's name in session claims and the sessions list; started again under it (or the same --data), it closes the sessions it left when killed (default: from --data, else random)."`
}

// shutdownGrace bounds a graceful stop: cancel, flush, release; SIGTERM
// must end the process within 10 s.
const shutdownGrace = 8 * time.Second

func (c *serveCmd) Run(e *env) error {
	if c.Concurrency < 1 {
		return usagef("--concurrency must be at least 1, got %d", c.Concurrency)
	}
	log := e.log
	if c.SessionThreads < 0 {
		return usagef("--session-threads must be positive, got %d", c.SessionThreads)
	}
	if c.MaxFileSize <= 0 {
		return usagef("--max-file-size must be positive, got %d", c.MaxFileSize)
	}
	reg, err := loadConnectionsLimit(c.Connections, c.MaxFileSize, log)
	if err != nil {
		return err
	}
	d := daemon.New(daemon.Config{
		NATSURL: c.NATS, NATSListen: c.NATSListen, NATSWebsocket: c.NATSWebsocket, DataDir: c.Data,
		HTTPAddr: c.HTTP, Connections: reg, DBPath: c.DB, AuthToken: c.AuthToken, AllowOrigins: c.AllowOrigin, Concurrency: c.Concurrency,
		NATSConfig: c.NATSConfig, Notebooks: c.Notebooks, MaxFileSize: c.MaxFileSize,
		Sandbox: engine.Sandbox{AllowDirs: c.AllowDir, MemoryLimit: c.SessionMemory, Threads: c.SessionThreads},
		Name:    c.Name, Logger: log,
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
