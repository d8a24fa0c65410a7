package bridgeserver

import (
	"context"
	"fmt"

	"github.com/cellsd/cellsd/connectors/bridge"
)

// Catalog queries. Postgres lists the connected database, its schemas but
// the system ones, and its tables, partitioned tables, foreign tables,
// views and materialized views. The core DuckDB lists its databases but
// the internal ones (system, temp), their schemas, and their tables and
// views from duckdb_tables() and duckdb_views().
const (
	pgUserSchema = `n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
		AND n.nspname NOT LIKE 'pg\_temp\_%' AND n.nspname NOT LIKE 'pg\_toast\_temp\_%'`
	pgDatabases = `SELECT current_database()::text`
	pgSchemas   = `SELECT current_database()::text, n.nspname::text FROM pg_namespace n WHERE ` + pgUserSchema + ` ORDER BY 2`
	pgTables    = `SELECT current_database()::text, n.nspname::text, c.relname::text, c.relkind IN ('v', 'm')
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE c.relkind IN ('r', 'p', 'f', 'v', 'm') AND ` + pgUserSchema + ` ORDER BY 2, 3`

	duckDatabases = `SELECT database_name FROM duckdb_databases() WHERE NOT internal ORDER BY 1`
	duckSchemas   = `SELECT s.database_name, s.schema_name FROM duckdb_schemas() s
		JOIN duckdb_databases() d ON d.database_name = s.database_name
		WHERE NOT d.internal ORDER BY 1, 2`
	duckTables = `SELECT database_name, schema_name, table_name, false FROM duckdb_tables() WHERE NOT internal
		UNION ALL
		SELECT database_name, schema_name, view_name, true FROM duckdb_views() WHERE NOT internal
		ORDER BY 1, 2, 3`
)

// catalog lists what a connection holds.
func (s *Server) catalog(ctx context.Context, t target) (bridge.CatalogResponse, error) {
	if t.my != nil {
		return s.mysqlCatalog(ctx, t)
	}
	if t.session != nil {
		return sessionCatalog(ctx, t.session)
	}
	dbs, schemas, tables := duckDatabases, duckSchemas, duckTables
	if t.src != nil {
		dbs, schemas, tables = pgDatabases, pgSchemas, pgTables
	}
	out := bridge.CatalogResponse{Databases: []bridge.CatalogDatabase{}, Schemas: []bridge.CatalogSchema{}, Tables: []bridge.CatalogTable{}}
	err := s.collect(ctx, t, dbs, func(row []any) error {
		out.Databases = append(out.Databases, bridge.CatalogDatabase{Database: str(row[0])})
		return nil
	})
	if err == nil {
		err = s.collect(ctx, t, schemas, func(row []any) error {
			out.Schemas = append(out.Schemas, bridge.CatalogSchema{Database: str(row[0]), Schema: str(row[1])})
			return nil
		})
	}
	if err == nil {
		err = s.collect(ctx, t, tables, func(row []any) error {
			isView, _ := row[3].(bool)
			out.Tables = append(out.Tables, bridge.CatalogTable{Database: str(row[0]), Schema: str(row[1]), Table: str(row[2]), IsView: isView})
			return nil
		})
	}
	return out, err
}

func str(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	return fmt.Sprint(v)
}

// collect runs a query and calls fn for every row.
func (s *Server) collect(ctx context.Context, t target, query string, fn func(row []any) error) error {
	return s.queryRows(ctx, t, query, rowFunc(fn))
}

type rowFunc func(row []any) error

func (rowFunc) columns([]string, []string) error { return nil }

func (f rowFunc) rows(rows [][]any) error {
	for _, r := range rows {
		if err := f(r); err != nil {
			return err
		}
	}
	return nil
}
