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

// TestMessages_Golden runs notebooks with a mistake each and compares what
// a person reads on stderr (not a terminal) with its golden file, exactly,
// but for times. Rewrite the goldens with -update and review them.
func TestMessages_Golden(t *testing.T) {
	tests := []struct {
		name string
		args func(t *testing.T) []string
	}{
		{"duckdb-parse", func(*testing.T) []string { return []string{"run", diagDir + "parse.json"} }},
		{"duckdb-runtime-line3", func(*testing.T) []string { return []string{"run", diagDir + "runtime.json"} }},
		{"sibling-typo", func(*testing.T) []string { return []string{"run", diagDir + "sibling.json"} }},
		{"toml-typo", func(*testing.T) []string {
			return []string{"run", diagDir + "remote.json", "--connections", diagDir + "typo.toml"}
		}},
		{"missing-connections", func(*testing.T) []string { return []string{"run", diagDir + "remote.json"} }},
		{"unknown-param", func(*testing.T) []string { return []string{"run", diagDir + "remote.json", "--param", "limt=3"} }},
		{"postgres-hint", func(t *testing.T) []string {
			conns := filepath.Join(t.TempDir(), "connections.toml")
			if err := os.WriteFile(conns, []byte("[[db.connectors]]\nid = \"pg\"\nengine = \"postgres\"\ndsn = \""+pgtest.DSN(t)+"\"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			return []string{"run", diagDir + "remote.json", "--connections", conns}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append(tt.args(t), "--concurrency", "1")
			code, _, stderr := cellsd(t, args...)
			got := "exit " + strconv.Itoa(code) + "\n" + normalize(stderr)
			checkTextGolden(t, diagDir+tt.name+".golden", got)
		})
	}
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
