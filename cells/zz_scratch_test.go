package cells_test

import (
	"fmt"
	"testing"

	pg_query "github.com/pganalyze/pg_query_go/v6"
	"github.com/cellsd/cellsd/cells"
)

func TestScratch(t *testing.T) {
	for _, s := range []string{
		"SELECT 'a\x00b'",
		"SELECT E'\\xff'",
		"SELECT '\xff\xfe'",
		"SELECT E'\xff'",
		"SELECT \"\"",
		"SELECT B'1''x'",
		"SELECT U&'\\' UESCAPE '!'",
		"SELECT U&'!' UESCAPE '!'",
		"SELECT U&\"\\\"",
		"SELECT E'\\''; DROP TABLE t; --'",
		"SELECT E 'x'",
		"SELECT {{x}}",
		"SELECT '{{x}}'",
		"SELECT $${{x}}$$",
	} {
		r, err := pg_query.Parse(s)
		n := 0
		if err == nil {
			n = len(r.Stmts)
		}
		fmt.Printf("%q -> %d %v\n", s, n, err)
	}
	for _, s := range []string{
		"SELECT E{{v}}", "SELECT E'\\{{v}}'", "SELECT B'{{v}}'", "SELECT \"{{v}}\"", "SELECT U&\"{{v}}\"", "SELECT 1 -- {{\nx}} , '{{v}}'",
	} {
		out, err := cells.Render(s, map[string]any{"v": "'; DROP TABLE t; --", "x": "1"})
		r, perr := pg_query.Parse(out)
		n := 0
		if perr == nil {
			n = len(r.Stmts)
		}
		fmt.Printf("%q -> %q %v | %d %v\n", s, out, err, n, perr)
	}
}
