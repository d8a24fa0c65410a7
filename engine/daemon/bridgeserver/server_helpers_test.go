package bridgeserver_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/duckdb/duckdb-go/v2"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/cellsd/cellsd/connectors"
	"github.com/cellsd/cellsd/connectors/bridge"
	"github.com/cellsd/cellsd/engine/daemon/bridgeserver"
	"github.com/cellsd/cellsd/internal/pgtest"
	"github.com/cellsd/cellsd/internal/poll"
	"github.com/cellsd/cellsd/internal/sqlroomstest"
)

// testToken is the bearer token every test server requires.
const testToken = "s3cret-token"

// bridgeEnv is a running bridge with the things behind it: Postgres
// connections "pg" (read-only) and "pgrw" (read_only = false) on a fresh
// schema, and an in-memory core DuckDB.
type bridgeEnv struct {
	URL    string
	Server *bridgeserver.Server
	Pool   *pgxpool.Pool // the tests' own pool on the same database
	Schema string
	Core   *sql.DB
	DSN    string
}

// startBridge starts everything, stopped when t ends.
func startBridge(t testing.TB) *bridgeEnv {
	t.Helper()
	pool := pgtest.Pool(t)
	env := &bridgeEnv{Pool: pool, Schema: pgtest.Schema(t, pool), DSN: pgtest.DSN(t), Core: openCore(t)}
	rw := false
	reg, err := connectors.NewRegistry(
		connectors.Connection{ID: "pg", Engine: connectors.EnginePostgres, Title: "Test Postgres", DSN: env.DSN},
		connectors.Connection{ID: "pgrw", Engine: connectors.EnginePostgres, DSN: env.DSN, ReadOnly: &rw},
	)
	if err != nil {
		t.Fatal(err)
	}
	env.URL, env.Server = serveBridge(t, bridgeserver.ServerConfig{Connections: reg, Core: env.Core})
	return env
}

// serveBridge serves a bridge Server the way the daemon does (mounted at
// /api/db/ behind RequireToken) on a loopback port, and returns its base
// URL. It is the one place that starts the server under test.
func serveBridge(t testing.TB, cfg bridgeserver.ServerConfig) (string, *bridgeserver.Server) {
	t.Helper()
	srv := bridgeserver.NewServer(cfg)
	mux := http.NewServeMux()
	mux.Handle("/api/db/", srv)
	ts := httptest.NewServer(bridgeserver.RequireToken(testToken, mux))
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("close bridge: %v", err)
		}
		ts.Close()
	})
	return ts.URL, srv
}

func openCore(t testing.TB) *sql.DB {
	t.Helper()
	c, err := duckdb.NewConnector("", nil)
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(c)
	t.Cleanup(func() { db.Close() })
	return db
}

// pgExec runs SQL on the tests' own pool.
func (e *bridgeEnv) pgExec(t testing.TB, sql string) {
	t.Helper()
	if _, err := e.Pool.Exec(context.Background(), sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// post sends a JSON body with the token and returns the response.
func (e *bridgeEnv) post(t testing.TB, path string, body any) *http.Response {
	t.Helper()
	return e.do(t, http.MethodPost, path, body, testToken)
}

func (e *bridgeEnv) do(t testing.TB, method, path string, body any, token string) *http.Response {
	t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case io.Reader:
		r = b
	case string:
		r = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, e.URL+path, r)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	t.Cleanup(func() { res.Body.Close() })
	return res
}

// postJSON posts body, wants status, and decodes the answer into out.
func (e *bridgeEnv) postJSON(t testing.TB, path string, body any, status int, out any) {
	t.Helper()
	res := e.post(t, path, body)
	decodeAnswer(t, res, status, out)
}

func decodeAnswer(t testing.TB, res *http.Response, status int, out any) {
	t.Helper()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != status {
		t.Fatalf("%s: status %d, want %d: %s", res.Request.URL.Path, res.StatusCode, status, b)
	}
	if ct := res.Header.Get("Content-Type"); out != nil && ct != "application/json" {
		t.Fatalf("%s: Content-Type %q, want application/json", res.Request.URL.Path, ct)
	}
	if out == nil {
		return
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(out); err != nil {
		t.Fatalf("%s: decode %s: %v", res.Request.URL.Path, b, err)
	}
}

// wantError posts body and wants status with a JSON {error} containing
// substr.
func (e *bridgeEnv) wantError(t testing.TB, path string, body any, status int, substr string) {
	t.Helper()
	var er bridge.ErrorResponse
	e.postJSON(t, path, body, status, &er)
	if !strings.Contains(er.Error, substr) {
		t.Fatalf("%s: error %q, want it to contain %q", path, er.Error, substr)
	}
}

// frame is one frame of fetch-arrow-stream, its batch decoded.
type frame struct {
	bridge.FrameHeader
	schema *arrow.Schema
	rows   [][]any
}

// readFrames reads every frame of a fetch-arrow-stream answer.
func readFrames(t testing.TB, r io.Reader) []frame {
	t.Helper()
	var out []frame
	for {
		h, payload, err := bridge.ReadFrame(r, 0)
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("read frame %d: %v", len(out)+1, err)
		}
		f := frame{FrameHeader: h}
		if h.Type == bridge.FrameBatch {
			f.schema, f.rows = decodeIPC(t, payload)
		}
		out = append(out, f)
	}
}

// decodeIPC decodes a complete Arrow IPC stream into rows of plain Go
// values (see cell).
func decodeIPC(t testing.TB, payload []byte) (*arrow.Schema, [][]any) {
	t.Helper()
	rd, err := ipc.NewReader(bytes.NewReader(payload))
	if err != nil {
		t.Fatalf("ipc reader: %v", err)
	}
	defer rd.Release()
	var rows [][]any
	for rd.Next() {
		rec := rd.RecordBatch()
		for i := 0; i < int(rec.NumRows()); i++ {
			row := make([]any, rec.NumCols())
			for j, col := range rec.Columns() {
				row[j] = cell(col, i)
			}
			rows = append(rows, row)
		}
	}
	if err := rd.Err(); err != nil {
		t.Fatalf("ipc read: %v", err)
	}
	return rd.Schema(), rows
}

// cell is an Arrow value as a plain Go value: int64, float64, string,
// bool, time.Time (UTC), decimals as their text, UUIDs in their usual
// form, lists as []any, nil for null.
func cell(arr arrow.Array, i int) any {
	if arr.IsNull(i) {
		return nil
	}
	switch a := arr.(type) {
	case *array.Int16:
		return int64(a.Value(i))
	case *array.Int32:
		return int64(a.Value(i))
	case *array.Int64:
		return a.Value(i)
	case *array.Float64:
		return a.Value(i)
	case *array.String:
		return a.Value(i)
	case *array.Boolean:
		return a.Value(i)
	case *array.Decimal128:
		return a.Value(i).ToString(a.DataType().(*arrow.Decimal128Type).Scale)
	case *array.Timestamp:
		return a.Value(i).ToTime(a.DataType().(*arrow.TimestampType).Unit).UTC()
	case *array.Date32:
		return a.Value(i).ToTime().UTC()
	case *array.FixedSizeBinary:
		h := hex.EncodeToString(a.Value(i))
		return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
	case *array.List:
		start, end := a.ValueOffsets(i)
		out := []any{}
		for j := start; j < end; j++ {
			out = append(out, cell(a.ListValues(), int(j)))
		}
		return out
	}
	return arr.ValueStr(i)
}

// activeQueries counts the Postgres backends running a query whose text
// contains marker (other than the one asking).
func (e *bridgeEnv) activeQueries(t testing.TB, marker string) int {
	t.Helper()
	return sqlroomstest.ActiveQueries(t, e.Pool, marker)
}

// waitActive waits until a backend runs the query with marker.
func (e *bridgeEnv) waitActive(t testing.TB, marker string) {
	t.Helper()
	poll.Until(t, 10*time.Second, 20*time.Millisecond, func() error {
		if e.activeQueries(t, marker) == 0 {
			return fmt.Errorf("no backend runs %s", marker)
		}
		return nil
	})
}

// waitGone waits until no backend runs the query with marker.
func (e *bridgeEnv) waitGone(t testing.TB, marker string) {
	t.Helper()
	poll.Until(t, 10*time.Second, 20*time.Millisecond, func() error {
		if n := e.activeQueries(t, marker); n > 0 {
			return fmt.Errorf("%d backends still run %s", n, marker)
		}
		return nil
	})
}
