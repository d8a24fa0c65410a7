package engine

import (
	"context"
	"errors"
	"fmt"

	"time"

	"github.com/cellsd/cellsd/cells"
	"github.com/cellsd/cellsd/connectors"
	"github.com/cellsd/cellsd/engine/materialize"
)

// renderCell renders a cell's {{var}} placeholders. A MySQL cell is
// rendered by its connection just before each statement runs, in the
// lexing of the session's sql_mode; here its placeholders are only checked
// (unknown variables, values that cannot be rendered), and its SQL is kept
// as written.
func renderCell(cp *CellPlan, values map[string]any) (string, error) {
	if cp.Connection.Engine == connectors.EngineMySQL {
		if _, err := cells.RenderMySQL(cp.Cell.SQL, values, cells.MySQLMode{}); err != nil {
			return "", err
		}
		if _, err := cells.RenderMySQL(cp.Cell.SQL, values, cells.MySQLMode{NoBackslashEscapes: true}); err != nil {
			return "", err
		}
		return cp.Cell.SQL, nil
	}
	return cells.Render(cp.Cell.SQL, values)
}

// runExternal runs a cell on its connection's Source and materializes
// its result: source.Fetch streams Arrow batches into a staging table,
// which replaces the cell's result in one transaction committed through
// guard. The one path of every external engine.
func (e *Engine) runExternal(ctx context.Context, spec execSpec, guard func(context.Context, func() error) error) (*int64, error) {
	if e.cfg.Sources == nil {
		return nil, fmt.Errorf("connector %s: %s cells cannot run (the engine has no Sources)", spec.conn.ID, spec.conn.Engine)
	}
	src, err := e.cfg.Sources.Source(spec.conn)
	if err != nil {
		return nil, err
	}
	q := connectors.Query{SQL: spec.sql, Values: spec.values, HasResult: spec.hasResult}
	if n := spec.job; n != nil {
		ctx = connectors.WithFetchInfo(ctx, connectors.FetchInfo{Session: n.session, Artifact: spec.artifact, Cell: spec.cell, Run: n.run, Status: n.report})
	}
	if !spec.hasResult {
		// Nothing to materialize (a cell ending in SET and the like): run
		// it and drop what it returns.
		return nil, sourceError(spec, src.Fetch(ctx, q, nil))
	}
	t := materialize.Target{Catalog: e.ResultDB(), Schema: spec.schema, Name: spec.name}
	var inc materialize.Increment
	if spec.refresh.Kind == cells.RefreshIncremental {
		inc.Column, inc.UniqueKey = spec.refresh.Column, spec.refresh.UniqueKey
		if spec.incremental { // else a full load: the first, or after a change
			mark, ok, err := e.mat.Watermark(ctx, t, inc.Column)
			if err != nil {
				return nil, err
			}
			if ok {
				q.Since, inc.Append = &connectors.Since{Column: inc.Column, Value: mark}, true
			}
		}
	}
	fetch := func(w connectors.ResultWriter) error { return src.Fetch(ctx, q, w) }
	res, err := e.mat.LoadIncrement(ctx, t, fetch, guard, spec.received, inc)
	if err != nil {
		return nil, sourceError(spec, err)
	}
	if n := spec.note; n != nil {
		n.appended, n.added, n.watermark = inc.Append, res.Added, res.Watermark
	}
	return &res.Rows, nil
}

// sourceError adds to an error a Source reported at a place in the
// cell's SQL the line and column there. The database's error stays
// reachable.
func sourceError(spec execSpec, err error) error {
	var ce *connectors.Error
	if !errors.As(err, &ce) {
		return err
	}
	if ce.Offset >= 0 {
		// The offset is in the rendered SQL; the position is in the
		// cell's SQL as the user wrote it ({{var}}s unrendered).
		sql, off := spec.sql, ce.Offset
		if spec.source != "" && spec.source != spec.sql {
			sql, off = spec.source, cells.SourceOffset(spec.source, spec.values, off)
		}
		line, col := cells.LineColumn(sql, off)
		return fmt.Errorf("%w (at line %d, column %d)%s", err, line, col, ce.Detail)
	}
	if ce.Detail != "" {
		return fmt.Errorf("%w%s", err, ce.Detail)
	}
	return err
}

// provenance is one row of the provenance table.
type provenance = materialize.Provenance

func newProvenance(e *Engine, spec execSpec, started, finished time.Time, rows int64, bytes *int64) provenance {
	p := provenance{
		Relation: e.relationName(spec.schema, spec.name), ArtifactID: spec.artifact, CellID: spec.cell,
		ConnectionID: spec.conn.ID, Engine: spec.conn.Engine, SQLSHA256: materialize.SQLHash(spec.sql),
		StartedAt: started, FinishedAt: finished, Rows: rows, Bytes: bytes,
	}
	if spec.job != nil {
		p.Worker = spec.job.worker
	}
	if n := spec.note; n != nil {
		p.Refresh = spec.refresh.String()
		p.Watermark = n.watermark
		if n.appended {
			p.RowsAdded = &n.added
		}
	}
	return p
}

// writeProvenance appends rows to the provenance table: one call for many
// materializations, off the cells' path.
func (e *Engine) writeProvenance(ctx context.Context, rows []provenance) error {
	return e.mat.WriteProvenance(ctx, e.ResultDB(), rows)
}
