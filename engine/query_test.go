package engine_test

import (
	"context"
	"database/sql"
	"errors"
	"testing"

	"github.com/cellsd/cellsd/cells"
	"github.com/cellsd/cellsd/engine"
	"github.com/cellsd/cellsd/sqlparse"
)

// TestSession_ReadOnly resolves unqualified names through every artifact
// schema in notebook order, refuses writes, and leaves the cells' own
// search paths alone.
func TestSession_ReadOnly(t *testing.T) {
	nb, err := cells.Parse("nb", []byte(`{"data":{
		"a1x":{"id":"a1x","type":"sql","data":{"title":"x","sql":"SELECT 'a1' AS src"}},
		"a2x":{"id":"a2x","type":"sql","data":{"title":"x","sql":"SELECT 'a2' AS src"}},
		"a2y":{"id":"a2y","type":"sql","data":{"title":"y","sql":"SELECT 'a2y' AS src"}},
		"a2z":{"id":"a2z","type":"sql","data":{"title":"z","sql":"SELECT src FROM x"}}},
		"artifacts":{"a1":{"id":"a1","cellIds":["a1x"]},"a2":{"id":"a2","cellIds":["a2x","a2y","a2z"]}}}`))
	if err != nil {
		t.Fatal(err)
	}
	s := openSession(t, nb, engine.SessionOptions{Concurrency: 1})
	mustRunSession(t, s, engine.RunRequest{})
	read := func(q string) (string, error) {
		var src string
		err := s.ReadOnly(context.Background(), func(ctx context.Context, conn *sql.Conn) error {
			return conn.QueryRowContext(ctx, q).Scan(&src)
		})
		return src, err
	}
	for q, want := range map[string]string{
		"SELECT src FROM x":             "a1", // a1 comes first
		"SELECT src FROM y":             "a2y",
		"SELECT src FROM z":             "a2", // z read its own artifact's x
		"SELECT src FROM artifact_a2.x": "a2",
		"SELECT current_schema()":       "artifact_a1",
	} {
		if got, err := read(q); err != nil || got != want {
			t.Errorf("%s: %q, %v; want %q", q, got, err, want)
		}
	}
	if _, err := read("SELECT nextval('nope')"); err == nil {
		t.Error("nextval in a read-only transaction succeeded")
	}
	if err := s.CheckQuery(context.Background(), "DROP TABLE x"); !errors.Is(err, sqlparse.ErrNotQuery) {
		t.Errorf("CheckQuery(DROP TABLE x): %v", err)
	}
	// The cells' connections get their own search path back: z, rerun,
	// still reads a2's x.
	mustRunSession(t, s, engine.RunRequest{CellID: "a2z"})
	if got, err := read("SELECT src FROM z"); err != nil || got != "a2" {
		t.Errorf("z after a rerun: %q, %v", got, err)
	}
	ev, rel, err := s.Result("a2z")
	if err != nil || ev.Status != engine.StatusSuccess || rel != `"__sqlrooms_ephemeral"."artifact_a2"."z"` {
		t.Errorf("Result(a2z): %+v %s %v", ev, rel, err)
	}
	if _, _, err := s.Result("nope"); !errors.Is(err, engine.ErrUnknownCell) {
		t.Errorf("Result(nope): %v", err)
	}
	catalog, schemas := s.Schemas()
	if catalog != "__sqlrooms_ephemeral" || len(schemas) != 2 || schemas[0] != "artifact_a1" {
		t.Errorf("Schemas: %s %v", catalog, schemas)
	}
	s.Close()
	if _, err := read("SELECT 1"); !errors.Is(err, engine.ErrClosed) {
		t.Errorf("ReadOnly after Close: %v", err)
	}
}
