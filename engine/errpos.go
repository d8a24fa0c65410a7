package engine

import (
	"strings"
	"unicode/utf8"

	"github.com/cellsd/cellsd/cells"
)

// cellPositionError is a DuckDB error whose LINE block (the line and the
// caret DuckDB prints under the position) was mapped from the statement
// cellsd ran back to the cell's own SQL. The driver's error stays
// reachable.
type cellPositionError struct {
	msg string
	err error
}

func (e *cellPositionError) Error() string { return e.msg }
func (e *cellPositionError) Unwrap() error { return e.err }

// unwrapPosition maps the position in a DuckDB error about stmt, which is
// the cell's SQL after prefix on stmt's first line (CREATE OR REPLACE
// TABLE ... AS), back to the cell: DuckDB's "LINE 1:" block then shows the
// cell's first line and the caret under the cell's column. Errors at other
// lines are already the cell's; an error inside the prefix, or one with
// no LINE block, is returned as it is.
func unwrapPosition(err error, stmt string, prefix int) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	head, line, snippet, caret, ok := cells.DuckDBLineBlock(msg)
	if !ok || line != 1 || !strings.HasSuffix(msg, "^") {
		return err
	}
	first, _, _ := strings.Cut(stmt, "\n")
	col, ok := cells.SnippetOffset(first, snippet, caret)
	if !ok || col < prefix {
		return err
	}
	cellLine := first[prefix:]
	at := utf8.RuneCountInString(cellLine[:col-prefix])
	indicator := "LINE 1: "
	return &cellPositionError{
		msg: head + "\n\n" + indicator + cellLine + "\n" + strings.Repeat(" ", len(indicator)+at) + "^",
		err: err,
	}
}
