package connectors

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/BurntSushi/toml"
)

// Engines cellsd knows. A connection's engine decides the SQL dialect of its
// cells and where they run.
const (
	EngineDuckDB   = "duckdb"
	EnginePostgres = "postgres"
)

// CoreID is the connector id of the embedded DuckDB, always present.
const CoreID = "duckdb-core"

// Connection is one [[db.connectors]] entry. Secrets (Password, a DSN with a
// password) are never printed: use String or Redacted.
type Connection struct {
	ID          string `toml:"id"`
	Engine      string `toml:"engine"`
	Title       string `toml:"title"`
	Host        string `toml:"host"`
	Port        string `toml:"port"`
	Database    string `toml:"database"`
	User        string `toml:"user"`
	Password    string `toml:"password"`
	PasswordEnv string `toml:"password_env"`
	DSN         string `toml:"dsn"`
	// ReadOnly runs Postgres queries in READ ONLY transactions; default true.
	ReadOnly *bool `toml:"read_only"`
	// StatementTimeout bounds each Postgres query on the server ("30s").
	StatementTimeout string `toml:"statement_timeout"`
}

// String names the connection without any secret.
func (c Connection) String() string {
	if c.Title != "" {
		return fmt.Sprintf("%s (%s, %s)", c.ID, c.Title, c.Engine)
	}
	return fmt.Sprintf("%s (%s)", c.ID, c.Engine)
}

// Registry holds the connections a notebook may name.
type Registry struct {
	byID map[string]Connection
}

// NewRegistry returns a registry with the core DuckDB and conns.
func NewRegistry(conns ...Connection) (*Registry, error) {
	r := &Registry{byID: map[string]Connection{
		CoreID: {ID: CoreID, Engine: EngineDuckDB, Title: "Core DuckDB"},
	}}
	for i, c := range conns {
		if c.ID == "" {
			return nil, fmt.Errorf("connector %d: missing id", i+1)
		}
		if _, dup := r.byID[c.ID]; dup {
			return nil, fmt.Errorf("connector %q: defined twice", c.ID)
		}
		switch c.Engine {
		case EngineDuckDB, EnginePostgres:
		case "":
			return nil, fmt.Errorf("connector %q: missing engine", c.ID)
		default:
			return nil, fmt.Errorf("connector %q: unknown engine %q (known: %s, %s)", c.ID, c.Engine, EngineDuckDB, EnginePostgres)
		}
		r.byID[c.ID] = c
	}
	return r, nil
}

// Lookup returns the connection with the given id.
func (r *Registry) Lookup(id string) (Connection, bool) {
	c, ok := r.byID[id]
	return c, ok
}

// IDs returns every connection id, sorted.
func (r *Registry) IDs() []string {
	ids := make([]string, 0, len(r.byID))
	for id := range r.byID {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// LoadFile reads a connections config. Unknown keys inside a
// [[db.connectors]] entry are an error, so a typo does not silently drop a
// setting; other tables belong to the SQLRooms CLI and are ignored.
func LoadFile(path string) (*Registry, error) {
	var cfg struct {
		DB struct {
			Connectors []Connection `toml:"connectors"`
		} `toml:"db"`
	}
	md, err := toml.DecodeFile(path, &cfg)
	if err != nil {
		var perr toml.ParseError
		if errors.As(err, &perr) {
			return nil, fmt.Errorf("%s: line %d, column %d: %s", path, perr.Position.Line, perr.Position.Col, perr.Message)
		}
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var unknown []string
	for _, k := range md.Undecoded() {
		if len(k) > 2 && k[0] == "db" && k[1] == "connectors" {
			unknown = append(unknown, k.String())
		}
	}
	if len(unknown) > 0 {
		return nil, fmt.Errorf("%s: unknown keys: %s", path, strings.Join(unknown, ", "))
	}
	r, err := NewRegistry(cfg.DB.Connectors...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return r, nil
}
