// Package postgres runs a cell's SQL on a Postgres connection and streams
// the result back, typed for DuckDB: one pool per connection, each query in
// its own READ ONLY transaction with a statement timeout, cancelled through
// its context with a real cancel request.
//
// It knows nothing of DuckDB or of the engine: it yields column
// descriptions (with the DuckDB type each maps to) and rows of Go values
// that DuckDB's appender accepts. A Source is safe for concurrent use.
package postgres
