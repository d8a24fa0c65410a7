// Package postgres runs a cell's SQL on a Postgres connection and streams
// the result back as Arrow record batches, typed for DuckDB: one pool per
// connection, each query in its own READ ONLY transaction with a statement
// timeout, cancelled through its context with a real cancel request.
//
// It implements connectors.Source and knows nothing of DuckDB or of the
// engine: each column comes with the DuckDB type it lands in, its values
// decoded from Postgres's binary format straight into Arrow (types asked
// for as text arrive as their text). A Source is safe for concurrent use.
package postgres
