package connectors

import (
	"errors"
	"sync"
)

// ErrClientsClosed is returned by Clients.Get after Close.
var ErrClientsClosed = errors.New("connection clients closed")

// Clients keeps one client per connection (a Postgres pool, a bridge
// client), made on first use and closed together. It is safe for
// concurrent use.
type Clients[T any] struct {
	open  func(Connection) (T, error)
	close func(T) error

	mu     sync.Mutex
	byID   map[string]T
	closed bool
}

// NewClients returns a Clients that makes a client with open and releases
// it with close.
func NewClients[T any](open func(Connection) (T, error), close func(T) error) *Clients[T] {
	return &Clients[T]{open: open, close: close, byID: map[string]T{}}
}

// Get returns the client of c, making it if there is none yet.
func (cs *Clients[T]) Get(c Connection) (T, error) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	var zero T
	if cs.closed {
		return zero, ErrClientsClosed
	}
	if cl, ok := cs.byID[c.ID]; ok {
		return cl, nil
	}
	cl, err := cs.open(c)
	if err != nil {
		return zero, err
	}
	cs.byID[c.ID] = cl
	return cl, nil
}

// Close closes every client made and refuses to make more. It is safe to
// call more than once.
func (cs *Clients[T]) Close() error {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	cs.closed = true
	var errs []error
	for id, cl := range cs.byID {
		errs = append(errs, cs.close(cl))
		delete(cs.byID, id)
	}
	return errors.Join(errs...)
}
