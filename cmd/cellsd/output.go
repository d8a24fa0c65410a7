package main

import (
	"context"
	"database/sql"
	"encoding/csv"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// column is a result column as DuckDB describes it.
type column struct{ name, typ string }

// describe returns the columns of a query (the body of a FROM clause: a
// quoted relation or a parenthesized query), as DuckDB binds it; nothing
// runs.
func describe(ctx context.Context, conn *sql.Conn, from string) ([]column, error) {
	rows, err := conn.QueryContext(ctx, "DESCRIBE SELECT * FROM "+from)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var cols []column
	for rows.Next() {
		var c column
		var null, key, def, extra sql.NullString
		if err := rows.Scan(&c.name, &c.typ, &null, &key, &def, &extra); err != nil {
			return nil, err
		}
		cols = append(cols, c)
	}
	return cols, rows.Err()
}

// textRows runs a query (as for describe) with every value cast to
// VARCHAR, DuckDB's own text for it, and calls row for each row: a nil
// entry is NULL. limit < 0 means all rows.
func textRows(ctx context.Context, conn *sql.Conn, from string, limit int, row func([]*string) error) error {
	q := "SELECT CAST(COLUMNS(*) AS VARCHAR) FROM " + from
	if limit >= 0 {
		q += fmt.Sprintf(" LIMIT %d", limit)
	}
	rows, err := conn.QueryContext(ctx, q)
	if err != nil {
		return err
	}
	defer rows.Close()
	n, err := rows.Columns()
	if err != nil {
		return err
	}
	for rows.Next() {
		vals := make([]sql.NullString, len(n))
		ptrs := make([]any, len(n))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return err
		}
		out := make([]*string, len(n))
		for i, v := range vals {
			if v.Valid {
				out[i] = &v.String
			}
		}
		if err := row(out); err != nil {
			return err
		}
	}
	return rows.Err()
}

// writeTable writes rows as an aligned table: a line of names, a line of
// types, a rule, the rows (numbers right-aligned, NULL for null, control
// characters escaped) and footer, if not empty.
func writeTable(w io.Writer, cols []column, rows [][]*string, footer string) error {
	cells := make([][]string, 0, len(rows)+2)
	names, types := make([]string, len(cols)), make([]string, len(cols))
	for i, c := range cols {
		names[i], types[i] = c.name, c.typ
	}
	cells = append(cells, names, types)
	for _, r := range rows {
		line := make([]string, len(cols))
		for i := range line {
			line[i] = "NULL"
			if i < len(r) && r[i] != nil {
				line[i] = escapeControl(*r[i])
			}
		}
		cells = append(cells, line)
	}
	width := make([]int, len(cols))
	for _, line := range cells {
		for i, s := range line {
			width[i] = max(width[i], utf8.RuneCountInString(s))
		}
	}
	var b strings.Builder
	put := func(line []string, body bool) {
		for i, s := range line {
			pad := strings.Repeat(" ", width[i]-utf8.RuneCountInString(s))
			if i > 0 {
				b.WriteString("  ")
			}
			switch {
			case body && numeric(cols[i].typ):
				b.WriteString(pad + s)
			case i == len(line)-1:
				b.WriteString(s) // no trailing blanks
			default:
				b.WriteString(s + pad)
			}
		}
		b.WriteString("\n")
	}
	put(names, false)
	put(types, false)
	rule := make([]string, len(cols))
	for i := range rule {
		rule[i] = strings.Repeat("-", width[i])
	}
	put(rule, false)
	for _, line := range cells[2:] {
		put(line, true)
	}
	if footer != "" {
		b.WriteString(footer + "\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// numeric reports whether a DuckDB type is a number, shown right-aligned.
func numeric(typ string) bool {
	t, _, _ := strings.Cut(typ, "(")
	switch t {
	case "TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT",
		"UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT", "UHUGEINT",
		"FLOAT", "DOUBLE", "DECIMAL":
		return true
	}
	return false
}

// escapeControl keeps a value on one line of the table: newlines, tabs
// and other control characters are shown escaped.
func escapeControl(s string) string {
	if !strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\r':
			b.WriteString(`\r`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// writeCSV writes a header of column names and the rows, NULL as an empty
// field.
func writeCSV(w io.Writer, cols []column, each func(func([]*string) error) error) (int64, error) {
	cw := csv.NewWriter(w)
	header := make([]string, len(cols))
	for i, c := range cols {
		header[i] = c.name
	}
	if err := cw.Write(header); err != nil {
		return 0, err
	}
	var n int64
	err := each(func(r []*string) error {
		rec := make([]string, len(r))
		for i, v := range r {
			if v != nil {
				rec[i] = *v
			}
		}
		n++
		return cw.Write(rec)
	})
	cw.Flush()
	if err == nil {
		err = cw.Error()
	}
	return n, err
}
