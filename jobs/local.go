package jobs

import (
	"context"
	"errors"
	"log/slog"

	"github.com/nats-io/nats.go"

	"github.com/cellsd/cellsd/connectors"
)

// LocalOptions configure StartLocal.
type LocalOptions struct {
	// Connections are the engine's; the embedded worker runs those of
	// them that run on workers and are not workers = true.
	Connections *connectors.Registry
	// Other runs the cells of the connections that are not jobs
	// (bridges).
	Other connectors.Sources
	// Name names the embedded worker.
	Name string
	// Concurrency bounds the embedded worker's jobs (default 4).
	Concurrency int
	Client      ClientOptions
	Logger      *slog.Logger
}

// Local is an engine's side of the worker pool: the Client its external
// cells are submitted through, and the embedded worker that runs the
// connections the engine holds credentials for, so that one process
// still runs everything. Sources is the engine's connectors.Sources.
type Local struct {
	Client  *Client
	Worker  *Worker // nil when every connection is workers = true
	Sources Sources
}

// LocalConnections are the connections of reg the embedded worker runs.
func LocalConnections(reg *connectors.Registry) []connectors.Connection {
	var out []connectors.Connection
	if reg == nil {
		return nil
	}
	for _, id := range reg.IDs() {
		if c, _ := reg.Lookup(id); RunsOnWorkers(c) && !c.Workers {
			out = append(out, c)
		}
	}
	return out
}

// StartLocal opens a Client on clientNC and, when the registry holds
// connections with credentials, an embedded worker on workerNC (a
// connection of its own, so that its stream does not queue behind the
// client's). Close stops both; the NATS connections stay the caller's.
func StartLocal(ctx context.Context, clientNC, workerNC *nats.Conn, o LocalOptions) (*Local, error) {
	if o.Client.Logger == nil {
		o.Client.Logger = o.Logger
	}
	c, err := NewClient(clientNC, o.Client)
	if err != nil {
		return nil, err
	}
	if err := c.Open(ctx); err != nil {
		return nil, err
	}
	l := &Local{Client: c, Sources: Sources{Client: c, Other: o.Other}}
	if conns := LocalConnections(o.Connections); len(conns) > 0 {
		w, err := NewWorker(workerNC, WorkerOptions{Name: o.Name, Connections: conns, Concurrency: o.Concurrency, Logger: o.Logger})
		if err == nil {
			err = w.Open(ctx)
		}
		if err != nil {
			c.Close()
			return nil, err
		}
		l.Worker = w
	}
	return l, nil
}

// Close stops the embedded worker (its running jobs are cancelled) and
// the client.
func (l *Local) Close() error {
	var errs []error
	if l.Worker != nil {
		errs = append(errs, l.Worker.Close())
	}
	errs = append(errs, l.Client.Close())
	return errors.Join(errs...)
}
