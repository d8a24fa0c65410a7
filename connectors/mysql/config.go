package mysql

import (
	"fmt"
	"io"
	"log"
	"net"
	"net/url"
	"strings"
	"time"

	driver "github.com/go-sql-driver/mysql"

	"github.com/cellsd/cellsd/connectors"
)

// Config is a MySQL connection ready to open: the driver's settings and
// the per-query ones.
type Config struct {
	// ID is the connection id cells name.
	ID string
	// Driver holds the connection settings, the secret included; it is
	// never printed.
	Driver *driver.Config
	// ReadOnly runs every cell in a READ ONLY transaction and refuses
	// statements that do not only read (the default).
	ReadOnly bool
	// StatementTimeout bounds every statement on the server; 0 means none.
	StatementTimeout time.Duration
	// MaxConns is the pool size.
	MaxConns int
}

var quiet = log.New(io.Discard, "", 0)

// DefaultMaxConns is the pool size of a connection.
const DefaultMaxConns = 16

// NewConfig turns a [[db.connectors]] entry into a Config: the DSN (the
// driver's user:pass@tcp(host:port)/db?param=value form, or a mysql:// URL),
// or the host fields, with the password read from the variable password_env
// names. Errors name the connection and never carry the secret.
func NewConfig(c connectors.Connection) (*Config, error) {
	var dc *driver.Config
	switch {
	case strings.HasPrefix(c.DSN, "mysql://"):
		u, err := url.Parse(c.DSN)
		if err != nil {
			return nil, fmt.Errorf("connection %s: invalid dsn", c.ID)
		}
		dsn := ""
		if u.User != nil {
			dsn = u.User.Username()
			if pw, ok := u.User.Password(); ok {
				dsn += ":" + pw
			}
			dsn += "@"
		}
		host := u.Host
		if u.Port() == "" {
			host = net.JoinHostPort(u.Hostname(), "3306")
		}
		dsn += "tcp(" + host + ")" + u.Path
		if u.RawQuery != "" {
			dsn += "?" + u.RawQuery
		}
		if dc, err = driver.ParseDSN(dsn); err != nil {
			return nil, fmt.Errorf("connection %s: invalid dsn", c.ID) // the driver's message may quote the password
		}
	case c.DSN != "":
		var err error
		if dc, err = driver.ParseDSN(c.DSN); err != nil {
			return nil, fmt.Errorf("connection %s: invalid dsn", c.ID)
		}
	default:
		dc = driver.NewConfig()
		host, port := c.Host, c.Port
		if host == "" {
			host = "127.0.0.1"
		}
		if port == "" {
			port = "3306"
		}
		dc.Net, dc.Addr, dc.User, dc.DBName = "tcp", net.JoinHostPort(host, port), c.User, c.Database
	}
	if c.Password != "" || c.PasswordEnv != "" { // else the DSN's, if any
		pw, err := c.PasswordSecret()
		if err != nil {
			return nil, fmt.Errorf("connection %s: %w", c.ID, err)
		}
		dc.Passwd = pw
	}
	if c.TLS != "" {
		dc.TLSConfig = c.TLS
	}
	// Values are parsed here, dates included (zero dates are a choice of
	// ours, see the README); TIMESTAMP columns arrive in UTC.
	dc.ParseTime = false
	dc.Loc = time.UTC
	if dc.Params == nil {
		dc.Params = map[string]string{}
	}
	if _, ok := dc.Params["time_zone"]; !ok {
		dc.Params["time_zone"] = "'+00:00'"
	}
	if dc.Timeout == 0 {
		dc.Timeout = 10 * time.Second
	}
	dc.Logger = quiet          // errors are returned, not logged
	dc.MultiStatements = false // cellsd splits a cell's statements itself
	dc.InterpolateParams = false
	if dc.ConnectionAttributes == "" {
		dc.ConnectionAttributes = "program_name:cellsd"
	}
	timeout, err := c.Timeout()
	if err != nil {
		return nil, err
	}
	return &Config{ID: c.ID, Driver: dc, ReadOnly: c.IsReadOnly(), MaxConns: DefaultMaxConns, StatementTimeout: timeout}, nil
}

// Connect opens a Source for a connection: NewConfig, then Open.
func Connect(c connectors.Connection) (*Source, error) {
	cfg, err := NewConfig(c)
	if err != nil {
		return nil, err
	}
	return Open(cfg)
}
