package daemon

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"

	"github.com/duckdb/duckdb-go/v2"

	"github.com/cellsd/cellsd/engine"
)

// core is the daemon's own DuckDB, the bridge's duckdb-core: in memory,
// with the shared database file (if any) attached read-only under its
// name and made the default, so its tables answer unqualified. Under a
// sandbox it is locked down as sessions are, after that ATTACH.
type core struct {
	connector *duckdb.Connector
	db        *sql.DB
	tempDir   string
}

func openCore(ctx context.Context, path string, sandbox *engine.Sandbox) (*core, error) {
	var init func(driver.ExecerContext) error
	if path != "" {
		name, attach := engine.AttachReadOnly(path)
		use := `USE "` + strings.ReplaceAll(name, `"`, `""`) + `"`
		// The ATTACH is the database's, once (a sandboxed DuckDB would
		// refuse it later); USE is each connection's.
		var once sync.Mutex
		attached := false
		init = func(conn driver.ExecerContext) error {
			once.Lock()
			defer once.Unlock()
			if !attached {
				if _, err := conn.ExecContext(context.Background(), attach, nil); err != nil {
					return err
				}
				attached = true
			}
			_, err := conn.ExecContext(context.Background(), use, nil)
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
	if sandbox != nil {
		if c.tempDir, err = os.MkdirTemp("", "cellsd-duckdb-core-"); err != nil {
			c.close()
			return nil, fmt.Errorf("core duckdb: %w", err)
		}
		if err := sandbox.Apply(ctx, c.db, c.tempDir); err != nil {
			c.close()
			return nil, fmt.Errorf("core duckdb: %w", err)
		}
	}
	return c, nil
}

func (c *core) close() error {
	err := errors.Join(c.db.Close(), c.connector.Close())
	if c.tempDir != "" {
		os.RemoveAll(c.tempDir)
	}
	return err
}
