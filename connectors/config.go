package connectors

import (
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strings"

	"github.com/BurntSushi/toml"
)

// Engines cellsd knows. A connection's engine decides the SQL dialect of its
// cells and where they run.
const (
	EngineDuckDB   = "duckdb"
	EnginePostgres = "postgres"
	// EngineBridge runs cells through a remote SQLRooms DB bridge (another
	// cellsd, or the SQLRooms CLI) over HTTP.
	EngineBridge = "bridge"
)

// CoreID is the connector id of the embedded DuckDB, always present.
const CoreID = "duckdb-core"

// Connection is one [[db.connectors]] entry. Secrets (Password, a DSN with a
// password, Token) are never printed: String and GoString leave them out.
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

	// URL is a bridge connection's base URL (http or https); the bridge
	// endpoints are under {URL}/api/db/.
	URL string `toml:"url"`
	// RemoteID is the id of the connection on the bridge that the cells run
	// on.
	RemoteID string `toml:"connection_id"`
	// Token, or the environment variable TokenEnv names, is sent as
	// "Authorization: Bearer <token>" to the bridge.
	Token    string `toml:"token"`
	TokenEnv string `toml:"token_env"`
	// Dialect is the SQL dialect of the bridge's connection ("postgres",
	// the default, or "duckdb"): how cellsd parses its cells.
	Dialect string `toml:"dialect"`
}

// SQLDialect is the dialect a cell on this connection is parsed in:
// EnginePostgres or EngineDuckDB.
func (c Connection) SQLDialect() string {
	switch c.Engine {
	case EnginePostgres:
		return EnginePostgres
	case EngineBridge:
		if c.Dialect == "" {
			return EnginePostgres
		}
		return c.Dialect
	}
	return EngineDuckDB
}

// String names the connection without any secret.
func (c Connection) String() string {
	if c.Title != "" {
		return fmt.Sprintf("%s (%s, %s)", c.ID, c.Title, c.Engine)
	}
	return fmt.Sprintf("%s (%s)", c.ID, c.Engine)
}

// GoString is String, so that %#v does not print secrets either.
func (c Connection) GoString() string { return "connectors.Connection{" + c.String() + "}" }

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
			if err := noBridgeKeys(c); err != nil {
				return nil, err
			}
		case EngineBridge:
			if err := validateBridge(c); err != nil {
				return nil, err
			}
		case "":
			return nil, fmt.Errorf("connector %q: missing engine", c.ID)
		default:
			return nil, fmt.Errorf("connector %q: unknown engine %q (known: %s, %s, %s)", c.ID, c.Engine, EngineBridge, EngineDuckDB, EnginePostgres)
		}
		r.byID[c.ID] = c
	}
	return r, nil
}

// validateBridge checks a bridge connection's settings.
func validateBridge(c Connection) error {
	if c.URL == "" {
		return fmt.Errorf("connector %q: engine bridge needs url", c.ID)
	}
	u, err := url.Parse(c.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("connector %q: url %q: want an absolute http or https URL", c.ID, redactURL(c.URL))
	}
	if u.User != nil {
		return fmt.Errorf("connector %q: url must not hold credentials; use token or token_env", c.ID)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("connector %q: url %q: want a base URL without query or fragment", c.ID, redactURL(c.URL))
	}
	if c.RemoteID == "" {
		return fmt.Errorf("connector %q: engine bridge needs connection_id (the connection's id on the bridge)", c.ID)
	}
	if c.Token != "" && c.TokenEnv != "" {
		return fmt.Errorf("connector %q: token and token_env are exclusive", c.ID)
	}
	switch c.Dialect {
	case "", EnginePostgres, EngineDuckDB:
	default:
		return fmt.Errorf("connector %q: unknown dialect %q (known: %s, %s)", c.ID, c.Dialect, EngineDuckDB, EnginePostgres)
	}
	var other []string
	for _, f := range []struct{ key, v string }{
		{"host", c.Host}, {"port", c.Port}, {"database", c.Database}, {"user", c.User},
		{"password", c.Password}, {"password_env", c.PasswordEnv}, {"dsn", c.DSN}, {"statement_timeout", c.StatementTimeout},
	} {
		if f.v != "" {
			other = append(other, f.key)
		}
	}
	if c.ReadOnly != nil {
		other = append(other, "read_only")
	}
	if len(other) > 0 {
		return fmt.Errorf("connector %q: %s: not a setting of engine bridge (the bridge's own connection has them)", c.ID, strings.Join(other, ", "))
	}
	return nil
}

// noBridgeKeys rejects bridge settings on a connection of another engine.
func noBridgeKeys(c Connection) error {
	var set []string
	for _, f := range []struct{ key, v string }{
		{"url", c.URL}, {"connection_id", c.RemoteID}, {"token", c.Token}, {"token_env", c.TokenEnv}, {"dialect", c.Dialect},
	} {
		if f.v != "" {
			set = append(set, f.key)
		}
	}
	if len(set) > 0 {
		return fmt.Errorf("connector %q: %s: only for engine bridge", c.ID, strings.Join(set, ", "))
	}
	return nil
}

// redactURL is a URL fit for messages: without credentials, in case the
// URL does not parse.
func redactURL(s string) string {
	if u, err := url.Parse(s); err == nil {
		return u.Redacted()
	}
	if i := strings.LastIndex(s, "@"); i >= 0 {
		if j := strings.Index(s, "://"); j >= 0 && j < i {
			return s[:j+3] + "xxxxx" + s[i:]
		}
		return "xxxxx" + s[i:]
	}
	return s
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
