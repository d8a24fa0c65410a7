package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/cellsd/cellsd/connectors"
	"github.com/cellsd/cellsd/jobs"
)

type workerCmd struct {
	NATS           string   `name:"nats" required:"" env:"CELLSD_NATS" placeholder:"URL" help:"NATS server or cluster (comma-separated URLs) to take jobs from; nats://user:password@host:4222 for a --nats-config user (or set CELLSD_NATS, out of ps)."`
	Connections    string   `required:"" type:"existingfile" placeholder:"FILE" help:"Connections config (TOML, [[db.connectors]]) with the credentials of the connections this worker runs."`
	Connector      []string `sep:"none" placeholder:"ID" help:"Take only this connection's jobs (repeatable; default: every Postgres and MySQL connection whose secret is set)."`
	Concurrency    int      `default:"4" placeholder:"N" help:"Jobs run at once."`
	Name           string   `placeholder:"NAME" help:"The worker's name in cells' events and in metrics (default: host-pid)."`
	MaxResultBytes int64    `name:"max-result-bytes" placeholder:"BYTES" help:"Largest result streamed (default: the engine's limit only)."`
	Metrics        string   `placeholder:"HOST:PORT" help:"Serve /metrics (Prometheus) on this address."`
}

func (c *workerCmd) Run(e *env) error {
	if c.Concurrency <= 0 {
		return usagef("--concurrency must be positive, got %d", c.Concurrency)
	}
	if c.MaxResultBytes < 0 {
		return usagef("--max-result-bytes must be positive, got %d", c.MaxResultBytes)
	}
	log := slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	reg, err := loadConnections(c.Connections, log)
	if err != nil {
		return err
	}
	conns, err := workerConnections(reg, c.Connector, log)
	if err != nil {
		return err
	}
	name := c.Name
	if name == "" {
		host, _ := os.Hostname()
		name = fmt.Sprintf("%s-%d", host, os.Getpid())
	}
	nc, err := nats.Connect(c.NATS, nats.Name("cellsd worker "+name), nats.MaxReconnects(-1), nats.ReconnectWait(250*time.Millisecond))
	if err != nil {
		return usagef("--nats %s: %v", c.NATS, err)
	}
	defer nc.Close()
	prom := prometheus.NewRegistry()
	prom.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	w, err := jobs.NewWorker(nc, jobs.WorkerOptions{Name: name, Connections: conns, Concurrency: c.Concurrency,
		MaxResultBytes: c.MaxResultBytes, Registerer: prom, Logger: log})
	if err != nil {
		return usageError{err}
	}
	if c.Metrics != "" {
		l, err := net.Listen("tcp", c.Metrics)
		if err != nil {
			return usagef("--metrics %s: %v", c.Metrics, err)
		}
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", promhttp.HandlerFor(prom, promhttp.HandlerOpts{}))
		srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		go srv.Serve(l)
		defer srv.Close()
	}
	openCtx, cancel := context.WithTimeout(e.ctx, 30*time.Second)
	defer cancel()
	if err := w.Open(openCtx); err != nil {
		w.Close()
		return fmt.Errorf("worker: %w", err)
	}
	ids := make([]string, len(conns))
	for i, c := range conns {
		ids[i] = c.ID
	}
	log.Info("worker ready", "name", name, "connections", ids, "nats", nc.ConnectedUrlRedacted())
	<-e.ctx.Done()
	log.Info("worker stopping: running jobs go back to the queue")
	return w.Close()
}

// workerConnections picks the connections a worker takes jobs for: those
// named, else every Postgres and MySQL connection whose secret is set.
func workerConnections(reg *connectors.Registry, ids []string, log *slog.Logger) ([]connectors.Connection, error) {
	runs := func(c connectors.Connection) bool { return jobs.RunsOnWorkers(c) && !c.Workers }
	var out []connectors.Connection
	if len(ids) > 0 {
		for _, id := range ids {
			c, ok := reg.Lookup(id)
			switch {
			case !ok:
				return nil, usagef("--connector %s: no such connection in the connections file", id)
			case c.Workers:
				return nil, usagef("--connector %s: workers = true: the entry holds no credentials to run it with", id)
			case !runs(c):
				return nil, usagef("--connector %s: a %s connection does not run on a worker", id, c.Engine)
			case c.UnsetSecretVar() != "":
				return nil, usagef("--connector %s: %s is not set", id, c.UnsetSecretVar())
			}
			out = append(out, c)
		}
		return out, nil
	}
	for _, id := range reg.IDs() {
		c, _ := reg.Lookup(id)
		if !runs(c) {
			continue
		}
		if v := c.UnsetSecretVar(); v != "" {
			log.Warn("connection skipped: its secret is not set", "connection", id, "variable", v)
			continue
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, usageError{errors.New("no connection to take jobs for: the connections file has no Postgres or MySQL connection whose secret is set")}
	}
	return out, nil
}
