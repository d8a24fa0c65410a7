package connectors

import (
	"context"

	"github.com/apache/arrow-go/v18/arrow"
)

// Source is an external database a cell runs on: a Postgres pool, a MySQL
// pool, a bridge, or a worker pool that runs the cell as a job. The engine
// runs every external cell through this one interface and imports no
// connector package; each connector package implements it.
//
// Source and the types it takes live here, in the package that holds no
// database, so that neither the engine nor a connector imports the other.
type Source interface {
	// Fetch runs q and streams its result to w: Begin once with the
	// result's columns, then Write for each record batch, in order. A
	// query with HasResult false runs and its rows are dropped (w is
	// not called). Fetch honours ctx: when it ends, the query is
	// cancelled in its database before Fetch returns.
	Fetch(ctx context.Context, q Query, w ResultWriter) error
	// Close releases the source's connections.
	Close() error
}

// Query is one cell's SQL as a Source runs it.
type Query struct {
	// SQL is the cell's SQL with its {{var}} placeholders rendered,
	// except for dialects that render at send time (MySQL, whose lexing
	// depends on the session's sql_mode): those get it as written and
	// render it from Values.
	SQL string
	// Values are the values of the {{var}} placeholders the SQL uses.
	Values map[string]any
	// Args are bound as the query's parameters in the remote dialect
	// ($1.. in Postgres, ? in MySQL), never formatted into SQL.
	Args []any
	// HasResult is false for SQL whose rows are not materialized.
	HasResult bool
	// Since, when set, asks for the rows of an incremental refresh: the
	// Source wraps SQL in its dialect to keep only the rows whose column
	// is greater than the watermark, bound as a parameter. A Source that
	// cannot refuses the query.
	Since *Since
}

// Since is the watermark of an incremental refresh: the rows wanted are
// those whose Column is greater than Value, the largest value of Column
// materialized so far, as text (the remote database casts it to the
// column's type).
type Since struct {
	Column string `json:"column"`
	Value  string `json:"value"`
}

// ResultWriter receives a result as a Source streams it.
type ResultWriter interface {
	// Begin is called once, before any batch, with the batches' schema
	// and, per field, the column it lands in.
	Begin(schema *arrow.Schema, cols []Column) error
	// Write receives one batch; the writer releases it when done.
	// An error stops the fetch and is returned by Fetch.
	Write(rec arrow.RecordBatch) error
}

// Column is where one field of a result lands in DuckDB.
type Column struct {
	Name string
	// DuckDBType is the column's DuckDB type ("DECIMAL(10,2)",
	// "TIMESTAMP"); empty means the type DuckDB gives the Arrow field.
	DuckDBType string
}

// Sources gives the Source of a connection. One set is shared by all
// the sessions of a process, so that a daemon holds one pool per
// connection, not one per session.
type Sources interface {
	Source(c Connection) (Source, error)
}
