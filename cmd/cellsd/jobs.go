package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/cellsd/cellsd/connectors"
	"github.com/cellsd/cellsd/engine"
	"github.com/cellsd/cellsd/jobs"
)

// runJobs is the connectors.Sources of cellsd run: its Postgres and MySQL
// cells are jobs on CELLSD_JOBS, run by an embedded worker over the NATS
// of --nats, or else over an embedded NATS server of the run's own. It
// starts on the first external cell, so a run without one starts no NATS.
type runJobs struct {
	e           *env
	reg         *connectors.Registry
	url         string // --nats; empty: an embedded server
	concurrency int

	once  sync.Once
	err   error
	srv   *server.Server
	dir   string // srv's store
	conns []*nats.Conn
	local *jobs.Local
}

var _ connectors.Queueing = (*runJobs)(nil)

func newRunJobs(e *env, reg *connectors.Registry, url string, concurrency int) *runJobs {
	return &runJobs{e: e, reg: reg, url: url, concurrency: concurrency}
}

// Queues reports whether c's cells are jobs.
func (r *runJobs) Queues(c connectors.Connection) bool { return jobs.RunsOnWorkers(c) }

// Source starts the pool on first use.
func (r *runJobs) Source(c connectors.Connection) (connectors.Source, error) {
	if !jobs.RunsOnWorkers(c) {
		return r.e.sources.Source(c)
	}
	r.once.Do(func() { r.err = r.start() })
	if r.err != nil {
		return nil, r.err
	}
	return r.local.Sources.Source(c)
}

func (r *runJobs) start() error {
	ctx, cancel := context.WithTimeout(r.e.ctx, 30*time.Second)
	defer cancel()
	url, opts := r.url, []nats.Option{nats.MaxReconnects(-1), nats.ReconnectWait(250 * time.Millisecond)}
	if url == "" {
		srv, dir, err := startInProcessNATS()
		if err != nil {
			return err
		}
		r.srv, r.dir = srv, dir
		opts = append(opts, nats.InProcessServer(srv))
	}
	for _, name := range []string{"cellsd run", "cellsd run worker"} {
		nc, err := nats.Connect(url, append(opts, nats.Name(name))...)
		if err != nil {
			return fmt.Errorf("jobs: connect to nats %s: %w", url, err)
		}
		r.conns = append(r.conns, nc)
	}
	host, _ := os.Hostname()
	local, err := jobs.StartLocal(ctx, r.conns[0], r.conns[1], jobs.LocalOptions{Connections: r.reg, Other: r.e.sources,
		Name: fmt.Sprintf("embedded-%s-%d", host, os.Getpid()), Concurrency: r.concurrency, Logger: r.e.log})
	if err != nil {
		return fmt.Errorf("jobs: %w", err)
	}
	r.local = local
	return nil
}

// close stops the embedded worker, then NATS.
func (r *runJobs) close() {
	if r.local != nil {
		r.local.Close()
	}
	for _, nc := range r.conns {
		nc.Close()
	}
	if r.srv != nil {
		r.srv.Shutdown()
		r.srv.WaitForShutdown()
		os.RemoveAll(r.dir)
	}
}

// startInProcessNATS starts the NATS server of a run without --nats: with
// JetStream in a temporary directory, reachable in this process only (it
// listens on no port).
func startInProcessNATS() (*server.Server, string, error) {
	dir, err := os.MkdirTemp("", "cellsd-run-nats-")
	if err != nil {
		return nil, "", fmt.Errorf("jobs: %w", err)
	}
	srv, err := server.NewServer(&server.Options{ServerName: "cellsd-run", DontListen: true, JetStream: true, StoreDir: dir,
		NoSigs: true, NoLog: true, MaxPayload: 8 << 20})
	if err != nil {
		os.RemoveAll(dir)
		return nil, "", fmt.Errorf("jobs: nats: %w", err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		srv.Shutdown()
		os.RemoveAll(dir)
		return nil, "", errors.New("jobs: nats: not ready within 10s")
	}
	return srv, dir, nil
}

// workersReachable refuses, before anything runs, a cell to run on a
// workers = true connection in a run without --nats: no outside worker
// could take its job.
func workersReachable(plan *engine.Plan, artifact, path, url string, sel engine.Selection) error {
	if url != "" {
		return nil
	}
	for _, ap := range plan.Artifacts {
		if artifact != "" && ap.Artifact.ID != artifact {
			continue
		}
		for _, cp := range ap.Cells {
			if cp.Connection.Workers && len(cp.Errors) == 0 && sel.Has(ap.Artifact.ID, cp.Cell.ID) {
				return usagef("%s: connector %q: workers = true: its cells wait for outside workers (cellsd worker); give --nats URL, the NATS they take jobs from (cell %s/%s uses the connection)",
					path, cp.Connection.ID, ap.Artifact.ID, cp.Cell.ID)
			}
		}
	}
	return nil
}
