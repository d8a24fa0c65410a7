// Package mysql runs a cell's SQL on a MySQL or MariaDB connection and
// streams the result back as Arrow record batches typed for DuckDB: one
// pool per connection (go-sql-driver/mysql), each cell on one pooled
// connection in its own transaction (READ ONLY unless the connection says
// otherwise, statements that do not only read refused before they are
// sent), with the connection's statement timeout, and cancelled with KILL
// QUERY sent on a second connection.
//
// It knows nothing of DuckDB or of the engine: it yields column
// descriptions (with the DuckDB type each maps to) and Arrow batches. A
// Source is safe for concurrent use.
package mysql
