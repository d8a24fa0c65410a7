package bridgeserver_test

import (
	"testing"

	"github.com/cellsd/cellsd/connectors"
	"github.com/cellsd/cellsd/internal/sqlroomstest"
)

// TestSQLRoomsClient_MySQL drives the bridge's MySQL connections, served
// in process on a fresh MariaDB database, with the real SQLRooms client
// (testdata/sqlrooms/e2e_mysql.mjs): every method of createHttpDbBridge,
// checked against the rows in MariaDB; aborting a stream must KILL its
// query within 1 s. Without MariaDB or node it skips, and fails when CI is
// set.
func TestSQLRoomsClient_MySQL(t *testing.T) {
	client := sqlroomstest.NewClient(t)
	env, name, db := startMySQLBridge(t)
	sqlroomstest.MySQLPeople(t, db)
	client.RunMySQL(t, sqlroomstest.MySQLTarget{
		URL: env.URL, Token: testToken, DB: db, Database: name,
		Connections: []string{connectors.CoreID, sqlroomstest.MySQLConnectionID, "myrw"},
	})
}
