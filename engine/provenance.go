package engine

import (
	"context"
	"crypto/sha256"
	"database/sql/driver"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/duckdb/duckdb-go/v2"
)

// provenance is one row of <resultDb>.main.cellsd_provenance: where a
// materialized result came from. It holds no secret: the SQL is hashed.
type provenance struct {
	relation, artifactID, cellID string
	connectionID, engine         string
	sqlSHA256                    string
	startedAt, finishedAt        time.Time
	rows                         int64
	bytes                        *int64
}

func newProvenance(e *Engine, spec execSpec, started, finished time.Time, rows int64, bytes *int64) provenance {
	sum := sha256.Sum256([]byte(spec.sql))
	return provenance{
		relation: e.relationName(spec.schema, spec.name), artifactID: spec.artifact, cellID: spec.cell,
		connectionID: spec.conn.ID, engine: spec.conn.Engine, sqlSHA256: hex.EncodeToString(sum[:]),
		startedAt: started, finishedAt: finished, rows: rows, bytes: bytes,
	}
}

// writeProvenance appends rows to the provenance table with DuckDB's
// appender: one call for many materializations, off the cells' path.
func (e *Engine) writeProvenance(ctx context.Context, rows []provenance) error {
	if len(rows) == 0 {
		return nil
	}
	conn, err := e.db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("write provenance: %w", err)
	}
	defer conn.Close()
	err = conn.Raw(func(dc any) error {
		a, err := duckdb.NewAppender(dc.(driver.Conn), e.ResultDB(), "main", "cellsd_provenance")
		if err != nil {
			return err
		}
		for _, p := range rows {
			var b any
			if p.bytes != nil {
				b = *p.bytes
			}
			if err := a.AppendRow(p.relation, p.artifactID, p.cellID, p.connectionID, p.engine, p.sqlSHA256,
				p.startedAt, p.finishedAt, p.rows, b); err != nil {
				a.Close()
				return err
			}
		}
		return a.Close()
	})
	if err != nil {
		return fmt.Errorf("write provenance: %w", err)
	}
	return nil
}
