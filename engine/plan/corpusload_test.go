package plan_test

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/tools/txtar"

	"github.com/cellsd/cellsd/cells"
)

// loadCorpus reads the cases of the named files of testdata/corpus, in
// order.
func loadCorpus(t *testing.T, files ...string) []corpusCase {
	t.Helper()
	var out []corpusCase
	for _, f := range files {
		path := filepath.Join("testdata", "corpus", f)
		ar, err := txtar.ParseFile(path)
		if err != nil {
			t.Fatal(err)
		}
		byName := map[string]int{}
		for _, file := range ar.Files {
			dir, base := filepath.Dir(file.Name), filepath.Base(file.Name)
			i, ok := byName[dir]
			if !ok {
				i = len(out)
				out = append(out, corpusCase{name: dir})
				byName[dir] = i
			}
			tc := &out[i]
			switch base {
			case "notebook.json":
				tc.notebook = file.Data
			case "want":
				if err := readWant(tc, file.Data); err != nil {
					t.Fatalf("%s: %s: %v", path, file.Name, err)
				}
			default:
				t.Fatalf("%s: unknown file %s", path, file.Name)
			}
		}
		for _, i := range byName {
			if tc := out[i]; tc.notebook == nil {
				t.Fatalf("%s: case %s has no notebook.json", path, tc.name)
			}
		}
	}
	return out
}

// corpusNotebook loads a case's notebook the way cellsd loads a file.
func corpusNotebook(t *testing.T, tc corpusCase) *cells.Notebook {
	t.Helper()
	nb, err := cells.Parse(tc.name+"/notebook.json", tc.notebook)
	if err != nil {
		t.Fatalf("parse notebook: %v", err)
	}
	return nb
}

// readWant reads a case's want file into the expectations of tc.
func readWant(tc *corpusCase, data []byte) error {
	for _, line := range strings.Split(strings.TrimSuffix(string(data), "\n"), "\n") {
		if line == "" {
			continue
		}
		key, rest, _ := strings.Cut(line, " ")
		switch key {
		case "deps":
			tc.deps = append(tc.deps, rest)
		case "error":
			tc.errors = append(tc.errors, rest)
		case "external":
			tc.external = append(tc.external, rest)
		case "defines":
			tc.defines = append(tc.defines, rest)
		case "message":
			tc.messages = append(tc.messages, rest)
		default:
			return fmt.Errorf("unknown expectation %q", line)
		}
	}
	return nil
}

// corpusFiles returns the names of the corpus files, less those excluded.
func corpusFiles(t *testing.T, exclude ...string) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join("testdata", "corpus"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".txtar") && !slices.Contains(exclude, e.Name()) {
			out = append(out, e.Name())
		}
	}
	return out
}
