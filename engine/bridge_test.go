package engine_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/cellsd/cellsd/connectors"
	"github.com/cellsd/cellsd/connectors/bridge"
	"github.com/cellsd/cellsd/connectors/postgres"
	"github.com/cellsd/cellsd/engine"
	"github.com/cellsd/cellsd/engine/daemon/bridgeserver"
	"github.com/cellsd/cellsd/internal/pgtest"
	"github.com/cellsd/cellsd/internal/poll"
)

// bridgeCell is a SQL cell on connection "remote", a bridge.
func bridgeCell(id, name, sql string) nbCell { return onConnector(id, name, "remote", sql) }

// bridgeRegistry returns a registry with connection "remote", a bridge at
// url to its connection "pg".
func bridgeRegistry(t testing.TB, url string, mutate func(*connectors.Connection)) *connectors.Registry {
	t.Helper()
	return registryOf(t, connectors.Connection{ID: "remote", Engine: connectors.EngineBridge, URL: url, RemoteID: "pg"}, mutate)
}

// ipcPayload is one batch frame's payload: a complete Arrow IPC stream of
// schema holding recs.
func ipcPayload(t testing.TB, schema *arrow.Schema, recs ...arrow.RecordBatch) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := ipc.NewWriter(&buf, ipc.WithSchema(schema))
	for _, r := range recs {
		if err := w.Write(r); err != nil {
			t.Error(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Error(err)
	}
	return buf.Bytes()
}

// pgBridge is a minimal bridge in front of the test Postgres, for the
// tests that need a real remote query: fetch-arrow-stream through
// postgres.Source, cancel-query, and a bearer
// token.
type pgBridge struct {
	t       testing.TB
	src     *postgres.Source
	token   string
	mu      sync.Mutex
	cancels map[string]context.CancelFunc
}

func newPGBridge(t testing.TB, token string) *httptest.Server {
	t.Helper()
	cfg, err := postgres.NewConfig(connectors.Connection{ID: "pg", Engine: connectors.EnginePostgres, DSN: pgtest.DSN(t)})
	if err != nil {
		t.Fatal(err)
	}
	src, err := postgres.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	b := &pgBridge{t: t, src: src, token: token, cancels: map[string]context.CancelFunc{}}
	srv := httptest.NewServer(b)
	t.Cleanup(func() { srv.Close(); src.Close() })
	return srv
}

func (b *pgBridge) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if b.token != "" && r.Header.Get("Authorization") != "Bearer "+b.token {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		json.NewEncoder(w).Encode(bridge.ErrorResponse{Error: "missing or wrong bearer token"})
		return
	}
	switch r.URL.Path {
	case bridge.PathCancelQuery:
		var req bridge.CancelRequest
		json.NewDecoder(r.Body).Decode(&req)
		b.mu.Lock()
		cancel := b.cancels[req.QueryID]
		b.mu.Unlock()
		if cancel != nil {
			cancel()
		}
		json.NewEncoder(w).Encode(bridge.CancelResponse{Cancelled: cancel != nil})
	case bridge.PathFetchArrowStream:
		var req bridge.QueryRequest
		json.NewDecoder(r.Body).Decode(&req)
		ctx, cancel := context.WithCancel(r.Context())
		defer cancel()
		b.mu.Lock()
		b.cancels[req.QueryID] = cancel
		b.mu.Unlock()
		defer func() { b.mu.Lock(); delete(b.cancels, req.QueryID); b.mu.Unlock() }()
		w.Header().Set("Content-Type", "application/octet-stream")
		s := &frameSink{w: w}
		err := b.src.Fetch(ctx, connectors.Query{SQL: req.SQL, HasResult: true}, s)
		if err == nil && !s.sent && s.schema != nil {
			err = bridge.WriteFrame(w, bridge.FrameHeader{Type: bridge.FrameBatch, QueryID: req.QueryID}, ipcPayload(b.t, s.schema))
		}
		if err != nil {
			bridge.WriteFrame(w, bridge.FrameHeader{Type: bridge.FrameError, QueryID: req.QueryID, Error: err.Error()}, nil)
			return
		}
		bridge.WriteFrame(w, bridge.FrameHeader{Type: bridge.FrameEnd, QueryID: req.QueryID}, nil)
	default:
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		json.NewEncoder(w).Encode(bridge.ErrorResponse{Error: "no such endpoint"})
	}
}

// frameSink writes each record as a batch frame.
type frameSink struct {
	w      http.ResponseWriter
	schema *arrow.Schema
	sent   bool
}

func (s *frameSink) Begin(schema *arrow.Schema, _ []connectors.Column) error {
	s.schema = schema
	return nil
}

func (s *frameSink) Write(rec arrow.RecordBatch) error {
	defer rec.Release()
	var buf bytes.Buffer
	w := ipc.NewWriter(&buf, ipc.WithSchema(s.schema))
	if err := w.Write(rec); err != nil {
		return err
	}
	w.Close()
	s.sent = true
	if err := bridge.WriteFrame(s.w, bridge.FrameHeader{Type: bridge.FrameBatch}, buf.Bytes()); err != nil {
		return err
	}
	s.w.(http.Flusher).Flush()
	return nil
}

// remotes are the bridges the end-to-end tests run against: cellsd's own
// bridge server, and the minimal one above.
var remotes = []struct {
	name  string
	start func(testing.TB, string) *httptest.Server
}{{"CellsdServer", newCellsdBridge}, {"TestBridge", newPGBridge}}

// newCellsdBridge is cellsd's bridge server in front of the test Postgres
// as its connection "pg", behind token when it is not empty.
func newCellsdBridge(t testing.TB, token string) *httptest.Server {
	t.Helper()
	reg, err := connectors.NewRegistry(connectors.Connection{ID: "pg", Engine: connectors.EnginePostgres, DSN: pgtest.DSN(t)})
	if err != nil {
		t.Fatal(err)
	}
	srv := bridgeserver.NewServer(bridgeserver.ServerConfig{Connections: reg})
	hs := httptest.NewServer(bridgeserver.RequireToken(token, srv))
	t.Cleanup(func() { srv.Close(); hs.Close() })
	return hs
}

func TestBridge_Notebook(t *testing.T) {
	for _, r := range remotes {
		t.Run(r.name, func(t *testing.T) { testBridgeNotebook(t, r.start) })
	}
}

func testBridgeNotebook(t *testing.T, start func(testing.TB, string) *httptest.Server) {
	pool := pgtest.Pool(t)
	schema := pgtest.Schema(t, pool)
	ctx := context.Background()
	if _, err := pool.Exec(ctx, fmt.Sprintf(`CREATE TABLE %[1]s.orders AS
		SELECT g AS id, 'customer ' || (g %% 17) AS customer, (g * 1.25)::numeric(12,2) AS amount,
		       timestamptz '2024-01-01 00:00:00+00' + g * interval '1 hour' AS placed_at, date '2024-01-01' + g AS day
		FROM generate_series(1, 5000) AS g`, schema)); err != nil {
		t.Fatal(err)
	}
	srv := start(t, "")
	nb := parseNotebook(t, art(
		// Postgres dialect: the cast and the schema-qualified name resolve remotely.
		bridgeCell("c1", "orders", fmt.Sprintf("SELECT id, customer, amount, placed_at, day, amount::float8 AS f FROM %s.orders", schema)),
		sqlCell("c2", "by_customer", "SELECT customer, count(*) AS n, sum(amount) AS total FROM orders GROUP BY ALL"),
	))
	s := openPGSession(t, nb, bridgeRegistry(t, srv.URL, nil), engine.SessionOptions{})
	mustRunSession(t, s, engine.RunRequest{})
	for _, id := range []string{"c1", "c2"} {
		if ev := statusOf(s)[id]; ev.Status != engine.StatusSuccess {
			t.Fatalf("%s: %s %s", id, ev.Status, ev.Err)
		}
	}
	if ev := statusOf(s)["c1"]; *ev.Rows != 5000 {
		t.Errorf("c1: %d rows, want 5000", *ev.Rows)
	}
	var pgSum, pgAt, pgDay string
	if err := pool.QueryRow(ctx, fmt.Sprintf("SELECT sum(amount)::text, max(placed_at AT TIME ZONE 'UTC')::text, max(day)::text FROM %s.orders", schema)).Scan(&pgSum, &pgAt, &pgDay); err != nil {
		t.Fatal(err)
	}
	got := queryRows(t, s.DB(), `SELECT CAST(sum(amount) AS VARCHAR), CAST(max(timezone('UTC', placed_at)) AS VARCHAR), CAST(max(day) AS VARCHAR)
		FROM __sqlrooms_ephemeral.artifact_nb.orders`)
	if want := [][]string{{pgSum, pgAt, pgDay}}; !reflect.DeepEqual(got, want) {
		t.Errorf("DuckDB holds %v, Postgres %v", got, want)
	}
	if got := queryRows(t, s.DB(), "SELECT sum(n), CAST(sum(total) AS VARCHAR) FROM __sqlrooms_ephemeral.artifact_nb.by_customer"); got[0][0] != "5000" || got[0][1] != pgSum {
		t.Errorf("downstream DuckDB cell: %v", got)
	}
	types := queryRows(t, s.DB(), "SELECT column_name, data_type FROM information_schema.columns WHERE table_catalog = '__sqlrooms_ephemeral' AND table_name = 'orders' ORDER BY ordinal_position")
	wantTypes := [][]string{{"id", "INTEGER"}, {"customer", "VARCHAR"}, {"amount", "DECIMAL(12,2)"}, {"placed_at", "TIMESTAMP WITH TIME ZONE"}, {"day", "DATE"}, {"f", "DOUBLE"}}
	if !reflect.DeepEqual(types, wantTypes) {
		t.Errorf("columns %v, want %v", types, wantTypes)
	}
	s.Flush()
	if got := queryRows(t, s.DB(), "SELECT connection_id, engine, rows FROM __sqlrooms_ephemeral.main.cellsd_provenance WHERE cell_id = 'c1'"); !reflect.DeepEqual(got, [][]string{{"remote", "bridge", "5000"}}) {
		t.Errorf("provenance %v", got)
	}
	for _, a := range s.Plan().Artifacts {
		for _, cp := range a.Cells {
			if cp.Cell.ID == "c2" && !reflect.DeepEqual(cp.Deps, []string{"c1"}) {
				t.Errorf("c2 deps %v, want [c1]", cp.Deps)
			}
			if cp.Cell.ID == "c1" && len(cp.Deps) != 0 {
				t.Errorf("c1 deps %v, want none: its names resolve remotely", cp.Deps)
			}
		}
	}

	t.Run("EmptyResult", func(t *testing.T) {
		wait(t, mustUpdate(t, s, engine.CellPatch{CellID: "c1", SQL: ptr(fmt.Sprintf("SELECT id, customer FROM %s.orders WHERE false", schema))}))
		if ev := statusOf(s)["c1"]; ev.Status != engine.StatusSuccess || *ev.Rows != 0 {
			t.Fatalf("c1: %s %s", ev.Status, ev.Err)
		}
		if got := queryRows(t, s.DB(), "SELECT count(*) FROM __sqlrooms_ephemeral.artifact_nb.orders"); got[0][0] != "0" {
			t.Errorf("%v rows", got)
		}
	})

	t.Run("RemoteSQLErrorKeepsPreviousResult", func(t *testing.T) {
		wait(t, mustUpdate(t, s, engine.CellPatch{CellID: "c1", SQL: ptr("SELECT 1 AS id, 'x' AS customer")}))
		wait(t, mustUpdate(t, s, engine.CellPatch{CellID: "c1", SQL: ptr("SELECT nope FROM generate_series(1, 3)")}))
		ev := statusOf(s)["c1"]
		if ev.Status != engine.StatusError || !strings.Contains(ev.Err, "connection remote") || !strings.Contains(ev.Err, `column "nope" does not exist`) {
			t.Errorf("c1: %s %q", ev.Status, ev.Err)
		}
		if got := queryRows(t, s.DB(), "SELECT count(*) FROM __sqlrooms_ephemeral.artifact_nb.orders"); got[0][0] != "1" {
			t.Errorf("previous result lost: %v", got)
		}
	})
}

// TestBridge_Cancel cancels a bridge cell while the remote query runs:
// the query disappears from Postgres and the previous result stays.
func TestBridge_Cancel(t *testing.T) {
	for _, r := range remotes {
		t.Run(r.name, func(t *testing.T) { testBridgeCancel(t, r.start) })
	}
}

func testBridgeCancel(t *testing.T, start func(testing.TB, string) *httptest.Server) {
	ctx := context.Background()
	pool := pgtest.Pool(t)
	srv := start(t, "")
	s := openPGSession(t, parseNotebook(t, art(bridgeCell("c1", "remote", "SELECT 7 AS id"))), bridgeRegistry(t, srv.URL, nil), engine.SessionOptions{})
	mustRunSession(t, s, engine.RunRequest{})
	if ev := statusOf(s)["c1"]; ev.Status != engine.StatusSuccess {
		t.Fatalf("c1: %s %s", ev.Status, ev.Err)
	}
	mustUpdate(t, s, engine.CellPatch{CellID: "c1", SQL: ptr("SELECT pg_sleep(30), 1 AS id /* bridge cancel */")})
	active := func() int {
		var n int
		pool.QueryRow(ctx, "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(30), 1 AS id /* bridge cancel */%' AND state = 'active'").Scan(&n)
		return n
	}
	poll.Until(t, 5*time.Second, 10*time.Millisecond, func() error {
		if active() == 0 {
			return errors.New("query not running yet")
		}
		return nil
	})
	began := time.Now()
	if err := s.Cancel("c1"); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 2*time.Second, 10*time.Millisecond, func() error {
		if n, st := active(), statusOf(s)["c1"].Status; n > 0 || st != engine.StatusCancel {
			return fmt.Errorf("%s after cancel: %d queries active, c1 %s", time.Since(began), n, st)
		}
		return nil
	})
	if got := queryRows(t, s.DB(), "SELECT id FROM __sqlrooms_ephemeral.artifact_nb.remote"); !reflect.DeepEqual(got, [][]string{{"7"}}) {
		t.Errorf("previous result lost: %v", got)
	}
}

func TestBridge_Token(t *testing.T) {
	for _, r := range remotes {
		t.Run(r.name, func(t *testing.T) { testBridgeToken(t, r.start) })
	}
}

func testBridgeToken(t *testing.T, start func(testing.TB, string) *httptest.Server) {
	srv := start(t, "right-Secret")
	nb := parseNotebook(t, art(bridgeCell("c1", "remote", "SELECT 1 AS id")))
	t.Run("Wrong", func(t *testing.T) {
		rec := &recorder{}
		s := openPGSession(t, nb, bridgeRegistry(t, srv.URL, func(c *connectors.Connection) { c.Token = "wrong-Secret" }), engine.SessionOptions{Observe: rec.observe})
		mustRunSession(t, s, engine.RunRequest{})
		s.Flush()
		ev := statusOf(s)["c1"]
		if ev.Status != engine.StatusError || !strings.Contains(ev.Err, "connection remote") || !strings.Contains(ev.Err, "HTTP 401: missing or wrong bearer token") {
			t.Errorf("c1: %s %q", ev.Status, ev.Err)
		}
		if all := fmt.Sprintf("%+v %+v", rec.all(), s.Report("")); strings.Contains(all, "Secret") {
			t.Errorf("a token appears in events or the report: %s", all)
		}
	})
	t.Run("Right", func(t *testing.T) {
		t.Setenv("CELLSD_TEST_BRIDGE_TOKEN", "right-Secret")
		s := openPGSession(t, nb, bridgeRegistry(t, srv.URL, func(c *connectors.Connection) { c.TokenEnv = "CELLSD_TEST_BRIDGE_TOKEN" }), engine.SessionOptions{})
		mustRunSession(t, s, engine.RunRequest{})
		if ev := statusOf(s)["c1"]; ev.Status != engine.StatusSuccess {
			t.Errorf("c1: %s %q", ev.Status, ev.Err)
		}
	})
}

// scriptedBridge answers fetch-arrow-stream with whatever response holds.
type scriptedBridge struct {
	response atomic.Pointer[scripted]
}

type scripted struct {
	status int
	ctype  string
	body   []byte
}

func (b *scriptedBridge) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	resp := b.response.Load()
	w.Header().Set("Content-Type", resp.ctype)
	w.WriteHeader(resp.status)
	w.Write(resp.body)
}

func frames(t testing.TB, fs ...any) []byte {
	t.Helper()
	var buf bytes.Buffer
	for _, f := range fs {
		switch f := f.(type) {
		case []byte:
			buf.Write(f)
		case bridge.FrameHeader:
			bridge.WriteFrame(&buf, f, nil)
		}
	}
	return buf.Bytes()
}

func batchFrame(t testing.TB, payload []byte) []byte {
	var buf bytes.Buffer
	bridge.WriteFrame(&buf, bridge.FrameHeader{Type: bridge.FrameBatch}, payload)
	return buf.Bytes()
}

// TestBridge_Faults feeds a bridge cell broken streams: every one fails
// the cell with an error naming the connection, keeps the previous result
// and leaves no staging table; a healthy stream after them still lands.
func TestBridge_Faults(t *testing.T) {
	mem := memory.DefaultAllocator
	schema := arrow.NewSchema([]arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int64, Nullable: true}}, nil)
	ids := func(n int) arrow.RecordBatch {
		b := array.NewRecordBuilder(mem, schema)
		defer b.Release()
		for i := range n {
			b.Field(0).(*array.Int64Builder).Append(int64(i + 1))
		}
		return b.NewRecordBatch()
	}
	three, big := ids(3), ids(5000)
	defer three.Release()
	defer big.Release()
	end := bridge.FrameHeader{Type: bridge.FrameEnd}
	good := frames(t, batchFrame(t, ipcPayload(t, schema, three)), end)

	structSchema := arrow.NewSchema([]arrow.Field{{Name: "s", Type: arrow.StructOf(arrow.Field{Name: "a", Type: arrow.PrimitiveTypes.Int32, Nullable: true}), Nullable: true}}, nil)
	sb := array.NewRecordBuilder(mem, structSchema)
	sb.Field(0).AppendNull()
	structRec := sb.NewRecordBatch()
	sb.Release()
	defer structRec.Release()

	b := &scriptedBridge{}
	b.response.Store(&scripted{200, "application/octet-stream", good})
	srv := httptest.NewServer(b)
	defer srv.Close()
	nb := parseNotebook(t, art(
		bridgeCell("c1", "remote", "SELECT id FROM t"),
		sqlCell("c2", "local", "SELECT count(*) AS n FROM remote"),
	))
	s := openPGSession(t, nb, bridgeRegistry(t, srv.URL, nil), engine.SessionOptions{NoCache: true})
	mustRunSession(t, s, engine.RunRequest{})
	if ev := statusOf(s)["c1"]; ev.Status != engine.StatusSuccess || *ev.Rows != 3 {
		t.Fatalf("c1: %s %s", ev.Status, ev.Err)
	}
	for _, tc := range []struct {
		name string
		resp scripted
		want string
	}{
		{"TruncatedHeaderLength", scripted{200, "application/octet-stream", []byte{0, 0, 1}}, "malformed bridge frame: header length: unexpected EOF"},
		{"HeaderLengthZero", scripted{200, "application/octet-stream", []byte{0, 0, 0, 0}}, "header of 0 bytes"},
		{"HeaderLengthHuge", scripted{200, "application/octet-stream", []byte{0x7f, 0xff, 0xff, 0xff}}, "header of 2147483647 bytes"},
		{"HeaderNotJSON", scripted{200, "application/octet-stream", append([]byte{0, 0, 0, 5}, "{type"...)}, "malformed bridge frame: header: invalid character"},
		{"PayloadShort", scripted{200, "application/octet-stream", append([]byte{0, 0, 0, 36}, `{"type":"batch","payloadLength":999}abc`...)}, "malformed bridge frame: payload: unexpected EOF"},
		{"PayloadNotArrow", scripted{200, "application/octet-stream", frames(t, batchFrame(t, []byte("not arrow")), end)}, "payload is not an Arrow IPC stream"},
		{"MissingEnd", scripted{200, "application/octet-stream", batchFrame(t, ipcPayload(t, schema, big))}, "without an end frame"},
		{"ErrorFrame", scripted{200, "application/octet-stream", frames(t, batchFrame(t, ipcPayload(t, schema, three)), bridge.FrameHeader{Type: bridge.FrameError, Error: "remote exploded"})}, "connection remote: remote exploded"},
		{"NoBatch", scripted{200, "application/octet-stream", frames(t, end)}, "the bridge sent no batch, so the result's columns are unknown"},
		{"UnsupportedType", scripted{200, "application/octet-stream", frames(t, batchFrame(t, ipcPayload(t, structSchema, structRec)), end)}, "column s: Arrow type struct<a: int32> is not supported"},
		{"NotFound", scripted{404, "application/json", []byte(`{"error":"unknown connection pg"}`)}, "connection remote: /api/db/fetch-arrow-stream: HTTP 404: unknown connection pg"},
		{"Unauthorized", scripted{401, "application/json", []byte(`{"error":"unauthorized"}`)}, "HTTP 401: unauthorized"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b.response.Store(&tc.resp)
			mustRunSession(t, s, engine.RunRequest{CellID: "c1"})
			ev := statusOf(s)["c1"]
			if ev.Status != engine.StatusError || !strings.HasPrefix(ev.Err, "connection remote: ") || !strings.Contains(ev.Err, tc.want) {
				t.Errorf("c1: %s %q, want an error naming the connection with %q", ev.Status, ev.Err, tc.want)
			}
			if ev := statusOf(s)["c2"]; ev.Status != engine.StatusBlocked {
				t.Errorf("c2: %s, want blocked", ev.Status)
			}
			if got := queryRows(t, s.DB(), "SELECT count(*) FROM __sqlrooms_ephemeral.artifact_nb.remote"); got[0][0] != "3" {
				t.Errorf("previous result lost: %v", got)
			}
			if got := queryRows(t, s.DB(), "SELECT count(*) FROM duckdb_tables() WHERE table_name LIKE '__cellsd_staging%'"); got[0][0] != "0" {
				t.Errorf("%s staging tables left", got[0][0])
			}
		})
	}
	// One batch larger than DuckDB's vector size lands whole.
	b.response.Store(&scripted{200, "application/octet-stream", frames(t, batchFrame(t, ipcPayload(t, schema, big, three)), end)})
	mustRunSession(t, s, engine.RunRequest{CellID: "c1"})
	if ev := statusOf(s)["c1"]; ev.Status != engine.StatusSuccess || *ev.Rows != 5003 {
		t.Fatalf("c1: %s %s", ev.Status, ev.Err)
	}
	if got := queryRows(t, s.DB(), "SELECT n FROM __sqlrooms_ephemeral.artifact_nb.local"); got[0][0] != "5003" {
		t.Errorf("downstream count %v", got)
	}
}

// TestBridge_ArrowTypes loads the Arrow types a bridge may send that a
// Postgres cell never produces (a DuckDB-backed bridge, units other than
// µs) and compares what lands with what was sent.
func TestBridge_ArrowTypes(t *testing.T) {
	mem := memory.DefaultAllocator
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "i8", Type: arrow.PrimitiveTypes.Int8, Nullable: true},
		{Name: "u8", Type: arrow.PrimitiveTypes.Uint8, Nullable: true},
		{Name: "u16", Type: arrow.PrimitiveTypes.Uint16, Nullable: true},
		{Name: "u32", Type: arrow.PrimitiveTypes.Uint32, Nullable: true},
		{Name: "u64", Type: arrow.PrimitiveTypes.Uint64, Nullable: true},
		{Name: "ls", Type: arrow.BinaryTypes.LargeString, Nullable: true},
		{Name: "lb", Type: arrow.BinaryTypes.LargeBinary, Nullable: true},
		{Name: "ts_s", Type: &arrow.TimestampType{Unit: arrow.Second}, Nullable: true},
		{Name: "ts_ms", Type: &arrow.TimestampType{Unit: arrow.Millisecond, TimeZone: "UTC"}, Nullable: true},
		{Name: "ts_ns", Type: &arrow.TimestampType{Unit: arrow.Nanosecond}, Nullable: true},
		{Name: "t32", Type: arrow.FixedWidthTypes.Time32ms, Nullable: true},
		{Name: "t64", Type: arrow.FixedWidthTypes.Time64ns, Nullable: true},
		{Name: "", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
		{Name: "I8", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
	}, nil)
	rb := array.NewRecordBuilder(mem, schema)
	defer rb.Release()
	rb.Field(0).(*array.Int8Builder).Append(-128)
	rb.Field(1).(*array.Uint8Builder).Append(255)
	rb.Field(2).(*array.Uint16Builder).Append(65535)
	rb.Field(3).(*array.Uint32Builder).Append(4294967295)
	rb.Field(4).(*array.Uint64Builder).Append(18446744073709551615)
	rb.Field(5).(*array.LargeStringBuilder).Append("large ✓")
	rb.Field(6).(*array.BinaryBuilder).Append([]byte{0xde, 0xad})
	rb.Field(7).(*array.TimestampBuilder).Append(1704164645)             // 2024-01-02 03:04:05
	rb.Field(8).(*array.TimestampBuilder).Append(1704164645123)          // .123
	rb.Field(9).(*array.TimestampBuilder).Append(-1)                     // 1969-12-31 23:59:59.999999
	rb.Field(10).(*array.Time32Builder).Append(arrow.Time32(49455500))   // 13:44:15.5
	rb.Field(11).(*array.Time64Builder).Append(arrow.Time64(1500000000)) // 00:00:01.5
	rb.Field(12).(*array.Int32Builder).Append(1)
	rb.Field(13).(*array.Int32Builder).Append(2)
	for i := range schema.NumFields() {
		rb.Field(i).AppendNull()
	}
	rec := rb.NewRecordBatch()
	defer rec.Release()
	b := &scriptedBridge{}
	b.response.Store(&scripted{200, "application/octet-stream", frames(t, batchFrame(t, ipcPayload(t, schema, rec)), bridge.FrameHeader{Type: bridge.FrameEnd})})
	srv := httptest.NewServer(b)
	defer srv.Close()
	s := openPGSession(t, parseNotebook(t, art(bridgeCell("c1", "remote", "SELECT 1"))), bridgeRegistry(t, srv.URL, nil), engine.SessionOptions{})
	mustRunSession(t, s, engine.RunRequest{})
	if ev := statusOf(s)["c1"]; ev.Status != engine.StatusSuccess || *ev.Rows != 2 {
		t.Fatalf("c1: %s %s", ev.Status, ev.Err)
	}
	got := queryRows(t, s.DB(), `SELECT COLUMNS(*)::VARCHAR FROM __sqlrooms_ephemeral.artifact_nb.remote ORDER BY i8 NULLS LAST`)
	want := [][]string{
		{"-128", "255", "65535", "4294967295", "18446744073709551615", "large ✓", `\xDE\xAD`, "2024-01-02 03:04:05",
			"2024-01-02 03:04:05.123+00", "1969-12-31 23:59:59.999999", "13:44:15.5", "00:00:01.5", "1", "2"},
		{"NULL", "NULL", "NULL", "NULL", "NULL", "NULL", "NULL", "NULL", "NULL", "NULL", "NULL", "NULL", "NULL", "NULL"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got\n%v\nwant\n%v", got, want)
	}
	cols := queryRows(t, s.DB(), "SELECT string_agg(column_name || ' ' || data_type, ', ' ORDER BY ordinal_position) FROM information_schema.columns WHERE table_name = 'remote'")
	if want := "i8 TINYINT, u8 UTINYINT, u16 USMALLINT, u32 UINTEGER, u64 UBIGINT, ls VARCHAR, lb BLOB, ts_s TIMESTAMP, ts_ms TIMESTAMP WITH TIME ZONE, ts_ns TIMESTAMP, t32 TIME, t64 TIME, column12 INTEGER, I8_1 INTEGER"; cols[0][0] != want {
		t.Errorf("columns %s, want %s", cols[0][0], want)
	}
}

// TestBridge_DuckDBDialect checks that a bridge connection with dialect
// duckdb parses its cells with DuckDB's parser: FROM-first syntax is no
// parse error, and its names still resolve remotely.
func TestBridge_DuckDBDialect(t *testing.T) {
	nb := parseNotebook(t, art(
		bridgeCell("c1", "remote", "FROM local SELECT 1 AS id"),
		sqlCell("c2", "local", "SELECT 1 AS x"),
	))
	for _, tc := range []struct {
		dialect string
		parse   bool
	}{{"duckdb", false}, {"postgres", true}} {
		reg := bridgeRegistry(t, "http://127.0.0.1:1", func(c *connectors.Connection) { c.Dialect = tc.dialect })
		s := openPGSession(t, nb, reg, engine.SessionOptions{})
		for _, a := range s.Plan().Artifacts {
			for _, cp := range a.Cells {
				if cp.Cell.ID != "c1" {
					continue
				}
				if len(cp.Deps) != 0 {
					t.Errorf("%s: c1 deps %v, want none", tc.dialect, cp.Deps)
				}
				var parse bool
				for _, e := range cp.Errors {
					parse = parse || e.Kind == engine.KindParse
				}
				if parse != tc.parse {
					t.Errorf("%s: parse error %v, want %v (%v)", tc.dialect, parse, tc.parse, cp.Errors)
				}
			}
		}
	}
}

// TestBridge_Arrays reads Postgres arrays through cellsd's bridge server,
// which sends them as Arrow lists.
func TestBridge_Arrays(t *testing.T) {
	srv := newCellsdBridge(t, "")
	sql := `SELECT ARRAY[1, NULL, 3] AS a, ARRAY['x', 'y z'] AS t, ARRAY[date '2024-02-29'] AS d,
		ARRAY[timestamptz '2024-01-02 03:04:05.5+00'] AS ts, '{}'::int8[] AS e, NULL::int4[] AS n`
	s := openPGSession(t, parseNotebook(t, art(bridgeCell("c1", "remote", sql))), bridgeRegistry(t, srv.URL, nil), engine.SessionOptions{})
	mustRunSession(t, s, engine.RunRequest{})
	if ev := statusOf(s)["c1"]; ev.Status != engine.StatusSuccess {
		t.Fatalf("c1: %s %s", ev.Status, ev.Err)
	}
	got := queryRows(t, s.DB(), `SELECT CAST(a AS VARCHAR), CAST(t AS VARCHAR), CAST(d AS VARCHAR), CAST(epoch_us(ts[1]) AS VARCHAR),
		CAST(e AS VARCHAR), CAST(n AS VARCHAR) FROM __sqlrooms_ephemeral.artifact_nb.remote`)
	want := [][]string{{"[1, NULL, 3]", "[x, y z]", "[2024-02-29]", "1704164645500000", "[]", "NULL"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	cols := queryRows(t, s.DB(), "SELECT string_agg(data_type, ', ' ORDER BY ordinal_position) FROM information_schema.columns WHERE table_name = 'remote'")
	if want := "INTEGER[], VARCHAR[], DATE[], TIMESTAMP WITH TIME ZONE[], BIGINT[], INTEGER[]"; cols[0][0] != want {
		t.Errorf("columns %s, want %s", cols[0][0], want)
	}
}
