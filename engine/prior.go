package engine

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/cellsd/cellsd/cells"
	"github.com/cellsd/cellsd/connectors"
	"github.com/cellsd/cellsd/engine/materialize"
)

// Results kept from an earlier process. With a core database on disk
// and the schema strategy, an external cell's result outlives the
// `cellsd run` that fetched it, and its provenance row says when it was
// fetched, from which SQL and on which connection. A new session takes
// such a result as its cell's current one when its policy is about age
// or watermarks: a ttl result younger than its ttl is served from the
// database, a manual one is kept, an incremental one continues from the
// rows the table holds. An on-change cell is fetched again, as it always
// was: nothing but a run tells it that its source changed.

// prior is the latest provenance of one relation.
type prior struct {
	connection, sqlHash, refresh string
	finishedAt                   time.Time
	rows                         int64
}

// seedPriors gives every external cell a result of an earlier process
// as its current one, where the policy wants it and the provenance
// matches what the cell would fetch now. Before the session is shared.
func (s *scheduler) seedPriors(ctx context.Context) error {
	if s.opts.NoCache || s.e.cfg.DBPath == "" || s.e.cfg.Materialization != SchemaStrategy {
		return nil
	}
	priors, err := s.readPriors(ctx)
	if err != nil || len(priors) == 0 {
		return err
	}
	for _, st := range s.sortedStates() {
		cp := st.ap.Cell(st.ref.cell)
		if cp.Connection.Engine == connectors.EngineDuckDB || !cp.HasResult() || len(cp.Deps) > 0 {
			continue
		}
		if k := cp.Refresh().Kind; k != cells.RefreshTTL && k != cells.RefreshManual && k != cells.RefreshIncremental {
			continue
		}
		spec, err := s.spec(st, cp)
		if err != nil {
			continue // the run reports it
		}
		p, ok := priors[s.e.relationName(spec.schema, spec.name)]
		if !ok || p.connection != spec.conn.ID || p.sqlHash != materialize.SQLHash(spec.sql) || !samePolicy(p.refresh, spec.refresh) {
			continue
		}
		s.version++
		rows := p.rows
		st.version, st.fingerprint, st.rows, st.fetchedAt = s.version, spec.fingerprint, &rows, p.finishedAt
	}
	return nil
}

// readPriors reads the latest provenance of every result table that
// still exists in the results database.
func (s *scheduler) readPriors(ctx context.Context) (map[string]prior, error) {
	db := s.e.ResultDB()
	var n int
	err := s.e.db.QueryRowContext(ctx, `SELECT count(*) FROM duckdb_tables() WHERE database_name = ? AND schema_name = 'main' AND table_name = 'cellsd_provenance'`, db).Scan(&n)
	if err != nil || n == 0 {
		return nil, err
	}
	rows, err := s.e.db.QueryContext(ctx, `SELECT p.relation, p.connection_id, p.sql_sha256, coalesce(p.refresh, ''), p.finished_at, p.rows
		FROM `+materialize.ProvenanceTable(db)+` p
		JOIN duckdb_tables() t ON p.relation = t.database_name || '.' || t.schema_name || '.' || t.table_name
		WHERE t.database_name = ?
		QUALIFY row_number() OVER (PARTITION BY p.relation ORDER BY p.finished_at DESC) = 1`, db)
	if err != nil {
		return nil, fmt.Errorf("read provenance: %w", err)
	}
	defer rows.Close()
	out := map[string]prior{}
	for rows.Next() {
		var rel string
		var p prior
		var conn sql.NullString
		if err := rows.Scan(&rel, &conn, &p.sqlHash, &p.refresh, &p.finishedAt, &p.rows); err != nil {
			return nil, fmt.Errorf("read provenance: %w", err)
		}
		p.connection = conn.String
		out[rel] = p
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read provenance: %w", err)
	}
	return out, nil
}

// samePolicy reports whether a result made under the policy was (as
// provenance spells it) can stand for one under now: the same kind and,
// for incremental, the same watermark column. A new ttl ages the same
// result differently; it need not be fetched again.
func samePolicy(was string, now cells.Refresh) bool {
	r, err := cells.ParseRefresh(was)
	return err == nil && r.Kind == now.Kind && r.Column == now.Column
}
