package engine_test

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

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

// TestMySQL_TypesFixture runs fixtures/notebooks/mysql-types.json on a
// database set up with fixtures/mysql/types.sql and compares the DuckDB
// table it materializes with fixtures/mysql/types.golden.
func TestMySQL_TypesFixture(t *testing.T) {
	name, db := mysqltest.Database(t)
	script, err := os.ReadFile(filepath.Join("..", "fixtures", "mysql", "types.sql"))
	if err != nil {
		t.Fatal(err)
	}
	setupMySQL(t, db, string(script))
	nb, err := cells.Load(filepath.Join("..", "fixtures", "notebooks", "mysql-types.json"))
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

var _ = context.Background
