package materialize

import (
	"context"
	"crypto/sha256"
	"database/sql/driver"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/duckdb/duckdb-go/v2"
)

// Provenance is one row of <catalog>.main.cellsd_provenance: where a
// materialized result came from. It holds no secret: the SQL is hashed.
type Provenance struct {
	Relation, ArtifactID, CellID string
	ConnectionID, Engine         string
	SQLSHA256                    string
	StartedAt, FinishedAt        time.Time
	Rows                         int64
	Bytes                        *int64 // of the batches received; nil for core cells
	// Worker is the worker that ran the cell's job; empty when it ran in
	// the engine's process.
	Worker string
	// Refresh is an external cell's refresh policy ("ttl:10m"); empty for
	// core cells. Watermark is an incremental result's largest watermark
	// value after the load, RowsAdded the rows an increment added (nil
	// for a full load).
	Refresh, Watermark string
	RowsAdded          *int64
}

// SQLHash is the hash of a cell's SQL the provenance keeps.
func SQLHash(sql string) string {
	sum := sha256.Sum256([]byte(sql))
	return hex.EncodeToString(sum[:])
}

// ProvenanceTable is the provenance table of a catalog.
func ProvenanceTable(catalog string) string {
	return QuoteIdent(catalog) + ".main.cellsd_provenance"
}

// CreateProvenance is the statements that create catalog's provenance
// table if it does not exist, and add the columns added since (worker,
// refresh, watermark, rows_added) to one made before them.
func CreateProvenance(catalog string) string {
	return `CREATE TABLE IF NOT EXISTS ` + ProvenanceTable(catalog) + ` (
		relation VARCHAR, artifact_id VARCHAR, cell_id VARCHAR, connection_id VARCHAR, engine VARCHAR,
		sql_sha256 VARCHAR, started_at TIMESTAMPTZ, finished_at TIMESTAMPTZ, rows BIGINT, bytes BIGINT, worker VARCHAR,
		refresh VARCHAR, watermark VARCHAR, rows_added BIGINT);
		ALTER TABLE ` + ProvenanceTable(catalog) + ` ADD COLUMN IF NOT EXISTS worker VARCHAR;
		ALTER TABLE ` + ProvenanceTable(catalog) + ` ADD COLUMN IF NOT EXISTS refresh VARCHAR;
		ALTER TABLE ` + ProvenanceTable(catalog) + ` ADD COLUMN IF NOT EXISTS watermark VARCHAR;
		ALTER TABLE ` + ProvenanceTable(catalog) + ` ADD COLUMN IF NOT EXISTS rows_added BIGINT`
}

// WriteProvenance appends rows to catalog's provenance table with
// DuckDB's appender: one call for many materializations, off the cells'
// path.
func (m *Materializer) WriteProvenance(ctx context.Context, catalog string, rows []Provenance) error {
	if len(rows) == 0 {
		return nil
	}
	conn, err := m.db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("write provenance: %w", err)
	}
	defer conn.Close()
	err = conn.Raw(func(dc any) error {
		a, err := duckdb.NewAppender(dc.(driver.Conn), catalog, "main", "cellsd_provenance")
		if err != nil {
			return err
		}
		for _, p := range rows {
			var b, added any
			if p.Bytes != nil {
				b = *p.Bytes
			}
			if p.RowsAdded != nil {
				added = *p.RowsAdded
			}
			if err := a.AppendRow(p.Relation, p.ArtifactID, p.CellID, p.ConnectionID, p.Engine, p.SQLSHA256,
				p.StartedAt, p.FinishedAt, p.Rows, b, orNull(p.Worker), orNull(p.Refresh), orNull(p.Watermark), added); err != nil {
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

// orNull is s, or NULL when empty.
func orNull(s string) any {
	if s == "" {
		return nil
	}
	return s
}
