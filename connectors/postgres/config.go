package postgres

import (
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/cellsd/cellsd/connectors"
)

// Config is a Postgres connection ready to open: a parsed pool config and
// the per-query settings.
type Config struct {
	// ID is the connection id cells name.
	ID string
	// Pool holds the connection settings, the secret included; it is never
	// printed.
	Pool *pgxpool.Config
	// ReadOnly runs every query in a READ ONLY transaction (the default).
	ReadOnly bool
	// StatementTimeout bounds every query on the server; 0 means none.
	StatementTimeout time.Duration
}

// DefaultMaxConns is the pool size of a connection whose DSN sets none
// (pool_max_conns).
const DefaultMaxConns = 16

// ErrSecretMissing is wrapped when password_env names an unset variable.
var ErrSecretMissing = connectors.ErrSecretMissing

// NewConfig turns a [[db.connectors]] entry into a Config: the DSN, or the
// host fields, with the password read from the variable password_env names.
// Errors name the connection and never carry the secret.
func NewConfig(c connectors.Connection) (*Config, error) {
	dsn := c.DSN
	if dsn == "" {
		u := &url.URL{Scheme: "postgres", Host: c.Host, Path: "/" + c.Database}
		if c.Port != "" {
			u.Host = net.JoinHostPort(c.Host, c.Port)
		}
		if c.User != "" {
			u.User = url.User(c.User)
		}
		dsn = u.String()
	}
	pc, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgx's message may quote the DSN, password and all.
		return nil, fmt.Errorf("connection %s: invalid dsn or host settings", c.ID)
	}
	if c.Password != "" || c.PasswordEnv != "" { // else the DSN's, if any
		pw, err := c.PasswordSecret()
		if err != nil {
			return nil, fmt.Errorf("connection %s: %w", c.ID, err)
		}
		pc.ConnConfig.Password = pw
	}
	if pc.ConnConfig.RuntimeParams["application_name"] == "" {
		// What pg_stat_activity shows, unless the DSN names another.
		pc.ConnConfig.RuntimeParams["application_name"] = "cellsd"
	}
	if !strings.Contains(dsn, "pool_max_conns") {
		// pgxpool's default (the number of CPUs, at least 4) would cap how
		// many cells of one connection wait on the server at once.
		pc.MaxConns = DefaultMaxConns
	}
	timeout, err := c.Timeout()
	if err != nil {
		return nil, err
	}
	return &Config{ID: c.ID, Pool: pc, ReadOnly: c.IsReadOnly(), StatementTimeout: timeout}, nil
}

// Connect opens a Source for a connection: NewConfig, then Open.
func Connect(c connectors.Connection) (*Source, error) {
	cfg, err := NewConfig(c)
	if err != nil {
		return nil, err
	}
	return Open(cfg)
}
