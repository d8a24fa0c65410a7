// Package pgtest finds a Postgres for tests, the way every cellsd test that
// needs one should: DSN, Pool and Schema.
//
// DSN looks, in order, at
//
//  1. the environment variable CELLSD_TEST_PG_DSN, used as is;
//  2. postgres://postgres@127.0.0.1:5432/test, if it answers within 2 s;
//  3. a throwaway cluster started once per test binary from the Postgres
//     server binaries on the machine (initdb and pg_ctl, in PATH or under
//     /usr/lib/postgresql/*/bin), with trust auth on a free port of
//     127.0.0.1 and a database named test.
//
// If none works, the test is skipped with a message starting "SKIP: no
// Postgres", so `go test ./... -v | grep SKIP` shows it; when the
// environment variable CI is set, the test fails instead.
//
// A package whose tests may start the throwaway cluster should stop it when
// its test binary ends:
//
//	func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }
//
// Without Main (or if the binary panics or is killed) a watchdog process
// stops the cluster and removes its directory once the test binary has
// exited, so no server outlives the tests either way.
//
// Tests isolate themselves with Schema, which creates a uniquely named
// schema and drops it when the test ends; nothing is set globally, so tests
// and packages can run in parallel against the same database.
//
// DSN, Pool, Schema and Main are safe for concurrent use.
package pgtest
