package bridgeserver_test

import (
	"testing"

	"github.com/cellsd/cellsd/connectors"
	"github.com/cellsd/cellsd/internal/sqlroomstest"
)

// TestSQLRoomsClient drives the bridge, served in process, with the real
// SQLRooms client: the published @sqlrooms/db package's dist/bridge.js,
// bundled by esbuild and run by node (testdata/sqlrooms/e2e.mjs), calls
// every method of createHttpDbBridge. What the client decoded must equal
// the rows in Postgres; a streamed query must come in several batches;
// aborting a stream must take its query off the Postgres server. See
// internal/sqlroomstest; cmd/cellsd's TestServe_SQLRoomsClient runs the same
// against a `cellsd serve` process.
func TestSQLRoomsClient(t *testing.T) {
	client := sqlroomstest.NewClient(t)
	env := startBridge(t)
	env.people(t)
	client.Run(t, sqlroomstest.Target{
		URL: env.URL, Token: testToken, Pool: env.Pool, Schema: env.Schema,
		Connections:   []string{connectors.CoreID, sqlroomstest.ConnectionID, "pgrw"},
		CoreDatabases: []string{"memory"},
	})
}
