package daemon

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"strings"

	"github.com/duckdb/duckdb-go/v2"

	"github.com/cellsd/cellsd/engine"
)

// core is the daemon's own DuckDB, the bridge's duckdb-core: in memory,
// with the shared database file (if any) attached read-only under its
// name and made the default, so its tables answer unqualified.
type core struct {
	connector *duckdb.Connector
	db        *sql.DB
}

func openCore(ctx context.Context, path string) (*core, error) {
	var init func(driver.ExecerContext) error
	if path != "" {
		name, attach := engine.AttachReadOnly(path)
		attach += `; USE "` + strings.ReplaceAll(name, `"`, `""`) + `"`
		init = func(conn driver.ExecerContext) error {
			_, err := conn.ExecContext(context.Background(), attach, nil)
			return err
		}
	}
	connector, err := duckdb.NewConnector("", init)
	if err != nil {
		return nil, fmt.Errorf("open core duckdb: %w", err)
	}
	c := &core{connector: connector, db: sql.OpenDB(connector)}
	if err := c.db.PingContext(ctx); err != nil {
		c.close()
		return nil, fmt.Errorf("open core duckdb with %s read-only: %w", path, err)
	}
	return c, nil
}

func (c *core) close() error {
	return errors.Join(c.db.Close(), c.connector.Close())
}
