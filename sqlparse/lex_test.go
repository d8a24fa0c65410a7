package sqlparse_test

import (
	"testing"

	"github.com/cellsd/cellsd/sqlparse"
)

func TestFingerprint(t *testing.T) {
	same := [][2]string{
		{"SELECT a FROM t", "select a\n  from t -- comment"},
		{"SELECT a /* x */ FROM t WHERE b = 1", "SELECT a FROM t WHERE b=1"},
		{"SELECT '{{v}}' FROM t", "SELECT   '{{v}}'   FROM t"},
	}
	for _, p := range same {
		if sqlparse.Fingerprint(p[0]) != sqlparse.Fingerprint(p[1]) {
			t.Errorf("%q and %q differ only in layout, comments or keyword case, but fingerprints differ", p[0], p[1])
		}
	}
	different := [][2]string{
		{"SELECT a FROM t", "SELECT b FROM t"},
		{"SELECT 'x' AS v", "SELECT 'X' AS v"},
		{"SELECT 1 AS Year", "SELECT 1 AS year"},
		{"SELECT 1", "SELECT 2"},
	}
	for _, p := range different {
		if sqlparse.Fingerprint(p[0]) == sqlparse.Fingerprint(p[1]) {
			t.Errorf("%q and %q mean different things, but fingerprints are equal", p[0], p[1])
		}
	}
}
