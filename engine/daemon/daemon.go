// Package daemon is cellsd serve: sessions opened and driven over NATS
// request/reply (the job API, package jobapi), their events published
// through natsbus, and an HTTP server for health, metrics, the SQLRooms DB
// bridge (package bridgeserver) and the live page (package page). A
// Daemon is safe for concurrent use.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cellsd/cellsd/connectors"
	"github.com/cellsd/cellsd/connectors/registry"
	"github.com/cellsd/cellsd/engine"
	"github.com/cellsd/cellsd/engine/daemon/bridgeserver"
	"github.com/cellsd/cellsd/engine/daemon/jobapi"
	"github.com/cellsd/cellsd/engine/natsbus"
	"github.com/cellsd/cellsd/jobs"
)

// Config configures a Daemon.
type Config struct {
	// NATSURL is an existing NATS server or cluster; empty starts an
	// embedded server.
	NATSURL string
	// NATSListen is the embedded server's client address ("127.0.0.1:4222";
	// port 0 picks a free one).
	NATSListen string
	// NATSWebsocket, when set, is the embedded server's WebSocket address,
	// for browser frontends; empty: a free port of 127.0.0.1, for the page.
	NATSWebsocket string
	// PageWebsocket is the NATS WebSocket URL the live page connects to;
	// empty: the embedded server's (see web.go).
	PageWebsocket string
	// DataDir is the embedded server's JetStream store; empty means a
	// temporary directory removed at Close.
	DataDir string
	// HTTPAddr is the HTTP address ("127.0.0.1:8765"; port 0 picks one).
	HTTPAddr string
	// Connections resolves the connectorIds of notebooks.
	Connections *connectors.Registry
	// DBPath is the shared core DuckDB, attached read-only into sessions.
	DBPath string
	// AuthToken, when set, is required as a Bearer token on every HTTP
	// request.
	AuthToken string
	// AllowOrigins are the web origins ("http://localhost:5173") whose
	// pages may call the HTTP API (CORS) and open the embedded server's
	// WebSocket; "*" allows any. Empty: pages of the daemon's own origin
	// only. Programs, which send no Origin, are not concerned.
	AllowOrigins []string
	// Concurrency bounds the cells each session runs at once; 0 means the
	// number of CPUs.
	Concurrency int
	// Queue is the queue group of cellsd.v1.api.open; defaults to "cellsd".
	Queue string
	// Name is the daemon's name in session claims and the sessions list.
	// A daemon started again under the same name (or, without one, the
	// same DataDir) closes the sessions it left when it was killed.
	// Without either it gets a random name.
	Name string
	// NATSConfig is a nats-server config file for the embedded server
	// (users, permissions, accounts, TLS, websocket); empty listens on
	// loopback only (DESIGN.md "A daemon that is safe to share").
	NATSConfig string
	// Sandbox is applied to every session's DuckDB and to duckdb-core;
	// an empty MemoryLimit is engine.FairMemoryLimit().
	Sandbox engine.Sandbox
	// Notebooks is the directory open may read notebook files from;
	// empty: open takes inline notebooks only.
	Notebooks string
	// MaxFileSize bounds a notebook file; 0 is limits.DefaultFileSize.
	MaxFileSize int64
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// Daemon serves sessions. New has no side effects; Open starts it; Close
// stops it.
type Daemon struct {
	cfg        Config
	log        *slog.Logger
	name       string
	stableName bool // from Config.Name or DataDir: the same after a restart

	nats    *natsbus.Server // nil with Config.NATSURL
	nc      *nats.Conn
	js      jetstream.JetStream
	pub     *natsbus.Publisher
	core    *core // the bridge's duckdb-core
	bridge  *bridgeserver.Server
	http    *http.Server
	httpLn  net.Listener
	metrics *metrics
	openSub *nats.Subscription
	listSub *nats.Subscription
	nbSub   *nats.Subscription // cellsd.v1.api.notebooks
	sandbox *engine.Sandbox
	tokens  *tokens
	// registry holds the Sources of the connections that are not jobs
	// (bridges), shared by all the sessions; closed last.
	registry *registry.Sources
	// jobs submits the sessions' Postgres and MySQL cells to CELLSD_JOBS;
	// its embedded worker (on workerNC) runs the connections the daemon
	// holds credentials for. sources is the sessions' Sources: jobs, or
	// registry for bridges.
	jobs     *jobs.Local
	workerNC *nats.Conn
	sources  connectors.Sources

	opens sync.WaitGroup // open requests in flight
	wg    sync.WaitGroup // the HTTP server

	mu       sync.Mutex
	closing  bool
	sessions map[string]*session
	opening  map[string]*session // ids being opened
}

// New returns a daemon; it starts nothing until Open.
func New(cfg Config) *Daemon {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Queue == "" {
		cfg.Queue = "cellsd"
	}
	if cfg.NATSListen == "" {
		cfg.NATSListen = "127.0.0.1:4222"
	}
	if cfg.HTTPAddr == "" {
		cfg.HTTPAddr = "127.0.0.1:8765"
	}
	name, stable := daemonName(cfg)
	sb := cfg.Sandbox
	if sb.MemoryLimit == "" {
		sb.MemoryLimit = engine.FairMemoryLimit()
	}
	return &Daemon{cfg: cfg, log: cfg.Logger.With("component", "daemon", "daemon", name), name: name, stableName: stable,
		sessions: map[string]*session{}, opening: map[string]*session{}, sandbox: &sb, tokens: newTokens(),
		registry: registry.New()}
}

// Open starts the embedded NATS server (unless given one), connects, sets
// up the event stream and bucket, opens the core DuckDB, starts answering
// the job API and serving HTTP. On failure it releases what it started.
func (d *Daemon) Open(ctx context.Context) (err error) {
	defer func() {
		if err != nil {
			d.Close(context.WithoutCancel(ctx))
		}
	}()
	if err := d.cfg.checkExposure(); err != nil {
		return err
	}
	// HTTP listens first: the page it serves is an origin the embedded
	// WebSocket must let in.
	if d.httpLn, err = net.Listen("tcp", d.cfg.HTTPAddr); err != nil {
		return fmt.Errorf("http: %w", err)
	}
	url := d.cfg.NATSURL
	co := natsbus.ConnectOptions{Name: "cellsd " + d.name, Logger: d.log}
	if url == "" {
		if d.nats, err = natsbus.StartServer(natsbus.ServerConfig{Listen: d.cfg.NATSListen, Websocket: d.cfg.NATSWebsocket, Origins: d.websocketOrigins(),
			DataDir: d.cfg.DataDir, ConfigFile: d.cfg.NATSConfig}, d.cfg.Logger); err != nil {
			return err
		}
		url = d.nats.ClientURL()
		if a := d.nats.Auth(); a != nil {
			co.User, co.Password = a.User, a.Password
		}
	}
	if d.nc, d.js, err = natsbus.Connect(ctx, url, co); err != nil {
		return err
	}
	if err = d.serveCallout(); err != nil {
		return err
	}
	if err = d.openJobs(ctx, url, co); err != nil {
		return err
	}
	d.metrics = newMetrics(func() float64 { return float64(d.pub.Buffered()) }, d.jobs.Client)
	d.pub = natsbus.NewPublisher(d.js, d.cfg.Logger, natsbus.Hooks{
		Published: func(n int) { d.metrics.published.Add(float64(n)) },
		Retried:   func(error) { d.metrics.retries.Inc() },
	})
	if d.core, err = openCore(ctx, d.cfg.DBPath, d.sandbox); err != nil {
		return err
	}
	if d.stableName {
		if err = d.closeAbandoned(ctx); err != nil {
			return err
		}
	}
	if d.listSub, err = d.nc.Subscribe(jobapi.SessionsSubject, d.handleSessions); err != nil {
		return fmt.Errorf("subscribe %s: %w", jobapi.SessionsSubject, err)
	}
	if d.openSub, err = d.nc.QueueSubscribe(jobapi.OpenSubject, d.cfg.Queue, d.handleOpen); err != nil {
		return fmt.Errorf("subscribe %s: %w", jobapi.OpenSubject, err)
	}
	if d.nbSub, err = d.nc.QueueSubscribe(jobapi.NotebooksSubject, d.cfg.Queue, d.handleNotebooks); err != nil {
		return fmt.Errorf("subscribe %s: %w", jobapi.NotebooksSubject, err)
	}
	if err = d.nc.FlushTimeout(10 * time.Second); err != nil {
		return fmt.Errorf("subscribe %s: %w", jobapi.OpenSubject, err)
	}
	d.bridge = bridgeserver.NewServer(bridgeserver.ServerConfig{Connections: d.cfg.Connections, Core: d.core.db, Logger: d.cfg.Logger, Sessions: bridgeSessions{d}})
	d.log.Info("sandbox", "allow_dirs", d.sandbox.AllowDirs, "session_memory", d.sandbox.MemoryLimit, "session_threads", d.sandbox.Threads,
		"notebooks", d.cfg.Notebooks)
	h, err := d.handler()
	if err != nil {
		d.httpLn.Close()
		return err
	}
	d.http = &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		if err := d.http.Serve(d.httpLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
			d.log.Error("http server stopped", "err", err)
		}
	}()
	d.log.Info("cellsd serving", "nats", url, "http", d.HTTPAddr(), "websocket", d.WebsocketURL())
	return nil
}

// openJobs starts the jobs client and the embedded worker: the sessions'
// Postgres and MySQL cells are jobs on CELLSD_JOBS, taken by the embedded
// worker for the connections with credentials and by outside workers
// (cellsd worker) for those with workers = true.
func (d *Daemon) openJobs(ctx context.Context, url string, co natsbus.ConnectOptions) error {
	opts := []nats.Option{nats.Name("cellsd " + d.name + " worker"), nats.MaxReconnects(-1), nats.ReconnectWait(250 * time.Millisecond)}
	if co.User != "" {
		opts = append(opts, nats.UserInfo(co.User, co.Password))
	}
	var err error
	if d.workerNC, err = nats.Connect(url, opts...); err != nil {
		return fmt.Errorf("jobs: connect to nats %s: %w", url, err)
	}
	concurrency := max(d.cfg.Concurrency, runtime.NumCPU()) * 4
	if d.jobs, err = jobs.StartLocal(ctx, d.nc, d.workerNC, jobs.LocalOptions{Connections: d.cfg.Connections, Other: d.registry,
		Name: d.name, Concurrency: concurrency, Logger: d.cfg.Logger}); err != nil {
		return fmt.Errorf("jobs: %w", err)
	}
	d.sources = d.jobs.Sources
	var outside []string
	if d.cfg.Connections != nil {
		for _, id := range d.cfg.Connections.IDs() {
			if c, _ := d.cfg.Connections.Lookup(id); c.Workers {
				outside = append(outside, id)
			}
		}
	}
	if len(outside) > 0 {
		d.log.Info("connections run by outside workers (cellsd worker)", "connections", outside)
	}
	return nil
}

// jobsStatus is the status op's view of the jobs.
func (d *Daemon) jobsStatus() *jobapi.JobsStatus {
	if d.jobs == nil {
		return nil
	}
	out := &jobapi.JobsStatus{Waiting: d.jobs.Client.Waiting(), Workers: []jobapi.WorkerStatus{}}
	for _, p := range d.jobs.Client.Workers() {
		out.Workers = append(out.Workers, jobapi.WorkerStatus{Name: p.Worker, Connectors: p.Connectors, Running: p.Running})
	}
	return out
}

// NATSURL is the URL clients reach the daemon's NATS at.
func (d *Daemon) NATSURL() string { return d.nc.ConnectedUrl() }

// WebsocketURL is the embedded server's WebSocket URL, or "".
func (d *Daemon) WebsocketURL() string {
	if d.nats == nil {
		return ""
	}
	return d.nats.WebsocketURL()
}

// HTTPAddr is the address the HTTP server listens on.
func (d *Daemon) HTTPAddr() string { return d.httpLn.Addr().String() }

// httpURL is the HTTP server's URL, as the sessions list gives it.
func (d *Daemon) httpURL() string {
	if d.httpLn == nil {
		return ""
	}
	return "http://" + d.HTTPAddr()
}

// Sessions returns the ids of the sessions this daemon owns.
func (d *Daemon) Sessions() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	ids := make([]string, 0, len(d.sessions))
	for id := range d.sessions {
		ids = append(ids, id)
	}
	return ids
}

// Close stops taking work, cancels every running cell (their cancel
// events are published), closes every session, publishes the events still
// buffered while ctx allows, and releases everything: NATS, DuckDB, the
// embedded server. It is safe to call more than once.
func (d *Daemon) Close(ctx context.Context) error {
	d.mu.Lock()
	if d.closing {
		d.mu.Unlock()
		return nil
	}
	d.closing = true
	sessions := d.sessions
	d.sessions = map[string]*session{}
	d.mu.Unlock()

	var errs []error
	if d.openSub != nil {
		d.openSub.Unsubscribe()
	}
	if d.listSub != nil {
		d.listSub.Unsubscribe()
	}
	if d.nbSub != nil {
		d.nbSub.Unsubscribe()
	}
	d.opens.Wait() // a session they open now is closed at once
	var wg sync.WaitGroup
	for _, s := range sessions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.close()
		}()
	}
	wg.Wait()
	if d.metrics != nil {
		d.metrics.sessions.Set(0)
	}
	if d.pub != nil {
		if err := d.pub.Close(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if d.bridge != nil {
		// Before the HTTP server: it cancels the bridge's queries, which
		// the server's shutdown would otherwise wait for.
		if err := d.bridge.Close(); err != nil {
			errs = append(errs, fmt.Errorf("bridge: %w", err))
		}
	}
	if d.http == nil && d.httpLn != nil { // Open failed before serving
		d.httpLn.Close()
	}
	if d.http != nil {
		if err := d.http.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("http shutdown: %w", err))
		}
	} else if d.httpLn != nil {
		d.httpLn.Close()
	}
	d.wg.Wait()
	if d.jobs != nil { // the sessions that submitted jobs are closed
		errs = append(errs, d.jobs.Close())
	}
	if d.workerNC != nil {
		d.workerNC.Close()
	}
	if err := d.registry.Close(); err != nil {
		errs = append(errs, fmt.Errorf("sources: %w", err))
	}
	if d.nc != nil {
		d.nc.Close()
	}
	if d.core != nil {
		errs = append(errs, d.core.close())
	}
	if d.nats != nil {
		d.nats.Stop()
	}
	return errors.Join(errs...)
}

// ready says why the daemon cannot take work, or nil.
func (d *Daemon) ready(ctx context.Context) error {
	d.mu.Lock()
	closing := d.closing
	d.mu.Unlock()
	switch {
	case closing:
		return errors.New("shutting down")
	case !d.nc.IsConnected():
		return fmt.Errorf("nats not connected (%s)", d.nc.Status())
	}
	if err := d.core.db.PingContext(ctx); err != nil {
		return fmt.Errorf("duckdb: %w", err)
	}
	return nil
}
