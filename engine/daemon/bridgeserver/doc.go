// Package bridgeserver is the daemon's SQLRooms DB bridge server: it
// serves the contract of package connectors/bridge under /api/db/ for the
// connections of a registry: the core DuckDB (database/sql rows turned into
// Arrow), a daemon session's DuckDB ("session:<id>", read-only), Postgres
// (postgres.Source: READ ONLY transactions unless the connection says
// otherwise, rows decoded from the binary wire format straight into Arrow)
// and MySQL/MariaDB. Streams are sent frame by frame as the rows arrive,
// one frame held in memory at a time; cancel-query, a client going away and
// Close cancel the query on its server (Postgres gets a cancel request).
// RequireToken and RequireAuth guard any handler with a bearer token.
//
// Answers: 200 with the endpoint's JSON (test-connection reports a
// connection it cannot reach as {ok: false, error}, not as an HTTP error),
// and for failures {"error": "..."} with 400 (malformed JSON, missing or
// invalid fields), 401 (token), 404 (unknown endpoint or connection), 405
// (method), 409 (queryId already running; query stopped by cancel-query),
// 413 (body over ServerConfig.MaxBody, 8 MiB by default), 422 (the SQL
// failed: Postgres's or DuckDB's error), 502 (Postgres unreachable), 503
// (server closed) and 500 otherwise. fetch-arrow-stream answers 200 before
// the query runs, so a failing query there ends in an error frame; the
// other endpoints hold the first MiB of an answer back, so an error before
// then is a status and one after it cuts the connection.
//
// Server, RequireToken and RequireAuth are safe for concurrent use.
//
// At ~1,720 lines it is over the ~1,500 the house aims a package at: it is
// one HTTP contract served for four kinds of connection (core DuckDB,
// session DuckDB, Postgres, MySQL), whose handlers share the framing, the
// query registry behind cancel-query and the answer buffering; a package
// per connection kind would export those to each other.
package bridgeserver
