// Package materialize loads external results into DuckDB: one Arrow path
// (the cellsd_scan table function fed by a connectors.ResultWriter) into
// a staging table, the one-transaction swap that replaces a cell's result
// through the session's supersession guard, and the provenance table that
// says where each result came from. A Materializer is safe for concurrent
// use; each Load has its own DuckDB connection.
package materialize
