package check

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	mysqldriver "github.com/go-sql-driver/mysql"

	"github.com/cellsd/cellsd/connectors"
	"github.com/cellsd/cellsd/connectors/mysql"
)

// MySQLSetupFile is run, when a fixture has it, against the fixture's
// first MySQL connection (without its database, which the script may
// create), before the notebook runs.
const MySQLSetupFile = "setup-mysql.sql"

func (f *fixture) setupMySQL(ctx context.Context) error {
	b, err := os.ReadFile(filepath.Join(f.dir, MySQLSetupFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	} else if err != nil {
		return err
	}
	path := filepath.Join(f.dir, MySQLSetupFile)
	if f.conns == nil {
		return fmt.Errorf("%s: needs a %s with a MySQL connection", path, ConnectionsFile)
	}
	for _, id := range f.conns.IDs() {
		c, _ := f.conns.Lookup(id)
		if c.Engine != connectors.EngineMySQL {
			continue
		}
		cfg, err := mysql.NewConfig(c)
		if err != nil {
			return err
		}
		dc := cfg.Driver.Clone()
		dc.DBName, dc.MultiStatements = "", true
		conn, err := mysqldriver.NewConnector(dc)
		if err != nil {
			return fmt.Errorf("%s: connection %s: %w", path, id, err)
		}
		db := sql.OpenDB(conn)
		defer db.Close()
		if _, err := db.ExecContext(ctx, string(b)); err != nil {
			return fmt.Errorf("%s: connection %s: %w", path, id, err)
		}
		return nil
	}
	return fmt.Errorf("%s: %s names no MySQL connection", path, ConnectionsFile)
}
