// Package sqlparse extracts what a cell's SQL refers to, per dialect, with
// the real parser of that dialect: relation references with their positions,
// {{var}} uses, and parse errors with line and column.
//
// The DuckDB dialect goes through DuckDB's own parser (json_serialize_sql) on
// a connection the caller provides; sqlparse never opens a database. A
// statement DuckDB parses but will not serialize (DDL, DML, COPY) is read off
// its Postgres parse tree (statements.go classifies pg_query's nodes: what
// it creates, writes and reads). The Postgres dialect goes through pg_query,
// the Postgres parser as a library, and MySQL through vitess's grammar. None
// reads SQL text with regular expressions.
//
// At ~2,070 lines it is over the ~1,500 the house aims a package at: the
// three dialects share one Analysis, one Ref and one scope walker, and the
// DuckDB dialect uses the Postgres one for what DuckDB will not serialize,
// so a package per dialect would export those internals to each other.
//
// Analysis is pure with respect to the SQL text: the result names a cell
// resolves to are decided by the caller (package engine), which knows the
// notebook. A [DuckDB] is safe for concurrent use if its Querier is.
package sqlparse
