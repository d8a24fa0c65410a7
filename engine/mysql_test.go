package engine_test

import (
	"database/sql"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pmezard/go-difflib/difflib"

	"github.com/cellsd/cellsd/cells"
	"github.com/cellsd/cellsd/connectors"
	"github.com/cellsd/cellsd/engine"
	"github.com/cellsd/cellsd/internal/mysqltest"
)

var updateMySQL = flag.Bool("update-mysql", false, "rewrite the MySQL golden files")

// myRegistry returns a registry with connection "mysql" to database db of
// the test MariaDB.
func myRegistry(t testing.TB, db string, mutate func(*connectors.Connection)) *connectors.Registry {
	t.Helper()
	host, port, user := mysqltest.Connection(t, db)
	return registryOf(t, connectors.Connection{ID: "mysql", Engine: connectors.EngineMySQL, Host: host, Port: port, User: user, Database: db}, mutate)
}

func myCell(id, name, sql string) nbCell {
	c := sqlCell(id, name, sql)
	c["data"].(map[string]any)["connectorId"] = "mysql"
	return c
}

// setupMySQL runs a setup script on db.
func setupMySQL(t testing.TB, db *sql.DB, script string) {
	t.Helper()
	if _, err := db.Exec(script); err != nil {
		t.Fatalf("mysql setup: %v", err)
	}
}

// dumpTable describes a DuckDB relation and lists its rows as text, for
// goldens.
func dumpTable(t testing.TB, db *sql.DB, rel string) string {
	t.Helper()
	var b strings.Builder
	desc := queryRows(t, db, "SELECT column_name, column_type FROM (DESCRIBE "+rel+")")
	casts := make([]string, len(desc))
	for i, d := range desc {
		fmt.Fprintf(&b, "%s %s\n", d[0], d[1])
		casts[i] = fmt.Sprintf("coalesce(CAST(%q AS VARCHAR), 'NULL')", d[0])
	}
	b.WriteString("--\n")
	for _, r := range queryRows(t, db, "SELECT "+strings.Join(casts, ", ")+" FROM "+rel) {
		b.WriteString(strings.Join(r, " | ") + "\n")
	}
	return b.String()
}

func checkGolden(t testing.TB, path, got string) {
	t.Helper()
	if *updateMySQL {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update-mysql to create it)", err)
	}
	if string(want) != got {
		diff, _ := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{A: difflib.SplitLines(string(want)), B: difflib.SplitLines(got), FromFile: path, ToFile: "got", Context: 2})
		t.Errorf("%s differs (run with -update-mysql to accept):\n%s", path, diff)
	}
}

// TestMySQL_TypesFixture runs fixtures/mysql/types.json on a
// database set up with fixtures/mysql/types.sql and compares the DuckDB
// table it materializes with fixtures/mysql/types.golden.
func TestMySQL_TypesFixture(t *testing.T) {
	name, db := mysqltest.Database(t)
	script, err := os.ReadFile(filepath.Join("..", "fixtures", "mysql", "types.sql"))
	if err != nil {
		t.Fatal(err)
	}
	setupMySQL(t, db, string(script))
	nb, err := cells.Load(filepath.Join("..", "fixtures", "mysql", "types.json"))
	if err != nil {
		t.Fatal(err)
	}
	s := openPGSession(t, nb, myRegistry(t, name, nil), engine.SessionOptions{})
	mustRunSession(t, s, engine.RunRequest{})
	for _, ev := range s.Status() {
		if ev.Status != engine.StatusSuccess {
			t.Fatalf("%s: %s (%s %s)", ev.Cell, ev.Status, ev.Reason, ev.Err)
		}
	}
	got := dumpTable(t, s.DB(), "__sqlrooms_ephemeral.mysql_types.mysql_types") + "==\n" +
		dumpTable(t, s.DB(), "__sqlrooms_ephemeral.mysql_types.type_summary")
	checkGolden(t, filepath.Join("..", "fixtures", "mysql", "types.golden"), got)
}

// processIDs returns the ids of the MariaDB connections running a
// statement that holds marker.
func processIDs(t testing.TB, root *sql.DB, marker string) []int64 {
	t.Helper()
	rows, err := root.Query("SELECT id FROM information_schema.processlist WHERE info LIKE CONCAT('%', ?, '%') AND info NOT LIKE '%processlist%'", marker)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		rows.Scan(&id)
		ids = append(ids, id)
	}
	return ids
}

func waitUntil(t testing.TB, total time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(total)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v", total)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestMySQL_DroppedConnectionMidStream: the server connection is killed
// while a result streams in; the cell errors and the previous result stays.
func TestMySQL_DroppedConnectionMidStream(t *testing.T) {
	name, _ := mysqltest.Database(t)
	root := mysqltest.DB(t, "")
	nb := parseNotebook(t, art(myCell("m", "nums", "SELECT seq FROM seq_1_to_10")))
	s := openPGSession(t, nb, myRegistry(t, name, nil), engine.SessionOptions{})
	mustRunSession(t, s, engine.RunRequest{})
	rel := "__sqlrooms_ephemeral.artifact_nb.nums"
	if got := queryRows(t, s.DB(), "SELECT count(*) FROM "+rel); got[0][0] != "10" {
		t.Fatalf("first run: %v rows", got)
	}
	marker := "cellsd_drop_" + strconv.FormatInt(time.Now().UnixNano(), 36)
	r := mustUpdate(t, s, engine.CellPatch{CellID: "m", SQL: ptr("SELECT seq AS `" + marker + "`, REPEAT('x', 100) AS pad FROM seq_1_to_100000000")})
	var ids []int64
	waitUntil(t, 10*time.Second, func() bool { ids = processIDs(t, root, marker); return len(ids) > 0 })
	time.Sleep(100 * time.Millisecond) // let some batches land
	if _, err := root.Exec("KILL " + strconv.FormatInt(ids[0], 10)); err != nil {
		t.Fatal(err)
	}
	wait(t, r)
	ev := statusOf(s)["m"]
	if ev.Status != engine.StatusError || !strings.Contains(ev.Err, "connection mysql") {
		t.Fatalf("m: %s %q, want an error naming the connection", ev.Status, ev.Err)
	}
	t.Logf("error: %s", ev.Err)
	if got := queryRows(t, s.DB(), "SELECT count(*), max(seq) FROM "+rel); got[0][0] != "10" || got[0][1] != "10" {
		t.Errorf("previous result not intact: %v", got)
	}
}

// TestMySQL_CancelAndTimeout: cancelling a running MySQL cell (the job
// API's cancel), its timeout and its supersession by an edit each kill the
// query on the server: it is gone from the processlist within a second.
func TestMySQL_CancelAndTimeout(t *testing.T) {
	name, _ := mysqltest.Database(t)
	root := mysqltest.DB(t, "")
	for _, how := range []string{"cancel", "supersede", "timeout"} {
		t.Run(how, func(t *testing.T) {
			marker := "cellsd_" + how + "_" + strconv.FormatInt(time.Now().UnixNano(), 36)
			nb := parseNotebook(t, art(myCell("m", "slow", "SELECT SLEEP(60) AS `"+marker+"`")))
			opts := engine.SessionOptions{}
			if how == "timeout" {
				opts.Timeout = 300 * time.Millisecond
			}
			s := openPGSession(t, nb, myRegistry(t, name, nil), opts)
			r, err := s.Run(engine.RunRequest{})
			if err != nil {
				t.Fatal(err)
			}
			waitUntil(t, 10*time.Second, func() bool { return len(processIDs(t, root, marker)) > 0 })
			start := time.Now()
			switch how {
			case "cancel":
				if err := s.Cancel("m"); err != nil {
					t.Fatal(err)
				}
			case "supersede":
				wait(t, mustUpdate(t, s, engine.CellPatch{CellID: "m", SQL: ptr("SELECT 1 AS x")}))
			}
			waitUntil(t, 2*time.Second, func() bool { return len(processIDs(t, root, marker)) == 0 })
			if d := time.Since(start); d > time.Second && how != "timeout" {
				t.Errorf("the query stayed %v in the processlist", d)
			}
			wait(t, r)
			t.Logf("%s: %s %q", how, statusOf(s)["m"].Status, statusOf(s)["m"].Err)
		})
	}
}
