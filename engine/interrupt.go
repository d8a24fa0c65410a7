package engine

import (
	"context"
	"reflect"
	"sync"
	"time"
	"unsafe"

	"github.com/duckdb/duckdb-go/v2"
	"github.com/duckdb/duckdb-go/v2/mapping"
)

// interruptEvery is how often a cancelled connection is interrupted again
// until the work on it has stopped.
const interruptEvery = 10 * time.Millisecond

// A lost interrupt in duckdb-go (v2.10506.0): when a statement's context is
// cancelled after DuckDB has created the statement's pending result but
// before duckdb-go executes it, the driver returns the context's error
// without interrupting DuckDB, whose worker threads go on running the
// query. The next statement on that connection (database/sql's own
// ROLLBACK of a transaction whose context ended, or closing the
// connection) waits for those workers, for ever with a query that does not
// end on its own. Seen as a hung `cellsd check` on the cancel fixture, and
// reproduced in a loop of cancelled CREATE TABLE ... AS statements.
//
// interruptOnCancel works around it: from the moment ctx is done until the
// returned stop is called, it interrupts the connection every
// interruptEvery. DuckDB's interrupt is safe to call from any goroutine at
// any time, and an interrupt that arrives while nothing runs is cleared by
// the next statement. stop waits for the goroutine, so no interrupt
// reaches the connection after it is handed back to the pool or closed:
// the caller calls stop before it closes (or discards) the connection, and
// begins no transaction bound to ctx on it (database/sql closes the driver
// connection of such a transaction when ctx ends, and an interrupt of a
// closed connection is a use after free).
func interruptOnCancel(ctx context.Context, dc any) (stop func()) {
	handle, ok := connHandle(dc)
	if !ok {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		select {
		case <-done:
			return
		case <-ctx.Done():
		}
		t := time.NewTicker(interruptEvery)
		defer t.Stop()
		for {
			mapping.Interrupt(handle)
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() {
		close(done)
		wg.Wait()
		if ctx.Err() != nil {
			// The last statement on the connection has returned: this
			// interrupt lands after it, whatever the ticker's timing was.
			mapping.Interrupt(handle)
		}
	}
}

// connHandle returns the C connection of a duckdb-go driver connection.
// duckdb-go does not export it; it is read by reflection, and a driver
// whose Conn no longer has the field gets no workaround rather than a
// crash.
func connHandle(dc any) (mapping.Connection, bool) {
	c, ok := dc.(*duckdb.Conn)
	if !ok || c == nil {
		return mapping.Connection{}, false
	}
	f := reflect.ValueOf(c).Elem().FieldByName("conn")
	if !f.IsValid() || f.Type() != reflect.TypeFor[mapping.Connection]() {
		return mapping.Connection{}, false
	}
	return *(*mapping.Connection)(unsafe.Pointer(f.UnsafeAddr())), true
}
