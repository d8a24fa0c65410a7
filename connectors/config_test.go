package connectors_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cellsd/cellsd/connectors"
)

func loadTOML(t *testing.T, text string) (*connectors.Registry, error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "connections.toml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return connectors.LoadFile(path)
}

func TestLoadFile_Bridge(t *testing.T) {
	reg, err := loadTOML(t, `
[[db.connectors]]
id = "remote"
engine = "bridge"
title = "Remote warehouse"
url = "https://bridge.example.com:8443/"
connection_id = "warehouse"
token_env = "CELLSD_BRIDGE_TOKEN"

[[db.connectors]]
id = "lake"
engine = "bridge"
url = "http://127.0.0.1:4000"
connection_id = "duck"
token = "t0ken-Secret"
dialect = "duckdb"
`)
	if err != nil {
		t.Fatal(err)
	}
	c, ok := reg.Lookup("remote")
	if !ok {
		t.Fatal("remote not loaded")
	}
	if c.Engine != connectors.EngineBridge || c.URL != "https://bridge.example.com:8443/" || c.RemoteID != "warehouse" || c.TokenEnv != "CELLSD_BRIDGE_TOKEN" {
		t.Errorf("remote: %+v", c)
	}
	if got := c.SQLDialect(); got != connectors.EnginePostgres {
		t.Errorf("remote dialect %q, want the default postgres", got)
	}
	lake, _ := reg.Lookup("lake")
	if got := lake.SQLDialect(); got != connectors.EngineDuckDB {
		t.Errorf("lake dialect %q, want duckdb", got)
	}
	for _, s := range []string{lake.String(), fmt.Sprintf("%v %+v %#v %s", lake, lake, lake, lake)} {
		if strings.Contains(s, "t0ken-Secret") {
			t.Errorf("the token is printed: %s", s)
		}
	}
}

func TestSQLDialect(t *testing.T) {
	for _, tc := range []struct {
		c    connectors.Connection
		want string
	}{
		{connectors.Connection{Engine: connectors.EngineDuckDB}, connectors.EngineDuckDB},
		{connectors.Connection{Engine: connectors.EnginePostgres}, connectors.EnginePostgres},
		{connectors.Connection{Engine: connectors.EngineBridge}, connectors.EnginePostgres},
		{connectors.Connection{Engine: connectors.EngineBridge, Dialect: "duckdb"}, connectors.EngineDuckDB},
	} {
		if got := tc.c.SQLDialect(); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.c, got, tc.want)
		}
	}
}

func TestNewRegistry_BridgeInvalid(t *testing.T) {
	ok := connectors.Connection{ID: "b", Engine: connectors.EngineBridge, URL: "http://127.0.0.1:4000", RemoteID: "pg"}
	for _, tc := range []struct {
		name   string
		mutate func(*connectors.Connection)
		want   string
	}{
		{"MissingURL", func(c *connectors.Connection) { c.URL = "" }, `connector "b": engine bridge needs url`},
		{"RelativeURL", func(c *connectors.Connection) { c.URL = "127.0.0.1:4000" }, `connector "b": url "127.0.0.1:4000": want an absolute http or https URL`},
		{"OtherScheme", func(c *connectors.Connection) { c.URL = "ftp://host/x" }, `want an absolute http or https URL`},
		{"Query", func(c *connectors.Connection) { c.URL = "http://host/?a=1" }, `want a base URL without query or fragment`},
		{"Credentials", func(c *connectors.Connection) { c.URL = "http://u:pw-Secret@host/" }, `connector "b": url must not hold credentials; use token or token_env`},
		{"MissingConnectionID", func(c *connectors.Connection) { c.RemoteID = "" }, `connector "b": engine bridge needs connection_id`},
		{"TokenTwice", func(c *connectors.Connection) { c.Token, c.TokenEnv = "x", "Y" }, `connector "b": token and token_env are exclusive`},
		{"UnknownDialect", func(c *connectors.Connection) { c.Dialect = "mysql" }, `connector "b": unknown dialect "mysql" (known: duckdb, postgres)`},
		{"PostgresKeys", func(c *connectors.Connection) { c.Host, c.PasswordEnv = "h", "PW" }, `connector "b": host, password_env: not a setting of engine bridge`},
		{"ReadOnly", func(c *connectors.Connection) { c.ReadOnly = new(bool) }, `connector "b": read_only: not a setting of engine bridge`},
		{"BridgeKeysOnPostgres", func(c *connectors.Connection) { c.Engine, c.URL = connectors.EnginePostgres, "http://x" },
			`connector "b": url, connection_id: only for engine bridge`},
		{"DialectOnDuckDB", func(c *connectors.Connection) {
			*c = connectors.Connection{ID: "b", Engine: connectors.EngineDuckDB, Dialect: "postgres"}
		}, `connector "b": dialect: only for engine bridge`},
		{"UnknownEngine", func(c *connectors.Connection) { c.Engine = "bridges" }, `connector "b": unknown engine "bridges" (known: bridge, duckdb, postgres)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := ok
			tc.mutate(&c)
			_, err := connectors.NewRegistry(c)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to contain %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "Secret") {
				t.Errorf("a secret is in the error: %v", err)
			}
		})
	}
	if _, err := connectors.NewRegistry(ok); err != nil {
		t.Errorf("valid bridge connection: %v", err)
	}
}

func TestLoadFile_BridgeUnknownKey(t *testing.T) {
	_, err := loadTOML(t, `
[[db.connectors]]
id = "remote"
engine = "bridge"
url = "http://127.0.0.1:4000"
connectionId = "warehouse"
`)
	if err == nil || !strings.Contains(err.Error(), "unknown keys: db.connectors.connectionId") {
		t.Fatalf("error %v, want the unknown key named", err)
	}
}
