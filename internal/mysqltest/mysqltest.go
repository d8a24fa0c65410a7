// Package mysqltest finds a MySQL or MariaDB for tests, the way every
// cellsd test that needs one should: DSN, DB and Database.
//
// DSN uses the environment variable CELLSD_TEST_MYSQL_DSN (a
// go-sql-driver DSN, user:pass@tcp(host:port)/db), else
// root@tcp(127.0.0.1:3306)/test if it answers within 2 s. If neither works
// the test is skipped with a message starting "SKIP: no MySQL", so
// `go test ./... -v | grep SKIP` shows it; when the environment variable
// CI is set, the test fails instead.
//
// Tests isolate themselves with Database, which creates a uniquely named
// database and drops it when the test ends. All are safe for concurrent
// use.
package mysqltest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
)

const (
	// EnvDSN names the environment variable that, when set, is the DSN
	// every test uses.
	EnvDSN = "CELLSD_TEST_MYSQL_DSN"
	// DefaultDSN is tried when EnvDSN is unset.
	DefaultDSN = "root@tcp(127.0.0.1:3306)/test"
)

var (
	findOnce sync.Once
	foundDSN string
	findErr  error
)

// DSN returns a DSN for a MySQL the tests may use, or skips/fails tb.
func DSN(tb testing.TB) string {
	tb.Helper()
	findOnce.Do(func() {
		dsn := os.Getenv(EnvDSN)
		if dsn == "" {
			dsn = DefaultDSN
		}
		if findErr = probe(dsn); findErr == nil {
			foundDSN = dsn
		}
	})
	if foundDSN != "" {
		return foundDSN
	}
	msg := fmt.Sprintf("no MySQL: set %s or start MariaDB accepting %s (root without password, database test): %v", EnvDSN, DefaultDSN, findErr)
	if os.Getenv("CI") != "" {
		tb.Fatalf("mysqltest: %s (CI is set, so this fails instead of skipping)", msg)
	}
	tb.Skipf("SKIP: %s", msg)
	return ""
}

func probe(dsn string) error {
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return err
	}
	cfg.Timeout = 2 * time.Second
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		return err
	}
	db := sql.OpenDB(conn)
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return db.PingContext(ctx)
}

// Config returns the parsed DSN.
func Config(tb testing.TB) *mysql.Config {
	tb.Helper()
	cfg, err := mysql.ParseDSN(DSN(tb))
	if err != nil {
		tb.Fatal(err)
	}
	return cfg
}

// DB opens a pool on the DSN (with database db when not empty), closed when
// the test ends.
func DB(tb testing.TB, db string) *sql.DB {
	tb.Helper()
	cfg := Config(tb)
	if db != "" {
		cfg.DBName = db
	}
	cfg.MultiStatements = true
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	pool := sql.OpenDB(conn)
	tb.Cleanup(func() { pool.Close() })
	return pool
}

// Database creates a database with a unique name for the test and drops
// it when the test ends; it returns the name and a pool on it (multiple
// statements allowed, for setup scripts).
func Database(tb testing.TB) (string, *sql.DB) {
	tb.Helper()
	b := make([]byte, 4)
	rand.Read(b)
	name := "cellsd_test_" + hex.EncodeToString(b)
	root := DB(tb, "")
	if _, err := root.Exec("CREATE DATABASE " + name + " CHARACTER SET utf8mb4"); err != nil {
		tb.Fatalf("mysqltest: create database: %v", err)
	}
	tb.Cleanup(func() { root.Exec("DROP DATABASE IF EXISTS " + name) })
	return name, DB(tb, name)
}

// Connection returns the host fields of the DSN for a connections file
// entry: host, port, user and database.
func Connection(tb testing.TB, db string) (host, port, user string) {
	tb.Helper()
	cfg := Config(tb)
	host, port = cfg.Addr, "3306"
	for i := len(cfg.Addr) - 1; i >= 0; i-- {
		if cfg.Addr[i] == ':' {
			host, port = cfg.Addr[:i], cfg.Addr[i+1:]
			break
		}
	}
	return host, port, cfg.User
}
