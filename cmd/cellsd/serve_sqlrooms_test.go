package main

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/cellsd/cellsd/connectors"
	"github.com/cellsd/cellsd/internal/pgtest"
	"github.com/cellsd/cellsd/internal/sqlroomstest"
)

// TestServe_SQLRoomsClient drives a running `cellsd serve` with the real
// SQLRooms client (see internal/sqlroomstest): the daemon loads a
// connections file naming the test Postgres, mounts the bridge at /api/db/
// behind --auth-token, and the client's decoded rows must equal the rows
// in Postgres, a stream must come in several batches, and an aborted
// stream must take its query off the Postgres server.
func TestServe_SQLRoomsClient(t *testing.T) {
	client := sqlroomstest.NewClient(t)
	dsn, pool := pgtest.DSN(t), pgtest.Pool(t)
	schema := pgtest.Schema(t, pool)
	sqlroomstest.People(t, pool, schema)

	// The connection e2e.mjs queries (read-only, the default) and a
	// read-write one, so list-connections has more than one to list.
	conns := filepath.Join(t.TempDir(), "connections.toml")
	toml := fmt.Sprintf(`[[db.connectors]]
id = %q
engine = "postgres"
title = "Test Postgres"
dsn = %q

[[db.connectors]]
id = "pgrw"
engine = "postgres"
dsn = %q
read_only = false
`, sqlroomstest.ConnectionID, dsn, dsn)
	if err := os.WriteFile(conns, []byte(toml), 0o600); err != nil {
		t.Fatal(err)
	}

	const token = "serve-e2e-token"
	s := startServe(t, "--connections", conns, "--auth-token", token)
	client.Run(t, sqlroomstest.Target{
		URL: s.HTTPURL, Token: token, Pool: pool, Schema: schema,
		Connections: []string{connectors.CoreID, sqlroomstest.ConnectionID, "pgrw"},
		// The daemon's core is an engine, which attaches the database
		// results are materialized in.
		CoreDatabases: []string{"memory"},
	})
}
