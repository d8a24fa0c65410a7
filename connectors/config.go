package connectors

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/cellsd/cellsd/cells"
	"github.com/cellsd/cellsd/internal/limits"
)

// Engines cellsd knows. A connection's engine decides the SQL dialect of its
// cells and where they run.
const (
	EngineDuckDB   = "duckdb"
	EnginePostgres = "postgres"
	// EngineBridge runs cells through a remote SQLRooms DB bridge (another
	// cellsd, or the SQLRooms CLI) over HTTP.
	EngineBridge = "bridge"
	// EngineMySQL runs cells on MySQL or MariaDB (connectors/mysql).
	EngineMySQL = "mysql"
)

// Engines returns the engines cellsd runs, sorted. An entry of another
// engine (the SQLRooms CLI's snowflake, say) is kept in the registry but no
// cell can run on it.
func Engines() []string { return []string{EngineBridge, EngineDuckDB, EngineMySQL, EnginePostgres} }

// CoreID is the connector id of the embedded DuckDB, always present.
const CoreID = "duckdb-core"

// Connection is one [[db.connectors]] entry. Secrets (Password, a DSN with a
// password, Token) are never printed: String and GoString leave them out.
// The TOML key of each field is in the comment; setField maps them.
type Connection struct {
	ID          string // id
	Engine      string // engine
	Title       string // title
	Host        string // host
	Port        string // port: a TOML string or integer
	Database    string // database
	User        string // user
	Password    string // password
	PasswordEnv string // password_env
	DSN         string // dsn
	// ReadOnly (read_only) runs Postgres queries in READ ONLY transactions;
	// default true.
	ReadOnly *bool
	// StatementTimeout (statement_timeout) bounds each Postgres query on the
	// server ("30s").
	StatementTimeout string

	// URL (url) is a bridge connection's base URL (http or https); the
	// bridge endpoints are under {URL}/api/db/.
	URL string
	// RemoteID (connection_id) is the id of the connection on the bridge
	// that the cells run on.
	RemoteID string
	// Token (token), or the environment variable TokenEnv (token_env)
	// names, is sent as "Authorization: Bearer <token>" to the bridge.
	Token    string
	TokenEnv string
	// Dialect (dialect) is the SQL dialect of the bridge's connection
	// ("postgres", the default, or "duckdb"): how cellsd parses its cells.
	Dialect string
	// TLS (tls) asks a MySQL connection for TLS: "true" (verified),
	// "skip-verify", "preferred" or "false" (the default).
	TLS string
	// Workers (workers = true) says the connection's cells run on outside
	// workers (cellsd worker), which hold its credentials: the entry names
	// the connection and holds none of them.
	Workers bool
	// Refresh (refresh) is the refresh policy of the connection's cells
	// that set none of their own; nil means on-change. UniqueKey
	// (unique_key) is their incremental refresh's upsert key.
	Refresh   *cells.Refresh
	UniqueKey string
}

// ErrSecretMissing is wrapped when password_env or token_env names an
// environment variable that is not set.
var ErrSecretMissing = errors.New("secret variable not set")

// PasswordSecret returns a Postgres connection's password: password, else
// the value of the variable password_env names ("" when neither is given).
func (c Connection) PasswordSecret() (string, error) {
	if c.Password != "" || c.PasswordEnv == "" {
		return c.Password, nil
	}
	return lookupSecret("password_env", c.PasswordEnv)
}

// TokenSecret returns a bridge connection's token: the value of the
// variable token_env names, else token.
func (c Connection) TokenSecret() (string, error) {
	if c.TokenEnv == "" {
		return c.Token, nil
	}
	return lookupSecret("token_env", c.TokenEnv)
}

func lookupSecret(key, name string) (string, error) {
	v, ok := os.LookupEnv(name)
	if !ok {
		return "", fmt.Errorf("%w: %s %s", ErrSecretMissing, key, name)
	}
	return v, nil
}

// UnsetSecretVar returns the environment variable the connection reads its
// secret from (token_env, password_env) when that variable is not set, or
// "" when there is none or it is set.
func (c Connection) UnsetSecretVar() string {
	if _, err := c.TokenSecret(); err != nil {
		return c.TokenEnv
	}
	if _, err := c.PasswordSecret(); err != nil {
		return c.PasswordEnv
	}
	return ""
}

// SQLDialect is the dialect a cell on this connection is parsed in:
// EnginePostgres, EngineMySQL or EngineDuckDB.
func (c Connection) SQLDialect() string {
	switch c.Engine {
	case EnginePostgres, EngineMySQL:
		return c.Engine
	case EngineBridge:
		if c.Dialect == "" {
			return EnginePostgres
		}
		return c.Dialect
	}
	return EngineDuckDB
}

// String names the connection without any secret.
// IsReadOnly reports whether the connection's queries run read-only:
// read_only, true unless the file says false.
func (c Connection) IsReadOnly() bool { return c.ReadOnly == nil || *c.ReadOnly }

// Timeout is statement_timeout as a duration; zero when unset.
func (c Connection) Timeout() (time.Duration, error) {
	if c.StatementTimeout == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(c.StatementTimeout)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("connection %s: statement_timeout %q: want a duration like 30s", c.ID, c.StatementTimeout)
	}
	return d, nil
}

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
	// unsupported holds the entries whose engine cellsd does not run.
	unsupported map[string]Connection
	warnings    []string
}

// NewRegistry returns a registry with the core DuckDB and conns. A
// connection whose engine cellsd does not run is kept apart (see
// Unsupported) with a warning, so that a SQLRooms CLI config loads whole.
func NewRegistry(conns ...Connection) (*Registry, error) {
	r := &Registry{
		byID:        map[string]Connection{CoreID: {ID: CoreID, Engine: EngineDuckDB, Title: "Core DuckDB"}},
		unsupported: map[string]Connection{},
	}
	for i, c := range conns {
		if c.ID == "" {
			return nil, fmt.Errorf("connector %d: missing id", i+1)
		}
		_, dup := r.byID[c.ID]
		if _, other := r.unsupported[c.ID]; dup || other {
			return nil, fmt.Errorf("connector %q: defined twice", c.ID)
		}
		switch c.Engine {
		case EngineDuckDB, EnginePostgres, EngineMySQL:
			if err := noBridgeKeys(c); err != nil {
				return nil, err
			}
			if err := validateTLS(c); err != nil {
				return nil, err
			}
			if err := validateWorkers(c); err != nil {
				return nil, err
			}
			if c.Engine == EngineDuckDB && (c.Refresh != nil || c.UniqueKey != "") {
				return nil, fmt.Errorf("connector %q: refresh, unique_key: only for external connections (a DuckDB result is computed, not fetched)", c.ID)
			}
		case EngineBridge:
			if c.Workers {
				return nil, fmt.Errorf("connector %q: workers: only for engine postgres or mysql", c.ID)
			}
			if err := validateBridge(c); err != nil {
				return nil, err
			}
		case "":
			return nil, fmt.Errorf("connector %q: missing engine", c.ID)
		default:
			r.unsupported[c.ID] = c
			r.warnings = append(r.warnings, fmt.Sprintf("connector %q: engine %q is not supported by cellsd (it runs %s); cells that name it will not run",
				c.ID, c.Engine, strings.Join(Engines(), ", ")))
			continue
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
	case "", EnginePostgres, EngineDuckDB, EngineMySQL:
	default:
		return fmt.Errorf("connector %q: unknown dialect %q (known: %s, %s, %s)", c.ID, c.Dialect, EngineDuckDB, EngineMySQL, EnginePostgres)
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

// validateTLS checks the tls key, a setting of MySQL connections only.
func validateTLS(c Connection) error {
	if c.TLS == "" {
		return nil
	}
	if c.Engine != EngineMySQL {
		return fmt.Errorf("connector %q: tls: only for engine mysql (a Postgres DSN sets sslmode)", c.ID)
	}
	switch c.TLS {
	case "true", "false", "skip-verify", "preferred":
		return nil
	}
	return fmt.Errorf("connector %q: tls %q: want true, false, skip-verify or preferred", c.ID, c.TLS)
}

// validateWorkers checks a workers = true entry: a Postgres or MySQL
// connection named for outside workers, without the credentials and
// addresses only those workers hold.
func validateWorkers(c Connection) error {
	if !c.Workers {
		return nil
	}
	if c.Engine == EngineDuckDB {
		return fmt.Errorf("connector %q: workers: only for engine postgres or mysql", c.ID)
	}
	var set []string
	for _, f := range []struct{ key, v string }{
		{"host", c.Host}, {"port", c.Port}, {"database", c.Database}, {"user", c.User}, {"password", c.Password},
		{"password_env", c.PasswordEnv}, {"dsn", c.DSN}, {"statement_timeout", c.StatementTimeout}, {"tls", c.TLS},
	} {
		if f.v != "" {
			set = append(set, f.key)
		}
	}
	if len(set) > 0 {
		return fmt.Errorf("connector %q: %s: not a setting of a workers = true connection (the workers' own connections file has them)", c.ID, strings.Join(set, ", "))
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

// Lookup returns the connection with the given id, if cellsd runs its
// engine.
func (r *Registry) Lookup(id string) (Connection, bool) {
	c, ok := r.byID[id]
	return c, ok
}

// Unsupported returns the connection with the given id whose engine cellsd
// does not run: an entry the config holds for the SQLRooms CLI.
func (r *Registry) Unsupported(id string) (Connection, bool) {
	c, ok := r.unsupported[id]
	return c, ok
}

// IDs returns the id of every connection cellsd runs, sorted.
func (r *Registry) IDs() []string {
	ids := make([]string, 0, len(r.byID))
	for id := range r.byID {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// Warnings are problems that do not stop loading, such as an entry whose
// engine cellsd does not run, in file order.
func (r *Registry) Warnings() []string { return slices.Clone(r.warnings) }

// LoadFile reads a connections config: the [[db.connectors]] tables of the
// SQLRooms CLI's TOML; other tables are the CLI's and are ignored. An entry
// of an engine cellsd runs must use only the keys cellsd knows, so that a
// typo does not silently drop a setting; an entry of another engine keeps
// its id, engine and title, and its other keys are not checked. Errors name
// the file, the entry and the key.
func LoadFile(path string) (*Registry, error) { return LoadFileLimit(path, 0) }

// LoadFileLimit is LoadFile refusing a file longer than limit bytes
// (limits.DefaultFileSize when limit <= 0) or nested deeper than
// limits.MaxDepth, before the TOML parser sees it.
func LoadFileLimit(path string, limit int64) (*Registry, error) {
	var cfg struct {
		DB struct {
			Connectors []map[string]any `toml:"connectors"`
		} `toml:"db"`
	}
	data, err := limits.ReadFile(path, limit)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if err := limits.TOMLDepth(data); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if _, err := toml.Decode(string(data), &cfg); err != nil {
		var perr toml.ParseError
		if errors.As(err, &perr) {
			return nil, fmt.Errorf("%s: line %d, column %d: %s", path, perr.Position.Line, perr.Position.Col, perr.Message)
		}
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	conns := make([]Connection, 0, len(cfg.DB.Connectors))
	for i, t := range cfg.DB.Connectors {
		c, err := decodeEntry(i, t)
		if uk, ok := err.(*unknownKeysError); ok {
			return nil, fmt.Errorf("%s: %w%s", path, err, uk.hints(data, i))
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		conns = append(conns, c)
	}
	r, err := NewRegistry(conns...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	for i, w := range r.warnings {
		r.warnings[i] = path + ": " + w
	}
	return r, nil
}

// decodeEntry turns the i-th [[db.connectors]] table into a Connection.
// Which keys count depends on the engine, so id and engine come first.
func decodeEntry(i int, t map[string]any) (Connection, error) {
	var c Connection
	entry := fmt.Sprintf("connector %d", i+1)
	for _, k := range []string{"id", "engine"} {
		if v, ok := t[k]; ok {
			if err := c.setField(k, v); err != nil {
				return c, fmt.Errorf("%s: %s: %w", entry, k, err)
			}
		}
	}
	if c.ID != "" {
		entry = fmt.Sprintf("connector %q", c.ID)
	}
	if c.Engine == "" || !slices.Contains(Engines(), c.Engine) {
		// The SQLRooms CLI's entry (or one NewRegistry rejects for its
		// missing engine): its keys are the CLI's business.
		if title, ok := t["title"].(string); ok {
			c.Title = title
		}
		return c, nil
	}
	keys := make([]string, 0, len(t))
	for k := range t {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var unknown []string
	for _, k := range keys {
		err := c.setField(k, t[k])
		switch {
		case errors.Is(err, errUnknownKey):
			unknown = append(unknown, k)
		case err != nil:
			return c, fmt.Errorf("%s: %s: %w", entry, k, err)
		}
	}
	if len(unknown) > 0 {
		return c, &unknownKeysError{entry: entry, keys: unknown}
	}
	return c, nil
}

var errUnknownKey = errors.New("unknown key")

// setField sets the field of TOML key k to v, a value as the TOML decoder
// gives it. port may be a string or an integer, as the SQLRooms CLI takes
// it; every other key but read_only and workers is a string.
func (c *Connection) setField(k string, v any) error {
	var dst *string
	switch k {
	case "id":
		dst = &c.ID
	case "engine":
		dst = &c.Engine
	case "title":
		dst = &c.Title
	case "host":
		dst = &c.Host
	case "port":
		if n, ok := v.(int64); ok {
			if n < 1 || n > 65535 {
				return fmt.Errorf("%d is not a TCP port", n)
			}
			c.Port = strconv.FormatInt(n, 10)
			return nil
		}
		if _, ok := v.(string); !ok {
			return fmt.Errorf("want a string or an integer, got %s", tomlType(v))
		}
		dst = &c.Port
	case "database":
		dst = &c.Database
	case "user":
		dst = &c.User
	case "password":
		dst = &c.Password
	case "password_env":
		dst = &c.PasswordEnv
	case "dsn":
		dst = &c.DSN
	case "read_only":
		b, ok := v.(bool)
		if !ok {
			return fmt.Errorf("want true or false, got %s", tomlType(v))
		}
		c.ReadOnly = &b
		return nil
	case "workers":
		b, ok := v.(bool)
		if !ok {
			return fmt.Errorf("want true or false, got %s", tomlType(v))
		}
		c.Workers = b
		return nil
	case "statement_timeout":
		dst = &c.StatementTimeout
	case "refresh":
		p, ok := v.(string)
		if !ok {
			return fmt.Errorf("want a string, got %s", tomlType(v))
		}
		r, err := cells.ParseRefresh(p)
		if err != nil {
			return err
		}
		c.Refresh = &r
		return nil
	case "unique_key":
		dst = &c.UniqueKey
	case "url":
		dst = &c.URL
	case "connection_id":
		dst = &c.RemoteID
	case "token":
		dst = &c.Token
	case "token_env":
		dst = &c.TokenEnv
	case "dialect":
		dst = &c.Dialect
	case "tls":
		if b, ok := v.(bool); ok {
			c.TLS = strconv.FormatBool(b)
			return nil
		}
		dst = &c.TLS
	default:
		return errUnknownKey
	}
	s, ok := v.(string)
	if !ok {
		return fmt.Errorf("want a string, got %s", tomlType(v))
	}
	*dst = s
	return nil
}

// tomlType names the TOML type of a decoded value, for messages that must
// not quote it (it may be a secret).
func tomlType(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case int64:
		return "an integer"
	case float64:
		return "a float"
	case bool:
		return "a boolean"
	case []any, []map[string]any:
		return "an array"
	case map[string]any:
		return "a table"
	}
	return "a date or time"
}
