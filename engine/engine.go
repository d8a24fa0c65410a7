package engine

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"

	"github.com/duckdb/duckdb-go/v2"

	"github.com/cellsd/cellsd/connectors"
	"github.com/cellsd/cellsd/engine/materialize"
	"github.com/cellsd/cellsd/sqlparse"
)

// Strategy says where results are materialized.
type Strategy string

const (
	// AttachedEphemeral puts results in an attached in-memory database,
	// __sqlrooms_ephemeral: nothing materialized survives a restart.
	AttachedEphemeral Strategy = "attached_ephemeral"
	// SchemaStrategy puts results in the core database.
	SchemaStrategy Strategy = "schema"
)

// EphemeralDB is the name of the attached database that holds results under
// the AttachedEphemeral strategy.
const EphemeralDB = "__sqlrooms_ephemeral"

// Config configures an Engine.
type Config struct {
	// DBPath is the core DuckDB database file; empty means in memory.
	DBPath string
	// ReadOnlyDB attaches DBPath read-only to an in-memory DuckDB instead
	// of opening it, so several engines in one process (the daemon's
	// sessions) share one database file. It needs AttachedEphemeral.
	ReadOnlyDB bool
	// Materialization defaults to AttachedEphemeral.
	Materialization Strategy
	// Connections resolves connectorIds; nil means only the core DuckDB.
	Connections *connectors.Registry
	// Sources opens the Source external cells run on (one per
	// connection, see connectors/registry); nil runs only DuckDB cells.
	// The engine does not close it: one Sources may serve many engines.
	Sources connectors.Sources
	// Sandbox, when set, locks the DuckDB down once the engine's own
	// ATTACHes are done (see Sandbox); nil runs SQL as the user.
	Sandbox *Sandbox
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// Engine runs notebooks on one embedded DuckDB instance.
type Engine struct {
	cfg Config
	log *slog.Logger

	// searchPaths remembers the search_path of each pooled connection, so
	// a cell sets it only when it differs.
	searchPaths sync.Map
	// mat loads external results through cellsd_scan.
	mat *materialize.Materializer

	mu        sync.Mutex
	connector *duckdb.Connector
	db        *sql.DB
	coreDB    string // catalog name of the core database
	tempDir   string // DuckDB's spill directory under the sandbox, removed at Close
	closed    bool
}

// New returns an Engine; it starts nothing until Open.
func New(cfg Config) *Engine {
	if cfg.Materialization == "" {
		cfg.Materialization = AttachedEphemeral
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Engine{cfg: cfg, log: cfg.Logger.With("component", "engine")}
}

// Open starts DuckDB, attaches the ephemeral results database when the
// strategy asks for it and creates the provenance table.
func (e *Engine) Open(ctx context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.db != nil || e.closed {
		return errors.New("engine: Open called twice")
	}
	switch e.cfg.Materialization {
	case AttachedEphemeral, SchemaStrategy:
	default:
		return fmt.Errorf("engine: unknown materialization %q (want %s or %s)", e.cfg.Materialization, AttachedEphemeral, SchemaStrategy)
	}
	path, attach := e.cfg.DBPath, ""
	if e.cfg.ReadOnlyDB && path != "" {
		if e.cfg.Materialization != AttachedEphemeral {
			return fmt.Errorf("engine: a read-only database needs %s materialization", AttachedEphemeral)
		}
		path, attach = "", e.cfg.DBPath
	}
	connector, err := duckdb.NewConnector(path, nil)
	if err != nil {
		return fmt.Errorf("open duckdb %q: %w", path, err)
	}
	db := sql.OpenDB(connector)
	fail := func(err error) error {
		db.Close()
		connector.Close()
		e.connector, e.db = nil, nil
		if e.tempDir != "" {
			os.RemoveAll(e.tempDir)
		}
		return err
	}
	if err := db.QueryRowContext(ctx, `SELECT current_database()`).Scan(&e.coreDB); err != nil {
		return fail(fmt.Errorf("open duckdb: %w", err))
	}
	if attach != "" {
		// The file's own name, as DuckDB would call it, so SQL naming the
		// database reads the same as in a cellsd run on the file.
		var stmt string
		e.coreDB, stmt = AttachReadOnly(attach)
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			return fail(fmt.Errorf("attach %s read-only: %w", attach, err))
		}
	}
	e.connector, e.db = connector, db
	if e.cfg.Materialization == AttachedEphemeral {
		if _, err := db.ExecContext(ctx, `ATTACH ':memory:' AS `+quoteIdent(EphemeralDB)); err != nil {
			return fail(fmt.Errorf("attach %s: %w", EphemeralDB, err))
		}
	}
	if e.mat, err = materialize.Register(ctx, db); err != nil {
		return fail(err)
	}
	if _, err := db.ExecContext(ctx, materialize.CreateProvenance(e.ResultDB())); err != nil {
		return fail(fmt.Errorf("create provenance table: %w", err))
	}
	if e.cfg.Sandbox != nil {
		dir, err := os.MkdirTemp("", "cellsd-duckdb-")
		if err != nil {
			return fail(fmt.Errorf("sandbox: %w", err))
		}
		e.tempDir = dir
		if err := e.cfg.Sandbox.Apply(ctx, db, dir); err != nil {
			return fail(err)
		}
	}
	return nil
}

// Close releases DuckDB. It is safe to call more than once.
func (e *Engine) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil
	}
	e.closed = true
	if e.db == nil {
		return nil
	}
	err := errors.Join(e.db.Close(), e.connector.Close())
	if e.tempDir != "" {
		os.RemoveAll(e.tempDir)
	}
	return err
}

// DB returns the engine's database handle, for reading results.
func (e *Engine) DB() *sql.DB { return e.db }

// ResultDB is the catalog results are materialized in.
func (e *Engine) ResultDB() string {
	if e.cfg.Materialization == SchemaStrategy {
		return e.coreDB
	}
	return EphemeralDB
}

// Planner returns a planner that parses through this engine's DuckDB.
func (e *Engine) Planner() *Planner {
	return &Planner{DuckDB: sqlparse.NewDuckDB(e.db), Connections: e.cfg.Connections, ResultDB: e.ResultDB()}
}

// Relation returns the quoted relation a cell's result is materialized in.
func (e *Engine) Relation(schema, name string) string {
	return quoteIdent(e.ResultDB()) + "." + quoteIdent(schema) + "." + quoteIdent(name)
}

// relationName is Relation unquoted, as reports show it.
func (e *Engine) relationName(schema, name string) string {
	return e.ResultDB() + "." + schema + "." + name
}

// searchPath is the search_path cells of an artifact run with: their
// siblings' results first, then the core database's main schema.
func (e *Engine) searchPath(schema string) string {
	return quoteIdent(e.ResultDB()) + "." + quoteIdent(schema) + "," + quoteIdent(e.coreDB) + ".main"
}

// AttachReadOnly returns the statement that attaches a database file
// read-only, if it is not attached yet, and the name it gets: the file's
// own name without its extension, as DuckDB would call it.
func AttachReadOnly(path string) (name, stmt string) {
	name = strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	return name, `ATTACH IF NOT EXISTS ` + quoteString(path) + ` AS ` + quoteIdent(name) + ` (READ_ONLY)`
}

func quoteIdent(s string) string { return materialize.QuoteIdent(s) }

func quoteString(s string) string {
	return `'` + strings.ReplaceAll(s, `'`, `''`) + `'`
}

// defaultConcurrency is the number of cells run at once when not told.
func defaultConcurrency() int { return runtime.NumCPU() }
