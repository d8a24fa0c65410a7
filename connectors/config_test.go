package connectors_test

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cellsd/cellsd/connectors"
	"github.com/cellsd/cellsd/connectors/postgres"
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
		{"UnknownDialect", func(c *connectors.Connection) { c.Dialect = "oracle" }, `connector "b": unknown dialect "oracle" (known: duckdb, mysql, postgres)`},
		{"PostgresKeys", func(c *connectors.Connection) { c.Host, c.PasswordEnv = "h", "PW" }, `connector "b": host, password_env: not a setting of engine bridge`},
		{"ReadOnly", func(c *connectors.Connection) { c.ReadOnly = new(bool) }, `connector "b": read_only: not a setting of engine bridge`},
		{"BridgeKeysOnPostgres", func(c *connectors.Connection) { c.Engine, c.URL = connectors.EnginePostgres, "http://x" },
			`connector "b": url, connection_id: only for engine bridge`},
		{"DialectOnDuckDB", func(c *connectors.Connection) {
			*c = connectors.Connection{ID: "b", Engine: connectors.EngineDuckDB, Dialect: "postgres"}
		}, `connector "b": dialect: only for engine bridge`},
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
	if err == nil || !strings.Contains(err.Error(), `connections.toml: connector "remote": unknown keys: connectionId`) {
		t.Fatalf("error %v, want the file, the entry and the unknown key named", err)
	}
}

// sqlroomsConfig is the SQLRooms CLI's example config: its own tables, a
// Postgres entry with every key the CLI defines for postgres, and Snowflake
// entries, one with every key the CLI defines for snowflake.
var sqlroomsConfig = filepath.Join("..", "fixtures", "sqlrooms-cli.toml")

func TestLoadFile_SQLRoomsConfig(t *testing.T) {
	reg, err := connectors.LoadFile(sqlroomsConfig)
	if err != nil {
		t.Fatalf("the SQLRooms CLI's example config does not load: %v", err)
	}
	t.Run("PostgresLookup", func(t *testing.T) {
		c, ok := reg.Lookup("postgres-local")
		if !ok {
			t.Fatal("postgres-local not found")
		}
		want := connectors.Connection{ID: "postgres-local", Engine: "postgres", Title: "Postgres Local",
			Host: "localhost", Port: "5432", Database: "postgres", User: "postgres", Password: "postgres"}
		if c != want {
			t.Errorf("postgres-local = %+v, want %+v", c, want)
		}
		cfg, err := postgres.NewConfig(c)
		if err != nil {
			t.Fatal(err)
		}
		cc := cfg.Pool.ConnConfig
		if cc.Host != "localhost" || cc.Port != 5432 || cc.Database != "postgres" || cc.User != "postgres" || cc.Password != "postgres" {
			t.Errorf("pool config %s:%d/%s user %s", cc.Host, cc.Port, cc.Database, cc.User)
		}
	})
	t.Run("SnowflakeKept", func(t *testing.T) {
		for id, title := range map[string]string{"snowflake-prod": "Snowflake Prod", "snowflake-dev": "Snowflake Dev"} {
			if _, ok := reg.Lookup(id); ok {
				t.Errorf("Lookup(%q) found a connection cellsd cannot run", id)
			}
			c, ok := reg.Unsupported(id)
			if !ok || c.Engine != "snowflake" || c.Title != title {
				t.Errorf("Unsupported(%q) = %+v, %v; want the snowflake entry", id, c, ok)
			}
		}
		if got, want := reg.IDs(), []string{"duckdb-core", "postgres-local"}; !slices.Equal(got, want) {
			t.Errorf("IDs() = %q, want %q", got, want)
		}
	})
	t.Run("Warnings", func(t *testing.T) {
		w := reg.Warnings()
		if len(w) != 2 {
			t.Fatalf("warnings %q, want one per snowflake entry", w)
		}
		want := `sqlrooms-cli.toml: connector "snowflake-prod": engine "snowflake" is not supported by cellsd (it runs bridge, duckdb, mysql, postgres)`
		if !strings.Contains(w[0], want) {
			t.Errorf("warning %q, want it to contain %q", w[0], want)
		}
		if strings.Contains(strings.Join(w, " "), "your-password") {
			t.Errorf("a password is in the warnings: %q", w)
		}
	})
}

func TestLoadFile_Port(t *testing.T) {
	for _, tc := range []struct {
		name, port, want string
	}{
		{"Integer", "5433", "5433"},
		{"String", `"5433"`, "5433"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reg, err := loadTOML(t, "[[db.connectors]]\nid = \"pg\"\nengine = \"postgres\"\nhost = \"127.0.0.1\"\nport = "+tc.port+"\n")
			if err != nil {
				t.Fatal(err)
			}
			c, _ := reg.Lookup("pg")
			if c.Port != tc.want {
				t.Errorf("Port = %q, want %q", c.Port, tc.want)
			}
			cfg, err := postgres.NewConfig(c)
			if err != nil {
				t.Fatal(err)
			}
			if got := cfg.Pool.ConnConfig.Port; got != 5433 {
				t.Errorf("pool port %d, want 5433", got)
			}
		})
	}
}

// TestLoadFile_BadValue checks that a value of the wrong type names the
// file, the entry and the key, and never quotes the value.
func TestLoadFile_BadValue(t *testing.T) {
	for _, tc := range []struct {
		name, entry, want string
	}{
		{"PortBoolean", `port = true`, `connections.toml: connector "pg": port: want a string or an integer, got a boolean`},
		{"PortFloat", `port = 5432.5`, `connector "pg": port: want a string or an integer, got a float`},
		{"PortRange", `port = 70000`, `connector "pg": port: 70000 is not a TCP port`},
		{"PasswordInteger", `password = 123456789`, `connector "pg": password: want a string, got an integer`},
		{"ReadOnlyString", `read_only = "no"`, `connector "pg": read_only: want true or false, got a string`},
		{"TitleTable", `title = {x = "y"}`, `connector "pg": title: want a string, got a table`},
		{"RefreshUnknown", `refresh = "daily"`, `connector "pg": refresh: unknown refresh policy "daily"`},
		{"RefreshBadTTL", `refresh = "ttl:-1m"`, `connector "pg": refresh: refresh "ttl:-1m": want a positive duration`},
		{"RefreshNotString", `refresh = 10`, `connector "pg": refresh: want a string, got an integer`},
		{"UnknownKeys", "hots = \"h\"\nschema = \"public\"", `connector "pg": unknown keys: hots, schema`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := loadTOML(t, "[[db.connectors]]\nid = \"pg\"\nengine = \"postgres\"\n"+tc.entry+"\n")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to contain %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "123456789") {
				t.Errorf("the value is in the error: %v", err)
			}
		})
	}
	t.Run("EntryWithoutID", func(t *testing.T) {
		_, err := loadTOML(t, "[[db.connectors]]\nid = \"a\"\nengine = \"duckdb\"\n[[db.connectors]]\nengine = \"postgres\"\nport = false\n")
		if want := `connections.toml: connector 2: port: want a string or an integer, got a boolean`; err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("error %v, want it to contain %q", err, want)
		}
	})
	t.Run("UnsupportedEngineKeysUnchecked", func(t *testing.T) {
		reg, err := loadTOML(t, "[[db.connectors]]\nid = \"bq\"\nengine = \"bigquery\"\nport = true\nproject = \"p\"\n")
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := reg.Unsupported("bq"); !ok {
			t.Error("bq not kept")
		}
	})
}

func TestNewRegistry_UnsupportedEngine(t *testing.T) {
	reg, err := connectors.NewRegistry(
		connectors.Connection{ID: "b", Engine: "bridges"},
		connectors.Connection{ID: "pg", Engine: connectors.EnginePostgres},
	)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := reg.Lookup("b"); ok {
		t.Error("Lookup found a connection of an engine cellsd does not run")
	}
	if c, ok := reg.Unsupported("b"); !ok || c.Engine != "bridges" {
		t.Errorf("Unsupported(b) = %+v, %v", c, ok)
	}
	if w := reg.Warnings(); len(w) != 1 || !strings.Contains(w[0], `connector "b": engine "bridges" is not supported by cellsd (it runs bridge, duckdb, mysql, postgres)`) {
		t.Errorf("warnings %q", w)
	}
	if _, err := connectors.NewRegistry(connectors.Connection{ID: "x", Engine: "snowflake"}, connectors.Connection{ID: "x", Engine: "postgres"}); err == nil ||
		!strings.Contains(err.Error(), `connector "x": defined twice`) {
		t.Errorf("an id used by an unsupported and a supported entry: error %v", err)
	}
}

// TestLoadFile_Workers: a workers = true entry names a connection for
// outside workers; credentials and addresses in it are refused by name.
func TestLoadFile_Workers(t *testing.T) {
	reg, err := loadTOML(t, "[[db.connectors]]\nid = \"pg\"\nengine = \"postgres\"\ntitle = \"Warehouse\"\nworkers = true\nread_only = false\n")
	if err != nil {
		t.Fatal(err)
	}
	c, ok := reg.Lookup("pg")
	if !ok || !c.Workers || c.IsReadOnly() || c.UnsetSecretVar() != "" {
		t.Fatalf("connection %+v", c)
	}
	for _, tc := range []struct{ name, toml, want string }{
		{"Credentials", "id = \"pg\"\nengine = \"postgres\"\nworkers = true\nhost = \"db\"\npassword_env = \"PGPASSWORD\"",
			`connections.toml: connector "pg": host, password_env: not a setting of a workers = true connection (the workers' own connections file has them)`},
		{"DSN", "id = \"pg\"\nengine = \"postgres\"\nworkers = true\ndsn = \"postgres://u:secret99@h/d\"",
			`connector "pg": dsn: not a setting of a workers = true connection`},
		{"DuckDB", "id = \"d\"\nengine = \"duckdb\"\nworkers = true", `connector "d": workers: only for engine postgres or mysql`},
		{"Bridge", "id = \"b\"\nengine = \"bridge\"\nurl = \"http://h\"\nconnection_id = \"x\"\nworkers = true", `connector "b": workers: only for engine postgres or mysql`},
		{"NotBool", "id = \"pg\"\nengine = \"postgres\"\nworkers = \"yes\"", `connector "pg": workers: want true or false, got a string`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := loadTOML(t, "[[db.connectors]]\n"+tc.toml+"\n")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to contain %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "secret99") {
				t.Errorf("the secret is in the error: %v", err)
			}
		})
	}
}

// TestLoadFile_Refresh reads a connection's refresh policy and unique
// key, and refuses one on a DuckDB connection.
func TestLoadFile_Refresh(t *testing.T) {
	reg, err := loadTOML(t, "[[db.connectors]]\nid = \"pg\"\nengine = \"postgres\"\nrefresh = \"incremental:ts\"\nunique_key = \"id\"\n")
	if err != nil {
		t.Fatal(err)
	}
	c, _ := reg.Lookup("pg")
	if c.Refresh == nil || c.Refresh.String() != "incremental:ts" || c.UniqueKey != "id" {
		t.Errorf("refresh %v, unique_key %q; want incremental:ts and id", c.Refresh, c.UniqueKey)
	}
	_, err = loadTOML(t, "[[db.connectors]]\nid = \"local\"\nengine = \"duckdb\"\nrefresh = \"manual\"\n")
	if want := `connector "local": refresh, unique_key: only for external connections`; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("error %v, want it to contain %q", err, want)
	}
}
