package mysql

import (
	"context"
	"database/sql/driver"
	"errors"
	"testing"

	mysqldriver "github.com/go-sql-driver/mysql"
)

// fakeConn prepares with prepareErr and answers a text query with rows.
type fakeConn struct {
	prepareErr error
	texts      []string
}

type fakeRows struct{ driver.Rows }

func (c *fakeConn) PrepareContext(context.Context, string) (driver.Stmt, error) {
	return nil, c.prepareErr
}

func (c *fakeConn) QueryContext(_ context.Context, q string, _ []driver.NamedValue) (driver.Rows, error) {
	c.texts = append(c.texts, q)
	return fakeRows{}, nil
}

func TestQueryRows_FallsBackToTextOnlyWhenThePreparedProtocolIsRefused(t *testing.T) {
	unsupported := &mysqldriver.MySQLError{Number: erUnsupportedPS, Message: "This command is not supported in the prepared statement protocol yet"}
	c := &fakeConn{prepareErr: unsupported}
	rows, closeStmt, err := queryRows(context.Background(), c, "SHOW SOMETHING")
	if err != nil || rows == nil || len(c.texts) != 1 || c.texts[0] != "SHOW SOMETHING" {
		t.Fatalf("rows %v, err %v, text queries %q", rows, err, c.texts)
	}
	closeStmt()

	syntax := &mysqldriver.MySQLError{Number: 1064, Message: "You have an error in your SQL syntax"}
	c = &fakeConn{prepareErr: syntax}
	if _, _, err := queryRows(context.Background(), c, "SELEC 1"); !errors.Is(err, syntax) || len(c.texts) != 0 {
		t.Fatalf("err %v, text queries %q: a syntax error must not be sent again as text", err, c.texts)
	}
}
