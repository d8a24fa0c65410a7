// Package registry opens the Source of a connection by its engine and
// keeps one per connection id, closed together: the connectors.Sources a
// process shares among its sessions. Adding a connector is its own
// package plus one line in opens. A Sources is safe for concurrent use.
package registry

import (
	"fmt"

	"github.com/cellsd/cellsd/connectors"
	"github.com/cellsd/cellsd/connectors/bridge"
	"github.com/cellsd/cellsd/connectors/mysql"
	"github.com/cellsd/cellsd/connectors/postgres"
)

// opens makes the Source of a connection, by engine.
var opens = map[string]func(connectors.Connection) (connectors.Source, error){
	connectors.EnginePostgres: open(postgres.Connect),
	connectors.EngineMySQL:    open(mysql.Connect),
	connectors.EngineBridge:   open(bridge.NewClient),
}

func open[S connectors.Source](connect func(connectors.Connection) (S, error)) func(connectors.Connection) (connectors.Source, error) {
	return func(c connectors.Connection) (connectors.Source, error) { return connect(c) }
}

// ErrClosed is returned by Source after Close.
var ErrClosed = connectors.ErrClientsClosed

// Sources opens the Source of each connection on first use and keeps it
// until Close. It implements connectors.Sources.
type Sources struct {
	clients *connectors.Clients[connectors.Source]
}

var _ connectors.Sources = (*Sources)(nil)

// New returns an empty Sources; it opens nothing until asked.
func New() *Sources {
	return &Sources{clients: connectors.NewClients(Open, connectors.Source.Close)}
}

// Open opens a new Source for c, by its engine; the caller closes it.
func Open(c connectors.Connection) (connectors.Source, error) {
	o, ok := opens[c.Engine]
	if !ok {
		return nil, fmt.Errorf("connector %s: %s cells cannot run", c.ID, c.Engine)
	}
	src, err := o(c)
	if err != nil && c.Engine == connectors.EngineMySQL {
		// mysql.Connect's errors do not name the connection.
		return nil, fmt.Errorf("connection %s: %w", c.ID, err)
	}
	return src, err
}

// Source returns the Source of c, opening it on first use.
func (s *Sources) Source(c connectors.Connection) (connectors.Source, error) {
	return s.clients.Get(c)
}

// Close closes every Source opened and refuses to open more. It is safe
// to call more than once.
func (s *Sources) Close() error { return s.clients.Close() }
