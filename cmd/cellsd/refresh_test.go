package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cellsd/cellsd/internal/pgtest"
)

// TestRun_RefreshFixture runs fixtures/notebooks/refresh.json (moved into
// a schema of its own) twice on one --db with the schema strategy, as
// the README shows, with an order and a customer added in Postgres in
// between: the second run adds the order incrementally, serves the ttl
// and manual results the database kept (without the new customer), and
// both runs list each external result's policy and age.
func TestRun_RefreshFixture(t *testing.T) {
	pool := pgtest.Pool(t)
	schema := pgtest.Schema(t, pool)
	setup, err := os.ReadFile(filepath.Join("..", "..", "fixtures", "postgres", "warehouse.sql"))
	if err != nil {
		t.Fatal(err)
	}
	move := strings.NewReplacer("DROP SCHEMA IF EXISTS warehouse CASCADE;", "", "CREATE SCHEMA warehouse;", "", "warehouse.", schema+".")
	if _, err := pool.Exec(context.Background(), move.Replace(string(setup))); err != nil {
		t.Fatalf("setup: %v", err)
	}
	fixture, err := os.ReadFile(filepath.Join("..", "..", "fixtures", "notebooks", "refresh.json"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	nb, conns, db := filepath.Join(dir, "refresh.json"), filepath.Join(dir, "connections.toml"), filepath.Join(dir, "refresh.duckdb")
	if err := os.WriteFile(nb, []byte(strings.ReplaceAll(string(fixture), "FROM warehouse.", "FROM "+schema+".")), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(conns, []byte("[[db.connectors]]\nid = \"warehouse\"\nengine = \"postgres\"\ndsn = \""+pgtest.DSN(t)+"\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	type cell struct {
		ID     string
		Rows   int64
		Cached bool
	}
	run := func(round string) (map[string]cell, string) {
		t.Helper()
		code, stdout, stderr := cellsd(t, "run", nb, "--connections", conns, "--db", db, "--materialization", "schema", "--report", "-")
		if code != exitOK {
			t.Fatalf("%s: exit %d:\n%s", round, code, stderr)
		}
		var report struct{ Artifacts []struct{ Cells []cell } }
		if err := json.Unmarshal([]byte(stdout), &report); err != nil {
			t.Fatalf("%s: report: %v\n%s", round, err, stdout)
		}
		out := map[string]cell{}
		for _, c := range report.Artifacts[0].Cells {
			out[c.ID] = c
		}
		for _, line := range []string{"EXTERNAL", "refresh/Orders (incremental) (orders)    incremental:ordered_at  ",
			"refresh/Customers (ttl 10m) (customers)  ttl:10m                 ", "refresh/Countries (manual) (countries)   manual                  "} {
			if !strings.Contains(stderr, line) {
				t.Errorf("%s: stderr lacks %q:\n%s", round, line, stderr)
			}
		}
		return out, stderr
	}
	want := func(round string, got map[string]cell, id string, rows int64, cached bool) {
		t.Helper()
		if c := got[id]; c.Rows != rows || c.Cached != cached {
			t.Errorf("%s: %s has %d rows, cached %v; want %d, %v", round, id, c.Rows, c.Cached, rows, cached)
		}
	}
	first, _ := run("first run")
	want("first run", first, "orders", 480, false)
	want("first run", first, "customers", 60, false)
	want("first run", first, "countries", 6, false)

	pgExec := func(sql string) {
		if _, err := pool.Exec(context.Background(), sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	pgExec(`INSERT INTO ` + schema + `.customers VALUES (61, 'Customer 61', 'NZ', DATE '2025-01-02');
		INSERT INTO ` + schema + `.orders VALUES (481, 61, TIMESTAMPTZ '2025-01-02 10:00:00+00', 12.50, 'paid')`)
	second, _ := run("second run")
	want("second run", second, "orders", 481, false)
	want("second run", second, "customers", 60, true)
	want("second run", second, "countries", 6, true)
}
