// Package sqlparse extracts what a cell's SQL refers to, per dialect, with
// the real parser of that dialect: relation references with their positions,
// {{var}} uses, and parse errors with line and column.
//
// The DuckDB dialect goes through DuckDB's own parser (json_serialize_sql) on
// a connection the caller provides; sqlparse never opens a database. The
// Postgres dialect goes through pg_query, the Postgres parser as a library.
// Neither reads SQL text with regular expressions.
//
// Analysis is pure with respect to the SQL text: the result names a cell
// resolves to are decided by the caller (package engine), which knows the
// notebook. A [DuckDB] is safe for concurrent use if its Querier is.
package sqlparse
