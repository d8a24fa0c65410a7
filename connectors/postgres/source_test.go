package postgres_test

import (
	"context"
	"errors"
	"os"
	"reflect"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/cellsd/cellsd/connectors"
	"github.com/cellsd/cellsd/connectors/postgres"
	"github.com/cellsd/cellsd/internal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// result is a ResultWriter that keeps what it is given.
type result struct {
	cols []connectors.Column
	rows int64
	strs []string
}

func (r *result) Begin(_ *arrow.Schema, cols []connectors.Column) error {
	r.cols = cols
	return nil
}

func (r *result) Write(rec arrow.RecordBatch) error {
	defer rec.Release()
	r.rows += rec.NumRows()
	for c := range int(rec.NumCols()) {
		for i := range int(rec.NumRows()) {
			r.strs = append(r.strs, rec.Column(c).ValueStr(i))
		}
	}
	return nil
}

func open(t *testing.T) *postgres.Source {
	t.Helper()
	src, err := postgres.Connect(connectors.Connection{ID: "pg", Engine: connectors.EnginePostgres, DSN: pgtest.DSN(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	return src
}

func TestFetch(t *testing.T) {
	src := open(t)
	ctx := context.Background()

	t.Run("ArgsAreParameters", func(t *testing.T) {
		var r result
		q := connectors.Query{SQL: "SELECT $1::int + 1 AS n, $2::text AS s, ARRAY[$1::int] AS a", Args: []any{41, "it's"}, HasResult: true}
		if err := src.Fetch(ctx, q, &r); err != nil {
			t.Fatal(err)
		}
		want := []connectors.Column{{Name: "n", DuckDBType: "INTEGER"}, {Name: "s", DuckDBType: "VARCHAR"}, {Name: "a", DuckDBType: "INTEGER[]"}}
		if !reflect.DeepEqual(r.cols, want) || !reflect.DeepEqual(r.strs, []string{"42", "it's", "[41]"}) {
			t.Errorf("columns %v values %q", r.cols, r.strs)
		}
	})

	t.Run("EmptyResultBegins", func(t *testing.T) {
		var r result
		if err := src.Fetch(ctx, connectors.Query{SQL: "SELECT 1 AS x, now()::timetz AS t WHERE false", HasResult: true}, &r); err != nil {
			t.Fatal(err)
		}
		if want := []connectors.Column{{Name: "x", DuckDBType: "INTEGER"}, {Name: "t", DuckDBType: "TIMETZ"}}; !reflect.DeepEqual(r.cols, want) || r.rows != 0 {
			t.Errorf("columns %v rows %d", r.cols, r.rows)
		}
	})

	t.Run("NoResultWritesNothing", func(t *testing.T) {
		if err := src.Fetch(ctx, connectors.Query{SQL: "SELECT 1"}, nil); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("ErrorCarriesByteOffset", func(t *testing.T) {
		sql := "SELECT 'é',\n  nope"
		err := src.Fetch(ctx, connectors.Query{SQL: sql, HasResult: true}, &result{})
		var ce *connectors.Error
		var pe *pgconn.PgError
		if !errors.As(err, &ce) || !errors.As(err, &pe) {
			t.Fatalf("err %v (%T): want a *connectors.Error over a *pgconn.PgError", err, err)
		}
		if ce.Connection != "pg" || sql[ce.Offset:] != "nope" {
			t.Errorf("connection %q offset %d", ce.Connection, ce.Offset)
		}
	})
}
