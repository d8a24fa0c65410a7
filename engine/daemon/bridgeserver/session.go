package bridgeserver

import (
	"context"
	"database/sql"
	"errors"
	"net/http"
	"sort"
	"strings"

	"github.com/cellsd/cellsd/connectors"
	"github.com/cellsd/cellsd/connectors/bridge"
)

// SessionPrefix starts the connectionId of a daemon session:
// "session:<sessionId>" runs the request's SQL on that session's DuckDB,
// read-only.
const SessionPrefix = "session:"

// Sessions resolves the session ids of "session:<id>" connections.
type Sessions interface {
	// Session returns the session with the given id. An error wrapping
	// ErrUnknownSession answers 404 with its message, which should say
	// where the session is when another daemon serves it.
	Session(ctx context.Context, id string) (SessionDB, error)
}

// SessionDB is one session's DuckDB, read-only.
type SessionDB interface {
	// Check returns nil when text is exactly one query, else an error
	// wrapping ErrNotQuery (400).
	Check(ctx context.Context, text string) error
	// Query runs text, which must be exactly one query, read-only, and
	// hands its rows to fn. The query ends with ctx. An error wrapping
	// ErrNotQuery (the text is anything but one query, checked before it
	// runs) answers 400.
	Query(ctx context.Context, text string, fn func(*sql.Rows) error) error
	// Schemas returns the catalog the session's results are in and its
	// artifact schemas, in notebook order.
	Schemas() (catalog string, schemas []string)
}

var (
	// ErrUnknownSession is wrapped by the errors of Sessions.Session for a
	// session this daemon does not serve.
	ErrUnknownSession = errors.New("no such session on this daemon")
	// ErrNotQuery is wrapped by the errors of SessionDB.Query for SQL
	// that is not exactly one query.
	ErrNotQuery = errors.New("not a query")
)

// sessionTarget resolves "session:<id>".
func (s *Server) sessionTarget(ctx context.Context, connectionID string) (target, error) {
	id := strings.TrimPrefix(connectionID, SessionPrefix)
	if s.cfg.Sessions == nil {
		return target{}, errorf(http.StatusNotFound, "unknown connection %q: this bridge serves no sessions", connectionID)
	}
	if id == "" {
		return target{}, errorf(http.StatusBadRequest, "connection %q: missing session id", connectionID)
	}
	db, err := s.cfg.Sessions.Session(ctx, id)
	if err != nil {
		if errors.Is(err, ErrUnknownSession) {
			return target{}, &httpError{status: http.StatusNotFound, err: err}
		}
		return target{}, err
	}
	return target{conn: connectors.Connection{ID: connectionID, Engine: connectors.EngineDuckDB}, session: db}, nil
}

// checkQuery refuses, with 400, SQL that is not exactly one query.
func checkQuery(ctx context.Context, db SessionDB, query string) error {
	err := db.Check(ctx, query)
	if errors.Is(err, ErrNotQuery) {
		return &httpError{status: http.StatusBadRequest, err: err}
	}
	return err
}

// sessionRows runs a query on a session and hands its rows to sink.
func sessionRows(ctx context.Context, db SessionDB, query string, sink rowSink) error {
	err := db.Query(ctx, query, func(rows *sql.Rows) error { return scanRows(rows, sink) })
	if errors.Is(err, ErrNotQuery) {
		return &httpError{status: http.StatusBadRequest, err: err}
	}
	return err
}

// sessionCatalog lists the session's artifact schemas in its results
// catalog and the tables and views in them.
func sessionCatalog(ctx context.Context, db SessionDB) (bridge.CatalogResponse, error) {
	catalog, schemas := db.Schemas()
	out := bridge.CatalogResponse{Databases: []bridge.CatalogDatabase{{Database: catalog}}, Schemas: []bridge.CatalogSchema{}, Tables: []bridge.CatalogTable{}}
	if len(schemas) == 0 {
		return out, nil
	}
	in := make([]string, len(schemas))
	for i, sc := range schemas {
		out.Schemas = append(out.Schemas, bridge.CatalogSchema{Database: catalog, Schema: sc})
		in[i] = quoteLiteral(sc)
	}
	where := `database_name = ` + quoteLiteral(catalog) + ` AND schema_name IN (` + strings.Join(in, ", ") + `)`
	query := `SELECT database_name, schema_name, table_name, false FROM duckdb_tables() WHERE NOT internal AND ` + where + `
		UNION ALL
		SELECT database_name, schema_name, view_name, true FROM duckdb_views() WHERE NOT internal AND ` + where + `
		ORDER BY 2, 3`
	order := map[string]int{}
	for i, sc := range schemas {
		order[sc] = i
	}
	err := sessionRows(ctx, db, query, rowFunc(func(row []any) error {
		isView, _ := row[3].(bool)
		out.Tables = append(out.Tables, bridge.CatalogTable{Database: str(row[0]), Schema: str(row[1]), Table: str(row[2]), IsView: isView})
		return nil
	}))
	// Schemas in notebook order, then tables by name.
	sort.SliceStable(out.Tables, func(i, j int) bool { return order[out.Tables[i].Schema] < order[out.Tables[j].Schema] })
	return out, err
}

func quoteLiteral(s string) string { return `'` + strings.ReplaceAll(s, `'`, `''`) + `'` }
