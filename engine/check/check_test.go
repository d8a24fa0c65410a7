package check_test

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cellsd/cellsd/engine/check"
	"github.com/cellsd/cellsd/internal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// TestFixtures runs every fixture of the repository through the same code
// path as `cellsd check fixtures/check`, so a regression fails CI.
func TestFixtures(t *testing.T) {
	dirs, err := check.Find(filepath.Join("..", "..", "fixtures", "check"))
	if err != nil {
		t.Fatal(err)
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			if _, err := os.Stat(filepath.Join(dir, check.ConnectionsFile)); err == nil {
				pgtest.DSN(t) // Postgres or a loud skip (a failure in CI)
			}
			r := check.Run(context.Background(), dir, check.Options{})
			if r.Err != nil {
				t.Fatal(r.Err)
			}
			for _, g := range r.Goldens {
				if !g.OK {
					t.Errorf("%s differs (review, then `go run ./cmd/cellsd check --update %s`):\n%s", g.Name, dir, g.Diff)
				}
			}
		})
	}
}

// fixtureFrom makes a fixture in a temporary directory from a notebook.
func fixtureFrom(t *testing.T, notebook string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "fixtures", "notebooks", notebook))
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), strings.TrimSuffix(notebook, ".json"))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, check.NotebookFile), b, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// editSQL replaces old with new in one cell's SQL of a fixture's notebook.
func editSQL(t *testing.T, dir, cell, old, new string) {
	t.Helper()
	path := filepath.Join(dir, check.NotebookFile)
	var nb map[string]any
	b, _ := os.ReadFile(path)
	if err := json.Unmarshal(b, &nb); err != nil {
		t.Fatal(err)
	}
	data := nb["data"].(map[string]any)[cell].(map[string]any)["data"].(map[string]any)
	sql := data["sql"].(string)
	if !strings.Contains(sql, old) {
		t.Fatalf("cell %s has no %q", cell, old)
	}
	data["sql"] = strings.Replace(sql, old, new, 1)
	b, _ = json.Marshal(nb)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func mustRun(t *testing.T, dir string, opts check.Options) check.Result {
	t.Helper()
	r := check.Run(context.Background(), dir, opts)
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	return r
}

func TestCheck_ChangeUpdate(t *testing.T) {
	dir := fixtureFrom(t, "quickstart.json")
	if r := check.Run(context.Background(), dir, check.Options{}); r.OK() {
		t.Fatal("a fixture without goldens passed")
	}
	if r := mustRun(t, dir, check.Options{Update: true}); !r.OK() {
		t.Fatalf("--update did not pass: %+v", r)
	}
	if r := mustRun(t, dir, check.Options{}); !r.OK() {
		t.Fatalf("fresh goldens do not match: %+v", r.Goldens)
	}
	editSQL(t, dir, "big", "amount >= {{min_amount}}", "amount >= {{min_amount}} + 100")
	r := mustRun(t, dir, check.Options{})
	if r.OK() {
		t.Fatal("changing a cell's SQL went unnoticed")
	}
	var run check.Golden
	for _, g := range r.Goldens {
		if g.Name == "run.json" {
			run = g
		}
	}
	if run.OK || !slices.Contains(run.Cells, "quickstart/big") || !strings.Contains(run.Diff, `"id": "big"`) || !strings.Contains(run.Diff, `-          "rows": 1334,`) {
		t.Errorf("run.json diff does not name the cell and what changed: cells %v\n%s", run.Cells, run.Diff)
	}
	if r := mustRun(t, dir, check.Options{Update: true}); !r.OK() {
		t.Fatal("--update after the change did not pass")
	}
	if r := mustRun(t, dir, check.Options{}); !r.OK() {
		t.Fatalf("updated goldens do not match: %+v", r.Goldens)
	}
}

func TestCheck_Select(t *testing.T) {
	dir := fixtureFrom(t, "quickstart.json")
	mustRun(t, dir, check.Options{Update: true})
	editSQL(t, dir, "daily", "FROM per_day", "FROM per_day WHERE order_date < DATE '2024-02-01'")
	for spec, wantOK := range map[string]bool{
		"big+": true, "+big": true, "big_orders": true, // the change is outside these
		"daily": false, "order_lines+": false, "+summary+": true, "+chart": false,
	} {
		r := mustRun(t, dir, check.Options{Select: spec})
		if r.OK() != wantOK {
			t.Errorf("--select %s: ok=%v, want %v", spec, r.OK(), wantOK)
		}
	}
	// A fixture with no cell the selection matches is skipped, saying why
	// (issue 17), not failed.
	if r := check.Run(context.Background(), dir, check.Options{Select: "nope+"}); r.Err != nil || !strings.Contains(r.Skipped, `no cell has the id or result name "nope"`) {
		t.Errorf("--select of an unknown cell: err %v, skipped %q; want skipped naming it", r.Err, r.Skipped)
	}
}

// TestCheck_Deterministic runs fixtures ten times in a row, the scenario
// fixtures of the repository among them (edits, lazy mode, a cancel): every
// run must give the goldens byte for byte.
func TestCheck_Deterministic(t *testing.T) {
	dirs := []string{fixtureFrom(t, "quickstart.json"), fixtureFrom(t, "errors.json"), fixtureFrom(t, "sqlrooms-ui.json")}
	for _, dir := range dirs {
		mustRun(t, dir, check.Options{Update: true})
	}
	for _, name := range []string{"edit-autorun", "edit-lazy", "cancel", "two-artifacts", "ddl"} {
		dirs = append(dirs, filepath.Join("..", "..", "fixtures", "check", name))
	}
	for i := range 10 {
		for _, dir := range dirs {
			if r := mustRun(t, dir, check.Options{}); !r.OK() {
				t.Fatalf("run %d of %s differs from the first:\n%v", i+1, dir, r.Goldens)
			}
		}
	}
}

// TestCheck_JUnit checks the --junit document against the structure of the
// JUnit XML schema (testsuites > testsuite > testcase > failure|error, with
// their required attributes and consistent counts).
func TestCheck_JUnit(t *testing.T) {
	ok, changed := fixtureFrom(t, "quickstart.json"), fixtureFrom(t, "errors.json")
	mustRun(t, ok, check.Options{Update: true})
	mustRun(t, changed, check.Options{Update: true})
	editSQL(t, changed, "ok", "SELECT 42", "SELECT 43")
	results := []check.Result{mustRun(t, ok, check.Options{}), mustRun(t, changed, check.Options{}),
		{Dir: "broken", Err: os.ErrNotExist}}
	var buf bytes.Buffer
	if err := check.WriteJUnit(&buf, results); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		XMLName  xml.Name
		Tests    *int `xml:"tests,attr"`
		Failures *int `xml:"failures,attr"`
		Errors   *int `xml:"errors,attr"`
		Suites   []struct {
			Name     *string `xml:"name,attr"`
			Tests    *int    `xml:"tests,attr"`
			Failures *int    `xml:"failures,attr"`
			Errors   *int    `xml:"errors,attr"`
			Cases    []struct {
				Name      *string `xml:"name,attr"`
				Classname *string `xml:"classname,attr"`
				Failure   *struct {
					Message *string `xml:"message,attr"`
				} `xml:"failure"`
				Error *struct {
					Message *string `xml:"message,attr"`
				} `xml:"error"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	dec := xml.NewDecoder(&buf)
	dec.Strict = true
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("not well-formed XML: %v", err)
	}
	if doc.XMLName.Local != "testsuites" || doc.Tests == nil || doc.Failures == nil || doc.Errors == nil {
		t.Fatalf("root element: %+v", doc)
	}
	tests, failures, errors := 0, 0, 0
	for _, s := range doc.Suites {
		if s.Name == nil || s.Tests == nil || s.Failures == nil || s.Errors == nil {
			t.Fatalf("testsuite without its required attributes: %+v", s)
		}
		f, e := 0, 0
		for _, c := range s.Cases {
			if c.Name == nil || c.Classname == nil {
				t.Fatalf("testcase without name or classname in %s", *s.Name)
			}
			if c.Failure != nil {
				f++
				if c.Failure.Message == nil {
					t.Fatal("failure without message")
				}
			}
			if c.Error != nil {
				e++
			}
		}
		if *s.Tests != len(s.Cases) || *s.Failures != f || *s.Errors != e {
			t.Errorf("suite %s counts %d/%d/%d, has %d cases, %d failures, %d errors", *s.Name, *s.Tests, *s.Failures, *s.Errors, len(s.Cases), f, e)
		}
		tests, failures, errors = tests+len(s.Cases), failures+f, errors+e
	}
	if *doc.Tests != tests || *doc.Failures != failures || *doc.Errors != errors || failures == 0 || errors != 1 {
		t.Errorf("totals %d/%d/%d, cases %d/%d/%d", *doc.Tests, *doc.Failures, *doc.Errors, tests, failures, errors)
	}
}
