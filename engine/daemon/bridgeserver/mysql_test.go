package bridgeserver_test

import (
	"database/sql"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cellsd/cellsd/connectors"
	"github.com/cellsd/cellsd/connectors/bridge"
	"github.com/cellsd/cellsd/engine/daemon/bridgeserver"
	"github.com/cellsd/cellsd/internal/mysqltest"
	"github.com/cellsd/cellsd/internal/poll"
)

// startMySQLBridge serves connections "my" (read-only) and "myrw" on a
// fresh MariaDB database holding table people.
func startMySQLBridge(t *testing.T) (*bridgeEnv, string, *sql.DB) {
	t.Helper()
	name, db := mysqltest.Database(t)
	if _, err := db.Exec(`CREATE TABLE people (id INT UNSIGNED PRIMARY KEY, name VARCHAR(20), born DATE, score DECIMAL(5,2));
		INSERT INTO people VALUES (1, 'ada', '1815-12-10', 99.5), (2, 'bob', NULL, NULL);
		CREATE VIEW adults AS SELECT * FROM people`); err != nil {
		t.Fatal(err)
	}
	host, port, user := mysqltest.Connection(t, name)
	rw := false
	reg, err := connectors.NewRegistry(
		connectors.Connection{ID: "my", Engine: connectors.EngineMySQL, Title: "Test MariaDB", Host: host, Port: port, User: user, Database: name},
		connectors.Connection{ID: "myrw", Engine: connectors.EngineMySQL, Host: host, Port: port, User: user, Database: name, ReadOnly: &rw},
	)
	if err != nil {
		t.Fatal(err)
	}
	url, srv := serveBridge(t, bridgeserver.ServerConfig{Connections: reg, Core: openCore(t)})
	return &bridgeEnv{URL: url, Server: srv}, name, db
}

func TestServer_MySQL(t *testing.T) {
	env, name, db := startMySQLBridge(t)
	t.Run("ListConnections", func(t *testing.T) {
		var got bridge.ListConnectionsResponse
		env.postJSON(t, "/api/db/list-connections", map[string]any{}, http.StatusOK, &got)
		var ids []string
		for _, c := range got.Connections {
			ids = append(ids, c.ID+"/"+c.EngineID)
		}
		if !contains(ids, "my/mysql") || !contains(ids, "myrw/mysql") {
			t.Errorf("connections %v", ids)
		}
	})
	t.Run("TestConnection", func(t *testing.T) {
		var got bridge.TestConnectionResponse
		env.postJSON(t, "/api/db/test-connection", map[string]any{"connectionId": "my"}, http.StatusOK, &got)
		if !got.OK {
			t.Errorf("test-connection: %+v", got)
		}
		host, port, user := mysqltest.Connection(t, name)
		env.postJSON(t, "/api/db/test-connection", map[string]any{"engine": "mysql", "config": map[string]any{"host": host, "port": port, "user": user, "database": "cellsd_no_such_db"}}, http.StatusOK, &got)
		if got.OK || !strings.Contains(got.Error, "Unknown database") {
			t.Errorf("ad hoc test-connection to a missing database: %+v", got)
		}
	})
	t.Run("ListCatalog", func(t *testing.T) {
		var got bridge.CatalogResponse
		env.postJSON(t, "/api/db/list-catalog", map[string]any{"connectionId": "my"}, http.StatusOK, &got)
		if !contains(got.Tables, bridge.CatalogTable{Database: "def", Schema: name, Table: "people"}) ||
			!contains(got.Tables, bridge.CatalogTable{Database: "def", Schema: name, Table: "adults", IsView: true}) ||
			!contains(got.Schemas, bridge.CatalogSchema{Database: "def", Schema: name}) {
			t.Errorf("catalog %+v", got)
		}
	})
	t.Run("ExecuteQuery", func(t *testing.T) {
		var got bridge.ExecuteQueryResponse
		env.postJSON(t, "/api/db/execute-query", map[string]any{"connectionId": "my", "queryType": "json", "sql": "SELECT id, name, born, score FROM people ORDER BY id"}, http.StatusOK, &got)
		if len(got.JSONData) != 2 || fmt.Sprint(got.JSONData[0]["name"]) != "ada" || fmt.Sprint(got.JSONData[0]["score"]) != "99.50" || got.JSONData[1]["born"] != nil {
			t.Errorf("rows %v", got.JSONData)
		}
		env.wantError(t, "/api/db/execute-query", map[string]any{"connectionId": "my", "queryType": "exec", "sql": "DELETE FROM people"}, http.StatusUnprocessableEntity, "read_only")
		env.postJSON(t, "/api/db/execute-query", map[string]any{"connectionId": "myrw", "queryType": "exec", "sql": "INSERT INTO people VALUES (3, 'cy', NULL, NULL)"}, http.StatusOK, &got)
		var n int
		db.QueryRow("SELECT count(*) FROM people").Scan(&n)
		if n != 3 {
			t.Errorf("%d people after the insert on myrw", n)
		}
		db.Exec("DELETE FROM people WHERE id = 3")
		env.wantError(t, "/api/db/execute-query", map[string]any{"connectionId": "my", "queryType": "json", "sql": "SELECT * FROM nope"}, http.StatusUnprocessableEntity, "doesn't exist")
	})
	t.Run("FetchArrow", func(t *testing.T) {
		res := env.post(t, "/api/db/fetch-arrow", map[string]any{"connectionId": "my", "sql": "SELECT id, name, score FROM people ORDER BY id"})
		payload, _ := io.ReadAll(res.Body)
		if res.StatusCode != http.StatusOK {
			t.Fatalf("status %d: %s", res.StatusCode, payload)
		}
		schema, rows := decodeIPC(t, payload)
		if fmt.Sprint(rows) != "[[1 ada 99.50] [2 bob <nil>]]" || schema.Field(0).Type.String() != "uint32" {
			t.Errorf("rows %v schema %v", rows, schema)
		}
	})
	t.Run("Stream", func(t *testing.T) {
		res := env.post(t, "/api/db/fetch-arrow-stream", map[string]any{"connectionId": "my", "queryId": "q1", "chunkRows": 1000,
			"sql": "SELECT seq FROM seq_1_to_5000"})
		frames := readFrames(t, res.Body)
		total := 0
		for _, f := range frames {
			total += len(f.rows)
		}
		if total != 5000 || frames[len(frames)-1].Type != bridge.FrameEnd {
			t.Errorf("%d rows in %d frames", total, len(frames))
		}
	})
	t.Run("Cancel", func(t *testing.T) {
		root := mysqltest.DB(t, "")
		marker := "cellsd_bridge_cancel_" + name
		running := func() int {
			var n int
			root.QueryRow("SELECT count(*) FROM information_schema.processlist WHERE info LIKE CONCAT('%', ?, '%') AND info NOT LIKE '%processlist%'", marker).Scan(&n)
			return n
		}
		res := env.post(t, "/api/db/fetch-arrow-stream", map[string]any{"connectionId": "my", "queryId": marker, "sql": "SELECT SLEEP(60) AS `" + marker + "`"})
		poll.Until(t, 10*time.Second, 10*time.Millisecond, func() error {
			if running() == 0 {
				return fmt.Errorf("not running yet")
			}
			return nil
		})
		start := time.Now()
		var got bridge.CancelResponse
		env.postJSON(t, "/api/db/cancel-query", map[string]any{"queryId": marker}, http.StatusOK, &got)
		poll.Until(t, time.Second, 10*time.Millisecond, func() error {
			if running() > 0 {
				return fmt.Errorf("still in the processlist")
			}
			return nil
		})
		t.Logf("gone %v after cancel-query", time.Since(start))
		frames := readFrames(t, res.Body)
		if len(frames) != 1 || frames[0].Type != bridge.FrameError || !strings.Contains(frames[0].Error, "query cancelled") {
			t.Fatalf("frames %+v", frames)
		}
	})
}
