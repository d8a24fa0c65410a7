package main

import (
	"bufio"
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/cellsd/cellsd/cells"
	"github.com/cellsd/cellsd/engine"
	"github.com/cellsd/cellsd/sqlparse"
)

type queryCmd struct {
	notebookFlags
	SQL    string   `arg:"" name:"sql" help:"One query (SELECT, FROM, WITH, VALUES, ...) on the notebook's results, unqualified names as in its cells."`
	Params []string `name:"param" sep:"none" placeholder:"VAR=VALUE" help:"Override an input cell's value (repeatable)."`
	DB     string   `name:"db" type:"path" placeholder:"PATH" help:"Core DuckDB database file (default: in memory)."`
	Format string   `enum:"table,csv,json,parquet" default:"table" placeholder:"table|csv|json|parquet" help:"Output format: ${enum}; parquet needs -o."`
	Output string   `short:"o" type:"path" placeholder:"FILE" help:"Write the result to FILE instead of stdout."`
}

func (c *queryCmd) Run(e *env) error {
	if c.Format == "parquet" && c.Output == "" {
		return usagef("--format parquet writes a file: give -o FILE")
	}
	nb, reg, err := c.load(e)
	if err != nil {
		return err
	}
	if err := applyParams(nb, c.Params); err != nil {
		return err
	}
	eng, err := openEngine(e, engine.Config{DBPath: c.DB, Connections: reg})
	if err != nil {
		return err
	}
	defer eng.Close()
	planner := eng.Planner()
	plan, err := planner.Plan(e.ctx, nb)
	if err != nil {
		return err
	}
	text, sel, err := c.analyse(e, eng, planner, plan)
	if err != nil {
		return err
	}
	if err := secretsSet(plan, "", c.Connections, sel); err != nil {
		return err
	}
	// Only the cells the SQL needs run; a run of none still opens the
	// artifact schemas the search path names.
	prog := newProgress(e.stderr, plan, "", sel, true).forEnv(e)
	report, err := eng.Run(e.ctx, plan, engine.RunOptions{Select: sel, Observe: prog.observe})
	prog.stopLive()
	if err != nil {
		return err
	}
	var failed []string
	for _, ar := range report.Artifacts {
		for _, cr := range ar.Cells {
			// Every cell that ran counts, including any the engine brought in
			// beyond sel (the rest of a table's family of writers).
			if cr.Status != engine.StatusSuccess && cr.Status != engine.StatusIdle {
				failed = append(failed, fmt.Sprintf("%s/%s (%s)", ar.ID, cr.ID, cr.Status))
			}
		}
	}
	if len(failed) > 0 {
		fmt.Fprintf(e.stderr, "cellsd: query not run: the cells it needs did not all succeed: %s\n", strings.Join(failed, ", "))
		return errFailed
	}

	conn, err := eng.DB().Conn(e.ctx)
	if err != nil {
		return err
	}
	defer func() {
		conn.Raw(func(any) error { return driver.ErrBadConn }) // it holds our search_path: never reuse it
		conn.Close()
	}()
	if _, err := conn.ExecContext(e.ctx, "SET search_path = "+sqlString(eng.NotebookSearchPath(plan))); err != nil {
		return fmt.Errorf("set search_path: %w", err)
	}
	from := "(" + statement(text) + "\n) AS q"
	if err := c.write(e, conn, from); err != nil {
		return fmt.Errorf("query: %w", err)
	}
	return nil
}

// analyse parses the SQL and returns it with its {{var}}s rendered and the
// cells it needs, with their upstream. Anything that keeps it from running
// is a usage error.
func (c *queryCmd) analyse(e *env, eng *engine.Engine, planner *engine.Planner, plan *engine.Plan) (string, engine.Selection, error) {
	a, err := planner.DuckDB.Analyze(e.ctx, c.SQL)
	if err != nil {
		return "", nil, err
	}
	switch {
	case a.Err != nil && a.Err.Line > 0:
		return "", nil, usagef("SQL: parse error at line %d, column %d: %s", a.Err.Line, a.Err.Column, a.Err.Message)
	case a.Err != nil:
		return "", nil, usagef("SQL: parse error: %s", a.Err.Message)
	case a.Statements != 1 || !a.Query || len(a.Defines) > 0:
		return "", nil, usagef("SQL: cellsd query runs one query (SELECT, FROM, WITH, VALUES, DESCRIBE, SUMMARIZE, PIVOT), not %q", c.SQL)
	}
	text, err := renderVars(plan.Notebook, c.SQL, a.Vars)
	if err != nil {
		return "", nil, err
	}
	sel, rest := plan.Reads(a.Refs)
	if err := c.checkRefs(e, eng, plan, rest, a.Refs); err != nil {
		return "", nil, err
	}
	return text, plan.WithUpstream(sel), nil
}

// checkRefs makes sure every relation the SQL names is a notebook result or
// exists in the database (--db, or DuckDB's own), and that it names at
// least one: otherwise it is a usage error with a did-you-mean.
func (c *queryCmd) checkRefs(e *env, eng *engine.Engine, plan *engine.Plan, rest, refs []sqlparse.Ref) error {
	if len(refs) == 0 {
		return usagef("SQL: reads no relation; cellsd query reads the results of %s (%s)", c.Notebook, listNames(plan))
	}
	if len(rest) == 0 {
		return nil
	}
	// The artifact schemas do not exist before a session opens them: look
	// the names up with the core database's main schema alone.
	conn, err := eng.DB().Conn(e.ctx)
	if err != nil {
		return err
	}
	defer func() {
		conn.Raw(func(any) error { return driver.ErrBadConn })
		conn.Close()
	}()
	var missing []string
	for _, r := range rest {
		parts := []string{}
		for _, p := range []string{r.Catalog, r.Schema, r.Name} {
			if p != "" {
				parts = append(parts, sqlIdent(p))
			}
		}
		if _, err := conn.ExecContext(e.ctx, "DESCRIBE "+strings.Join(parts, ".")); err == nil {
			continue
		}
		msg := fmt.Sprintf("%q", r.String())
		if s := plan.Closest(r.Name); s != "" {
			msg += " (did you mean " + s + "?)"
		}
		missing = append(missing, msg)
	}
	if len(missing) == 0 {
		return nil
	}
	which := c.Notebook + " does not define"
	if c.DB != "" {
		which = "neither " + c.Notebook + " nor " + c.DB + " defines"
	}
	return usagef("SQL reads %s, which %s; the notebook's results are %s", strings.Join(missing, ", "), which, listNames(plan))
}

// listNames lists the notebook's result names for a message, at most 20.
func listNames(plan *engine.Plan) string {
	names := plan.ResultNames()
	if len(names) == 0 {
		return "no result"
	}
	if len(names) > 20 {
		return strings.Join(names[:20], ", ") + fmt.Sprintf(" and %d more", len(names)-20)
	}
	return strings.Join(names, ", ")
}

// write prints (or writes to -o) the result of the query from in the format.
func (c *queryCmd) write(e *env, conn *sql.Conn, from string) error {
	ctx := e.ctx
	if c.Format == "parquet" {
		res, err := conn.ExecContext(ctx, "COPY (SELECT * FROM "+from+") TO "+sqlString(c.Output)+" (FORMAT parquet)")
		if err != nil {
			return err
		}
		n, _ := res.RowsAffected()
		fmt.Fprintf(e.stderr, "%s written to %s\n", rowsText(n), c.Output)
		return nil
	}
	cols, err := describe(ctx, conn, from)
	if err != nil {
		return err
	}
	out := e.stdout
	var f *os.File
	if c.Output != "" {
		if f, err = os.Create(c.Output); err != nil {
			return err
		}
		defer f.Close()
		out = f
	}
	bw := bufio.NewWriter(out)
	var n int64
	switch c.Format {
	case "csv":
		n, err = writeCSV(bw, cols, func(row func([]*string) error) error { return textRows(ctx, conn, from, -1, row) })
	case "json":
		n, err = writeJSON(ctx, bw, conn, from)
	default:
		var rows [][]*string
		err = textRows(ctx, conn, from, -1, func(r []*string) error { rows = append(rows, r); return nil })
		if err == nil {
			n = int64(len(rows))
			err = writeTable(bw, cols, rows, rowCount(n))
		}
	}
	if err == nil {
		err = bw.Flush()
	}
	if f != nil {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = cerr
		}
		if err != nil {
			os.Remove(c.Output) // no half-written result
		} else {
			fmt.Fprintf(e.stderr, "%s written to %s\n", rowsText(n), c.Output)
		}
	}
	return err
}

// writeJSON writes the rows as a JSON array of objects, each value as
// DuckDB's to_json gives it.
func writeJSON(ctx context.Context, w io.Writer, conn *sql.Conn, from string) (int64, error) {
	rows, err := conn.QueryContext(ctx, "SELECT CAST(to_json(q) AS VARCHAR) FROM (SELECT * FROM "+from+") AS q")
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	var n int64
	io.WriteString(w, "[")
	for rows.Next() {
		var obj string
		if err := rows.Scan(&obj); err != nil {
			return n, err
		}
		if !json.Valid([]byte(obj)) {
			// DuckDB writes NaN and infinities as bare words.
			return n, fmt.Errorf("row %d has no JSON form (a NaN or infinite number?): %.200s", n+1, obj)
		}
		sep := ",\n"
		if n == 0 {
			sep = "\n"
		}
		io.WriteString(w, sep+obj)
		n++
	}
	if err := rows.Err(); err != nil {
		return n, err
	}
	if n > 0 {
		io.WriteString(w, "\n")
	}
	_, err = io.WriteString(w, "]\n")
	return n, err
}

func rowCount(n int64) string { return "(" + rowsText(n) + ")" }

// rowsText is "1 row", "2 rows".
func rowsText(n int64) string {
	if n == 1 {
		return "1 row"
	}
	return fmt.Sprintf("%d rows", n)
}

// statement is the one statement of text without the semicolon that ends
// it and what follows.
func statement(text string) string {
	if spans := sqlparse.Statements(text); len(spans) > 0 {
		return text[spans[0].Start:spans[0].End]
	}
	return text
}

// renderVars fills the {{var}} placeholders of a query with the values of
// the notebook's input cells, as a cell's would be (the first artifact, in
// notebook order, that has the variable).
func renderVars(nb *cells.Notebook, text string, vars []string) (string, error) {
	if len(vars) == 0 {
		return text, nil
	}
	values := map[string]any{}
	for _, a := range nb.Artifacts {
		for _, id := range a.CellIDs {
			if in := nb.Cells[id].Input; in != nil && in.VarName != "" {
				if _, ok := values[in.VarName]; !ok {
					values[in.VarName] = in.Value
				}
			}
		}
	}
	for _, v := range vars {
		if _, ok := values[v]; !ok {
			return "", usagef("SQL: {{%s}}: %s has no input cell with varName %q", v, nb.Path, v)
		}
	}
	out, err := cells.Render(text, values)
	if err != nil {
		return "", usagef("SQL: %v", err)
	}
	return out, nil
}

func sqlString(s string) string { return `'` + strings.ReplaceAll(s, `'`, `''`) + `'` }
func sqlIdent(s string) string  { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }
