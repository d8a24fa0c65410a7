package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/pmezard/go-difflib/difflib"

	"github.com/cellsd/cellsd/internal/pgtest"
)

const diagDir = "testdata/diag/"

// messageCases are notebooks with a mistake each, run by TestMessages_Golden
// (stderr not a terminal) and TestMessages_TTYGolden (on a pseudo-terminal).
// live says whether cells run, so that the live area is drawn.
var messageCases = []struct {
	name string
	live bool
	args func(t *testing.T) []string
}{
	{"duckdb-parse", true, func(*testing.T) []string { return []string{"run", diagDir + "parse.json"} }},
	{"duckdb-runtime-line3", true, func(*testing.T) []string { return []string{"run", diagDir + "runtime.json"} }},
	{"duckdb-runtime-param", true, func(*testing.T) []string { return []string{"run", diagDir + "params.json"} }},
	{"sibling-typo", true, func(*testing.T) []string { return []string{"run", diagDir + "sibling.json"} }},
	{"toml-typo", false, func(*testing.T) []string {
		return []string{"run", diagDir + "remote.json", "--connections", diagDir + "typo.toml"}
	}},
	{"missing-connections", false, func(*testing.T) []string { return []string{"run", diagDir + "remote.json"} }},
	{"unknown-param", false, func(*testing.T) []string { return []string{"run", diagDir + "remote.json", "--param", "limt=3"} }},
	{"postgres-hint", true, func(t *testing.T) []string {
		return []string{"run", diagDir + "remote.json", "--connections", pgConnections(t)}
	}},
	// The value of {{limit}} (12345) is longer than the placeholder:
	// the caret stays in the SQL as written.
	{"postgres-hint-param", true, func(t *testing.T) []string {
		return []string{"run", diagDir + "remote-param.json", "--connections", pgConnections(t)}
	}},
}

// TestMessages_Golden runs messageCases and compares what a person reads on
// stderr (not a terminal) with its golden file, exactly, but for times.
// Rewrite the goldens with -update and review them.
func TestMessages_Golden(t *testing.T) {
	for _, tt := range messageCases {
		t.Run(tt.name, func(t *testing.T) {
			args := append(tt.args(t), "--concurrency", "1")
			code, _, stderr := cellsd(t, args...)
			got := "exit " + strconv.Itoa(code) + "\n" + normalize(stderr)
			checkTextGolden(t, diagDir+tt.name+".golden", got)
		})
	}
}

// pgConnections writes a connections file of one connector, pg, to the
// test database.
func pgConnections(t *testing.T) string {
	conns := filepath.Join(t.TempDir(), "connections.toml")
	if err := os.WriteFile(conns, []byte("[[db.connectors]]\nid = \"pg\"\nengine = \"postgres\"\ndsn = \""+pgtest.DSN(t)+"\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return conns
}

var (
	durationMs  = regexp.MustCompile(`\d+\.\d ms`)
	durationSec = regexp.MustCompile(` in \d+\.\ds$`)
)

// normalize replaces what changes between runs: times and absolute paths.
func normalize(s string) string {
	wd, _ := os.Getwd()
	s = strings.ReplaceAll(s, wd+"/", "")
	s = durationMs.ReplaceAllString(s, "0.0 ms")
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = durationSec.ReplaceAllString(l, " in 0.0s")
	}
	return strings.Join(lines, "\n")
}

// checkTextGolden compares got with the golden file, or rewrites it with
// -update.
func checkTextGolden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (no golden yet: run with -update)", err)
	}
	if got != string(want) {
		diff, _ := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{A: difflib.SplitLines(string(want)), B: difflib.SplitLines(got), FromFile: path, ToFile: "got", Context: 3})
		t.Errorf("output differs from %s:\n%s", path, diff)
	}
}

// TestCheck_SelectSkipsAndNoGolden: --select skips (and says so) a fixture
// with no matching cell; a fixture without goldens says how to make them.
func TestCheck_SelectSkipsAndNoGolden(t *testing.T) {
	code, stdout, stderr := cellsd(t, "check", "../../fixtures/check/quickstart", "../../fixtures/check/ddl", "--select", "summary")
	if code != exitOK || !strings.Contains(stdout, "skip ") || !strings.Contains(stdout, `no cell has the id or result name "summary"`) ||
		!strings.Contains(stderr, "2 fixtures, 0 failed, 1 skipped") {
		t.Errorf("exit %d, stdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	dir := filepath.Join(t.TempDir(), "new")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(notebooks + "quickstart.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "notebook.json"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, _ = cellsd(t, "check", dir)
	if code != exitFailed || !strings.Contains(stdout, filepath.Join(dir, "run.json")+": no golden yet: run with --update\n") || strings.Contains(stdout, "+++") {
		t.Errorf("exit %d, stdout:\n%s", code, stdout)
	}
}

// TestReadme_FailingRun: the failing run the README shows is the golden's
// text (but its exit line), exactly.
func TestReadme_FailingRun(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	golden, err := os.ReadFile(diagDir + "duckdb-runtime-line3.golden")
	if err != nil {
		t.Fatal(err)
	}
	_, text, _ := strings.Cut(string(golden), "\n") // "exit 1"
	if !strings.Contains(string(readme), "```\n"+text+"```\n") {
		t.Errorf("README.md does not show %sduckdb-runtime-line3.golden as it is:\n%s", diagDir, text)
	}
}
