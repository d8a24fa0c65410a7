package bridgeserver_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/ipc"

	"github.com/cellsd/cellsd/connectors"
	"github.com/cellsd/cellsd/connectors/bridge"
	"github.com/cellsd/cellsd/engine/daemon/bridgeserver"
	"github.com/cellsd/cellsd/internal/leaktest"
	"github.com/cellsd/cellsd/internal/poll"
	"github.com/cellsd/cellsd/internal/sqlroomstest"
)

// people fills a Postgres table with the scalar types the columnar path
// decodes, an array column the row path takes, NULLs, and a view.
func (e *bridgeEnv) people(t testing.TB) {
	t.Helper()
	sqlroomstest.People(t, e.Pool, e.Schema)
}

// peopleRows is people as cell decodes it, without tags.
var peopleRows = [][]any{
	{int64(1), "Ada", "12.34", time.Date(2024, 1, 2, 3, 4, 5, 123456000, time.UTC), true, 0.5,
		time.Date(2024, 1, 2, 0, 0, 0, 0, time.UTC), "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"},
	{int64(2), "Grace", "-0.50", time.Date(1999, 12, 31, 23, 59, 59, 0, time.UTC), false, -1.25,
		time.Date(1999, 12, 31, 0, 0, 0, 0, time.UTC), "00000000-0000-0000-0000-000000000001"},
	{int64(3), nil, nil, nil, nil, nil, nil, nil},
}

const peopleColumns = "id, name, amount, at, flag, ratio, day, u"

func TestServer_TestConnection(t *testing.T) {
	env := startBridge(t)
	cases := []struct {
		name string
		body any
		ok   bool
	}{
		{"Postgres", map[string]any{"connectionId": "pg"}, true},
		{"Core", map[string]any{"connectionId": connectors.CoreID}, true},
		{"AdHocDSN", map[string]any{"engine": "postgres", "config": map[string]any{"dsn": env.DSN}}, true},
		{"AdHocUnreachable", map[string]any{"engine": "postgres", "config": map[string]any{
			"host": "127.0.0.1", "port": 1, "database": "test", "user": "postgres", "password": "hunter2"}}, false},
		{"AdHocDuckDB", map[string]any{"engine": "duckdb"}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var got bridge.TestConnectionResponse
			env.postJSON(t, "/api/db/test-connection", c.body, http.StatusOK, &got)
			if got.OK != c.ok {
				t.Fatalf("ok = %v (%s), want %v", got.OK, got.Error, c.ok)
			}
			if !c.ok && (got.Error == "" || strings.Contains(got.Error, "hunter2")) {
				t.Fatalf("error %q: want a reason without the password", got.Error)
			}
		})
	}
	t.Run("UnknownConnection", func(t *testing.T) {
		env.wantError(t, "/api/db/test-connection", map[string]any{"connectionId": "nope"}, http.StatusNotFound, `unknown connection "nope"`)
	})
	t.Run("AdHocUnknownKey", func(t *testing.T) {
		env.wantError(t, "/api/db/test-connection", map[string]any{"engine": "postgres", "config": map[string]any{"password_env": "HOME"}},
			http.StatusBadRequest, `unknown key "password_env"`)
	})
	t.Run("Nothing", func(t *testing.T) {
		env.wantError(t, "/api/db/test-connection", map[string]any{}, http.StatusBadRequest, "missing connectionId")
	})
}

func TestServer_ListCatalog(t *testing.T) {
	env := startBridge(t)
	env.people(t)
	if _, err := env.Core.Exec(`CREATE TABLE core_t (a INT); CREATE VIEW core_v AS SELECT 1 AS x; CREATE SCHEMA s2`); err != nil {
		t.Fatal(err)
	}
	t.Run("Postgres", func(t *testing.T) {
		var got bridge.CatalogResponse
		env.postJSON(t, "/api/db/list-catalog", map[string]any{"connectionId": "pg"}, http.StatusOK, &got)
		var db string
		if err := env.Pool.QueryRow(context.Background(), "SELECT current_database()").Scan(&db); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got.Databases, []bridge.CatalogDatabase{{Database: db}}) {
			t.Fatalf("databases: %+v, want %s", got.Databases, db)
		}
		if !contains(got.Schemas, bridge.CatalogSchema{Database: db, Schema: env.Schema}) {
			t.Fatalf("schema %s missing from %+v", env.Schema, got.Schemas)
		}
		for _, s := range got.Schemas {
			if s.Schema == "pg_catalog" || s.Schema == "information_schema" {
				t.Fatalf("system schema listed: %+v", s)
			}
		}
		for _, want := range []bridge.CatalogTable{
			{Database: db, Schema: env.Schema, Table: "people"},
			{Database: db, Schema: env.Schema, Table: "people_names", IsView: true},
		} {
			if !contains(got.Tables, want) {
				t.Fatalf("%+v missing from the tables", want)
			}
		}
	})
	t.Run("Core", func(t *testing.T) {
		var got bridge.CatalogResponse
		env.postJSON(t, "/api/db/list-catalog", map[string]any{"connectionId": connectors.CoreID}, http.StatusOK, &got)
		want := bridge.CatalogResponse{
			Databases: []bridge.CatalogDatabase{{Database: "memory"}},
			Schemas:   []bridge.CatalogSchema{{Database: "memory", Schema: "main"}, {Database: "memory", Schema: "s2"}},
			Tables: []bridge.CatalogTable{
				{Database: "memory", Schema: "main", Table: "core_t"},
				{Database: "memory", Schema: "main", Table: "core_v", IsView: true},
			},
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("got %+v\nwant %+v", got, want)
		}
	})
	t.Run("UnknownConnection", func(t *testing.T) {
		env.wantError(t, "/api/db/list-catalog", map[string]any{"connectionId": "nope"}, http.StatusNotFound, "unknown connection")
	})
}

func contains[T comparable](list []T, v T) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

func TestServer_ExecuteQuery(t *testing.T) {
	env := startBridge(t)
	env.people(t)
	t.Run("PostgresJSON", func(t *testing.T) {
		res := env.post(t, "/api/db/execute-query", map[string]any{"connectionId": "pg", "queryType": "json",
			"sql": fmt.Sprintf("SELECT %s, tags FROM %s.people ORDER BY id", peopleColumns, env.Schema)})
		body, _ := io.ReadAll(res.Body)
		want := `{"jsonData":[` +
			`{"id":1,"name":"Ada","amount":12.34,"at":"2024-01-02T03:04:05.123456Z","flag":true,"ratio":0.5,"day":"2024-01-02","u":"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11","tags":[1,2]},` +
			`{"id":2,"name":"Grace","amount":-0.50,"at":"1999-12-31T23:59:59Z","flag":false,"ratio":-1.25,"day":"1999-12-31","u":"00000000-0000-0000-0000-000000000001","tags":[]},` +
			`{"id":3,"name":null,"amount":null,"at":null,"flag":null,"ratio":null,"day":null,"u":null,"tags":null}]}` + "\n"
		if res.StatusCode != http.StatusOK || string(body) != want {
			t.Fatalf("status %d\n got %s\nwant %s", res.StatusCode, body, want)
		}
	})
	t.Run("CoreJSON", func(t *testing.T) {
		res := env.post(t, "/api/db/execute-query", map[string]any{"connectionId": connectors.CoreID, "queryType": "json",
			"sql": `SELECT 1::TINYINT AS i1, 2::UBIGINT AS u8, 123456789012345678901234567890::HUGEINT AS h, 'x' AS s,
				1.5::FLOAT AS f, 'NaN'::DOUBLE AS nan, 1.005::DECIMAL(10,3) AS d, DATE '2024-02-29' AS day,
				TIME '01:02:03.5' AS t, TIMESTAMP '2024-01-01 10:00:00' AS ts, INTERVAL 3 DAY AS iv,
				'0b0e6b2e-9f4d-4c1b-9d1c-6d4c2d0f3a11'::UUID AS u, [1, NULL, 3] AS l, {'a': 1, 'b': 'x'} AS st,
				'{"k":[1,2]}'::JSON AS j, '\x01\x02'::BLOB AS b, NULL AS n`})
		body, _ := io.ReadAll(res.Body)
		want := `{"jsonData":[{"i1":1,"u8":2,"h":123456789012345678901234567890,"s":"x","f":1.5,"nan":"NaN","d":1.005,` +
			`"day":"2024-02-29","t":"01:02:03.5","ts":"2024-01-01T10:00:00","iv":{"days":3,"micros":0,"months":0},` +
			`"u":"0b0e6b2e-9f4d-4c1b-9d1c-6d4c2d0f3a11","l":[1,null,3],"st":{"a":1,"b":"x"},"j":{"k":[1,2]},"b":"AQI=","n":null}]}` + "\n"
		if res.StatusCode != http.StatusOK || string(body) != want {
			t.Fatalf("status %d\n got %s\nwant %s", res.StatusCode, body, want)
		}
	})
	t.Run("CoreExec", func(t *testing.T) {
		var got bridge.ExecuteQueryResponse
		env.postJSON(t, "/api/db/execute-query", map[string]any{"connectionId": connectors.CoreID, "queryType": "exec",
			"sql": "CREATE TABLE made (a INT); INSERT INTO made VALUES (1), (2)"}, http.StatusOK, &got)
		var n int
		if err := env.Core.QueryRow("SELECT count(*) FROM made").Scan(&n); err != nil || n != 2 || !got.OK {
			t.Fatalf("count %d, %v, response %+v", n, err, got)
		}
	})
	t.Run("PostgresExecReadOnly", func(t *testing.T) {
		env.wantError(t, "/api/db/execute-query", map[string]any{"connectionId": "pg", "queryType": "exec",
			"sql": fmt.Sprintf("INSERT INTO %s.people (id) VALUES (9)", env.Schema)},
			http.StatusUnprocessableEntity, "read-only transaction")
	})
	t.Run("PostgresExecReadWrite", func(t *testing.T) {
		var got bridge.ExecuteQueryResponse
		env.postJSON(t, "/api/db/execute-query", map[string]any{"connectionId": "pgrw", "queryType": "exec",
			"sql": fmt.Sprintf("INSERT INTO %s.people (id) VALUES (9)", env.Schema)}, http.StatusOK, &got)
		var n int
		if err := env.Pool.QueryRow(context.Background(), fmt.Sprintf("SELECT count(*) FROM %s.people WHERE id = 9", env.Schema)).Scan(&n); err != nil || n != 1 {
			t.Fatalf("count %d, %v", n, err)
		}
	})
	t.Run("Errors", func(t *testing.T) {
		for _, c := range []struct {
			name   string
			body   any
			status int
			substr string
		}{
			{"PostgresSQL", map[string]any{"connectionId": "pg", "queryType": "json", "sql": "SELEC 1"}, http.StatusUnprocessableEntity, "syntax error"},
			{"CoreSQL", map[string]any{"connectionId": connectors.CoreID, "queryType": "json", "sql": "SELECT * FROM nowhere"}, http.StatusUnprocessableEntity, "nowhere"},
			{"QueryType", map[string]any{"connectionId": "pg", "queryType": "arrow", "sql": "SELECT 1"}, http.StatusBadRequest, "queryType"},
			{"MissingSQL", map[string]any{"connectionId": "pg", "queryType": "json"}, http.StatusBadRequest, "missing sql"},
			{"MissingConnection", map[string]any{"queryType": "json", "sql": "SELECT 1"}, http.StatusBadRequest, "missing connectionId"},
			{"UnknownConnection", map[string]any{"connectionId": "nope", "queryType": "json", "sql": "SELECT 1"}, http.StatusNotFound, `unknown connection "nope"`},
			{"MalformedJSON", `{"connectionId": "pg",`, http.StatusBadRequest, "malformed JSON"},
			{"TwoValues", `{"connectionId":"pg","queryType":"json","sql":"SELECT 1"} {}`, http.StatusBadRequest, "more than one JSON value"},
		} {
			t.Run(c.name, func(t *testing.T) { env.wantError(t, "/api/db/execute-query", c.body, c.status, c.substr) })
		}
	})
}

func TestServer_FetchArrow(t *testing.T) {
	env := startBridge(t)
	env.people(t)
	fetch := func(t *testing.T, body any) [][]any {
		res := env.post(t, "/api/db/fetch-arrow", body)
		payload, _ := io.ReadAll(res.Body)
		if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != bridgeserver.ArrowStreamType {
			t.Fatalf("status %d, %s: %s", res.StatusCode, res.Header.Get("Content-Type"), payload)
		}
		_, rows := decodeIPC(t, payload)
		return rows
	}
	t.Run("PostgresColumnar", func(t *testing.T) {
		got := fetch(t, map[string]any{"connectionId": "pg", "sql": fmt.Sprintf("SELECT %s FROM %s.people ORDER BY id", peopleColumns, env.Schema)})
		if !reflect.DeepEqual(got, peopleRows) {
			t.Fatalf("got %v\nwant %v", got, peopleRows)
		}
	})
	t.Run("PostgresRowPath", func(t *testing.T) {
		got := fetch(t, map[string]any{"connectionId": "pg", "sql": fmt.Sprintf("SELECT %s, tags FROM %s.people ORDER BY id", peopleColumns, env.Schema)})
		tags := [][]any{{int64(1), int64(2)}, {}, nil}
		for i := range got {
			want := append(append([]any{}, peopleRows[i]...), any(tags[i]))
			if tags[i] == nil {
				want[len(want)-1] = nil
			}
			if !reflect.DeepEqual(got[i], want) {
				t.Fatalf("row %d: got %v\nwant %v", i, got[i], want)
			}
		}
	})
	t.Run("Core", func(t *testing.T) {
		got := fetch(t, map[string]any{"connectionId": connectors.CoreID, "sql": `SELECT 42::BIGINT AS a, 'x' AS b, 2.50::DECIMAL(5,2) AS c,
			TIMESTAMPTZ '2024-01-02 03:04:05+00' AS d, [1, 2]::INTEGER[] AS e, NULL::INTEGER AS f UNION ALL SELECT 43, NULL, NULL, NULL, NULL, 7`})
		want := [][]any{
			{int64(42), "x", "2.50", time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC), []any{int64(1), int64(2)}, nil},
			{int64(43), nil, nil, nil, nil, int64(7)},
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("got %v\nwant %v", got, want)
		}
	})
	t.Run("CoreTypes", func(t *testing.T) {
		res := env.post(t, "/api/db/fetch-arrow", map[string]any{"connectionId": connectors.CoreID, "sql": `SELECT
			1::TINYINT AS i1, 2::UBIGINT AS u8, 1.5::FLOAT AS f4, DATE '2024-02-29' AS day, TIME '01:02:03.5' AS t,
			TIMESTAMP '2024-01-01 10:00:00' AS ts, TIMESTAMP_NS '2024-01-01 10:00:00.000000001' AS tsns,
			INTERVAL 3 DAY AS iv, '0b0e6b2e-9f4d-4c1b-9d1c-6d4c2d0f3a11'::UUID AS u, '\x01\x02'::BLOB AS b,
			'{"k":1}'::JSON AS j, {'a': 1} AS st, 12::HUGEINT AS h, 'x'::ENUM('x', 'y') AS e`})
		payload, _ := io.ReadAll(res.Body)
		if res.StatusCode != http.StatusOK {
			t.Fatalf("status %d: %s", res.StatusCode, payload)
		}
		schema, rows := decodeIPC(t, payload)
		var types []string
		for _, f := range schema.Fields() {
			types = append(types, f.Type.String())
		}
		wantTypes := []string{"int8", "uint64", "float32", "date32", "time64[us]", "timestamp[us]", "timestamp[ns]",
			"month_day_nano_interval", "fixed_size_binary[16]", "binary", "utf8", "utf8", "utf8", "utf8"}
		if !reflect.DeepEqual(types, wantTypes) {
			t.Fatalf("types %v\nwant %v", types, wantTypes)
		}
		want := []any{"1", "2", "1.5", time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC), "01:02:03.500000", time.Date(2024, 1, 1, 10, 0, 0, 0, time.UTC),
			time.Date(2024, 1, 1, 10, 0, 0, 1, time.UTC), `{"months":0,"days":3,"nanoseconds":0}`, "0b0e6b2e-9f4d-4c1b-9d1c-6d4c2d0f3a11", "AQI=", `{"k":1}`, `{"a":1}`, "12", "x"}
		if len(rows) != 1 || fmt.Sprint(rows[0]) != fmt.Sprint(want) {
			t.Fatalf("got %v\nwant %v", rows, want)
		}
	})
	t.Run("NoRows", func(t *testing.T) {
		if got := fetch(t, map[string]any{"connectionId": "pg", "sql": "SELECT 1 AS a WHERE false"}); len(got) != 0 {
			t.Fatalf("got %v", got)
		}
	})
	t.Run("SQLError", func(t *testing.T) {
		env.wantError(t, "/api/db/fetch-arrow", map[string]any{"connectionId": "pg", "sql": "SELECT * FROM nowhere"},
			http.StatusUnprocessableEntity, `relation "nowhere" does not exist`)
	})
	t.Run("ErrorAfterRows", func(t *testing.T) {
		// The error comes before the first MiB of the answer: still a status.
		env.wantError(t, "/api/db/fetch-arrow", map[string]any{"connectionId": "pg",
			"sql": "SELECT g, 1 / (g - 3000) AS boom FROM generate_series(1, 5000) g"},
			http.StatusUnprocessableEntity, "division by zero")
	})
	t.Run("ErrorAfterCommit", func(t *testing.T) {
		// Megabytes went out before the error: the answer is cut, never
		// complete-looking.
		res := env.post(t, "/api/db/fetch-arrow", map[string]any{"connectionId": "pg",
			"sql": "SELECT g, repeat('x', 1000) AS pad, 1 / (g - 9000) AS boom FROM generate_series(1, 10000) g"})
		if res.StatusCode != http.StatusOK {
			t.Fatalf("status %d", res.StatusCode)
		}
		if _, err := io.ReadAll(res.Body); err == nil {
			t.Fatal("read the whole answer of a failed query without an error")
		}
	})
	t.Run("UnknownConnection", func(t *testing.T) {
		env.wantError(t, "/api/db/fetch-arrow", map[string]any{"connectionId": "nope", "sql": "SELECT 1"}, http.StatusNotFound, "unknown connection")
	})
}

func TestServer_FetchArrowStream(t *testing.T) {
	env := startBridge(t)
	stream := func(t *testing.T, body any) []frame {
		res := env.post(t, "/api/db/fetch-arrow-stream", body)
		if res.StatusCode != http.StatusOK {
			b, _ := io.ReadAll(res.Body)
			t.Fatalf("status %d: %s", res.StatusCode, b)
		}
		return readFrames(t, res.Body)
	}
	for _, conn := range []string{"pg", connectors.CoreID} {
		t.Run("Chunks/"+conn, func(t *testing.T) {
			frames := stream(t, map[string]any{"connectionId": conn, "queryId": "q-" + conn, "chunkRows": 1000,
				"sql": "SELECT g::BIGINT AS id, 'row ' || g AS name FROM generate_series(1, 10500) AS s(g) ORDER BY g"})
			if len(frames) != 12 || frames[11].Type != bridge.FrameEnd {
				t.Fatalf("%d frames (last %+v), want 11 batches and an end", len(frames), frames[len(frames)-1].FrameHeader)
			}
			next := int64(1)
			for i, f := range frames[:11] {
				want := 1000
				if i == 10 {
					want = 500
				}
				if f.Type != bridge.FrameBatch || f.QueryID != "q-"+conn || len(f.rows) != want {
					t.Fatalf("frame %d: %+v with %d rows, want a batch of %d", i, f.FrameHeader, len(f.rows), want)
				}
				for _, r := range f.rows {
					if r[0] != next || r[1] != fmt.Sprintf("row %d", next) {
						t.Fatalf("frame %d: row %v, want id %d", i, r, next)
					}
					next++
				}
			}
		})
	}
	t.Run("Concurrent", func(t *testing.T) {
		// Fresh server: the first requests race to open the pool.
		url, _ := serveBridge(t, bridgeserver.ServerConfig{Connections: mustRegistry(t, env.DSN), Core: env.Core})
		mine := &bridgeEnv{URL: url}
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for i := range 8 {
			conn := "pg"
			if i%2 == 1 {
				conn = connectors.CoreID
			}
			res := mine.post(t, "/api/db/fetch-arrow-stream", map[string]any{"connectionId": conn, "chunkRows": 700,
				"sql": fmt.Sprintf("SELECT g::BIGINT AS id FROM generate_series(1, %d) AS s(g)", 5000+i)})
			wg.Go(func() {
				n := 0
				for {
					h, payload, err := bridge.ReadFrame(res.Body, 0)
					if err != nil || h.Type == bridge.FrameError {
						errs <- fmt.Errorf("%s: %v %s", conn, err, h.Error)
						return
					}
					if h.Type == bridge.FrameEnd {
						break
					}
					rd, err := ipc.NewReader(bytes.NewReader(payload))
					if err != nil {
						errs <- err
						return
					}
					for rd.Next() {
						n += int(rd.RecordBatch().NumRows())
					}
					rd.Release()
				}
				if n != 5000+i {
					errs <- fmt.Errorf("%s: %d rows, want %d", conn, n, 5000+i)
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	})
	t.Run("DefaultChunk", func(t *testing.T) {
		frames := stream(t, map[string]any{"connectionId": "pg", "sql": "SELECT g FROM generate_series(1, 25000) g"})
		if len(frames) != 4 || len(frames[0].rows) != bridgeserver.DefaultChunkRows || len(frames[2].rows) != 5000 {
			t.Fatalf("%d frames", len(frames))
		}
	})
	t.Run("NoRows", func(t *testing.T) {
		frames := stream(t, map[string]any{"connectionId": "pg", "sql": "SELECT 1::int AS a, 'x'::text AS b WHERE false"})
		if len(frames) != 2 || frames[0].Type != bridge.FrameBatch || len(frames[0].rows) != 0 ||
			frames[0].schema.NumFields() != 2 || frames[1].Type != bridge.FrameEnd {
			t.Fatalf("frames %+v", frames)
		}
	})
	t.Run("SQLError", func(t *testing.T) {
		frames := stream(t, map[string]any{"connectionId": "pg", "sql": "SELECT * FROM nowhere"})
		if len(frames) != 1 || frames[0].Type != bridge.FrameError || !strings.Contains(frames[0].Error, "nowhere") {
			t.Fatalf("frames %+v", frames)
		}
	})
	t.Run("ErrorMidStream", func(t *testing.T) {
		// 1/(g - 3000) fails at row 3000, after a first frame went out.
		frames := stream(t, map[string]any{"connectionId": "pg", "chunkRows": 1000,
			"sql": "SELECT g, 1 / (g - 3000) AS boom FROM generate_series(1, 5000) g"})
		last := frames[len(frames)-1]
		if len(frames) < 2 || frames[0].Type != bridge.FrameBatch || last.Type != bridge.FrameError || !strings.Contains(last.Error, "division by zero") {
			t.Fatalf("%d frames, last %+v", len(frames), last.FrameHeader)
		}
	})
	t.Run("UnknownConnection", func(t *testing.T) {
		env.wantError(t, "/api/db/fetch-arrow-stream", map[string]any{"connectionId": "nope", "sql": "SELECT 1"}, http.StatusNotFound, "unknown connection")
	})
	t.Run("NegativeChunk", func(t *testing.T) {
		env.wantError(t, "/api/db/fetch-arrow-stream", map[string]any{"connectionId": "pg", "sql": "SELECT 1", "chunkRows": -1}, http.StatusBadRequest, "chunkRows")
	})
}

// TestServer_CancelQuery cancels a streamed Postgres query through
// cancel-query and watches its backend leave pg_stat_activity.
func TestServer_CancelQuery(t *testing.T) {
	env := startBridge(t)
	for i := range 3 { // timing-dependent: repeated
		marker := fmt.Sprintf("cancel_me_%s_%d", env.Schema, i)
		res := env.post(t, "/api/db/fetch-arrow-stream", map[string]any{"connectionId": "pg", "queryId": marker,
			"sql": "SELECT 1 AS one, pg_sleep(60)::text AS /* " + marker + " */ slept"})
		if res.StatusCode != http.StatusOK {
			t.Fatalf("status %d", res.StatusCode)
		}
		env.waitActive(t, marker)
		var dup bridge.ErrorResponse
		env.postJSON(t, "/api/db/fetch-arrow-stream", map[string]any{"connectionId": "pg", "queryId": marker, "sql": "SELECT 1"}, http.StatusConflict, &dup)

		var got bridge.CancelResponse
		env.postJSON(t, "/api/db/cancel-query", map[string]any{"queryId": marker}, http.StatusOK, &got)
		if !got.Cancelled {
			t.Fatal("cancelled = false for a running query")
		}
		frames := readFrames(t, res.Body)
		if len(frames) != 1 || frames[0].Type != bridge.FrameError || !strings.Contains(frames[0].Error, "query cancelled") {
			t.Fatalf("frames %+v", frames)
		}
		env.waitGone(t, marker)
	}
	t.Run("Core", func(t *testing.T) {
		res := env.post(t, "/api/db/fetch-arrow-stream", map[string]any{"connectionId": connectors.CoreID, "queryId": "core-long",
			"sql": "SELECT count(*) FROM range(1000000000000)"})
		poll.Until(t, 5*time.Second, 10*time.Millisecond, func() error {
			var got bridge.CancelResponse
			env.postJSON(t, "/api/db/cancel-query", map[string]any{"queryId": "core-long"}, http.StatusOK, &got)
			if !got.Cancelled {
				return fmt.Errorf("core-long not running yet")
			}
			return nil
		})
		frames := readFrames(t, res.Body)
		if len(frames) != 1 || frames[0].Type != bridge.FrameError || !strings.Contains(frames[0].Error, "query cancelled") {
			t.Fatalf("frames %+v", frames)
		}
	})
	t.Run("Unknown", func(t *testing.T) {
		var got bridge.CancelResponse
		env.postJSON(t, "/api/db/cancel-query", map[string]any{"queryId": "never-ran"}, http.StatusOK, &got)
		if got.Cancelled {
			t.Fatal("cancelled = true for an unknown query")
		}
	})
	t.Run("MissingID", func(t *testing.T) {
		env.wantError(t, "/api/db/cancel-query", map[string]any{}, http.StatusBadRequest, "missing queryId")
	})
}

// TestServer_ClientGoesAway: a client that drops the stream cancels the
// query on the server.
func TestServer_ClientGoesAway(t *testing.T) {
	env := startBridge(t)
	for i := range 3 {
		marker := fmt.Sprintf("dropped_%s_%d", env.Schema, i)
		res := env.post(t, "/api/db/fetch-arrow-stream", map[string]any{"connectionId": "pg", "chunkRows": 1000,
			"sql": "SELECT g, CASE WHEN g = 5000 THEN pg_sleep(60)::text END AS /* " + marker + " */ s FROM generate_series(1, 10000) g"})
		h, _, err := bridge.ReadFrame(res.Body, 0)
		if err != nil || h.Type != bridge.FrameBatch {
			t.Fatalf("first frame %+v: %v", h, err)
		}
		env.waitActive(t, marker)
		res.Body.Close()
		env.waitGone(t, marker)
	}
}

func TestServer_ListConnections(t *testing.T) {
	reg, err := connectors.NewRegistry(
		connectors.Connection{ID: "wh", Engine: connectors.EnginePostgres, Title: "Warehouse", Host: "db.internal", Port: "5433",
			Database: "wh", User: "reader", Password: "hunter2", StatementTimeout: "30s"},
		connectors.Connection{ID: "dsn", Engine: connectors.EnginePostgres, DSN: "postgres://app:s3cr3t@10.0.0.1:5432/app?sslmode=disable&password=other"},
		// Served to this process's notebooks, not onward: not listed.
		connectors.Connection{ID: "remote", Engine: connectors.EngineBridge, URL: "http://10.0.0.2:8765", RemoteID: "pg"},
	)
	if err != nil {
		t.Fatal(err)
	}
	url, _ := serveBridge(t, bridgeserver.ServerConfig{Connections: reg, Core: openCore(t), BridgeID: "srv"})
	env := &bridgeEnv{URL: url}
	want := []bridge.DbConnection{
		{ID: connectors.CoreID, EngineID: "duckdb", Title: "Core DuckDB", RuntimeSupport: "server", RequiresBridge: true, BridgeID: "srv", IsCore: true},
		{ID: "dsn", EngineID: "postgres", Title: "dsn", RuntimeSupport: "server", RequiresBridge: true, BridgeID: "srv",
			Config: map[string]string{"host": "10.0.0.1", "port": "5432", "database": "app", "user": "app", "readOnly": "true"}},
		{ID: "wh", EngineID: "postgres", Title: "Warehouse", RuntimeSupport: "server", RequiresBridge: true, BridgeID: "srv",
			Config: map[string]string{"host": "db.internal", "port": "5433", "database": "wh", "user": "reader", "readOnly": "true", "statementTimeout": "30s"}},
	}
	for _, method := range []string{http.MethodGet, http.MethodPost} {
		t.Run(method, func(t *testing.T) {
			res := env.do(t, method, "/api/db/list-connections", nil, testToken)
			body, _ := io.ReadAll(res.Body)
			if res.StatusCode != http.StatusOK {
				t.Fatalf("status %d: %s", res.StatusCode, body)
			}
			for _, secret := range []string{"hunter2", "s3cr3t", "other"} {
				if bytes.Contains(body, []byte(secret)) {
					t.Fatalf("secret %q in %s", secret, body)
				}
			}
			var got bridge.ListConnectionsResponse
			if err := json.Unmarshal(body, &got); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got.Connections, want) {
				t.Fatalf("got %+v\nwant %+v", got.Connections, want)
			}
		})
	}
}

func TestServer_Auth(t *testing.T) {
	url, _ := serveBridge(t, bridgeserver.ServerConfig{Core: openCore(t)})
	env := &bridgeEnv{URL: url}
	for _, c := range []struct {
		name, token string
		status      int
	}{{"None", "", http.StatusUnauthorized}, {"Wrong", "s3cret-tokeN", http.StatusUnauthorized}, {"Prefix", "s3cret", http.StatusUnauthorized}, {"Right", testToken, http.StatusOK}} {
		t.Run(c.name, func(t *testing.T) {
			res := env.do(t, http.MethodPost, "/api/db/test-connection", map[string]any{"connectionId": connectors.CoreID}, c.token)
			var er bridge.ErrorResponse
			decodeAnswer(t, res, c.status, &er)
			if c.status == http.StatusUnauthorized && (er.Error == "" || res.Header.Get("WWW-Authenticate") == "") {
				t.Fatalf("401 without an error or WWW-Authenticate: %+v", er)
			}
		})
	}
	t.Run("NoTokenConfigured", func(t *testing.T) {
		h := bridgeserver.RequireToken("", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) }))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/api/db/list-connections", nil))
		if rec.Code != http.StatusTeapot {
			t.Fatalf("status %d", rec.Code)
		}
	})
}

func TestServer_Limits(t *testing.T) {
	url, _ := serveBridge(t, bridgeserver.ServerConfig{Core: openCore(t)})
	env := &bridgeEnv{URL: url}
	big := `{"connectionId":"duckdb-core","queryType":"json","sql":"SELECT '` + strings.Repeat("x", 16<<20) + `'"}`
	t.Run("BodyTooLarge", func(t *testing.T) {
		env.wantError(t, "/api/db/execute-query", big, http.StatusRequestEntityTooLarge, "exceeds the limit")
	})
	t.Run("BodyTooLargeChunked", func(t *testing.T) {
		// No Content-Length: the limit applies while reading.
		env.wantError(t, "/api/db/execute-query", io.MultiReader(strings.NewReader(big)), http.StatusRequestEntityTooLarge, "exceeds the limit")
	})
	t.Run("WrongMethod", func(t *testing.T) {
		res := env.do(t, http.MethodGet, "/api/db/execute-query", nil, testToken)
		decodeAnswer(t, res, http.StatusMethodNotAllowed, &bridge.ErrorResponse{})
		if res.Header.Get("Allow") != http.MethodPost {
			t.Fatalf("Allow %q", res.Header.Get("Allow"))
		}
	})
	t.Run("UnknownEndpoint", func(t *testing.T) {
		env.wantError(t, "/api/db/drop-everything", map[string]any{}, http.StatusNotFound, "no bridge endpoint")
	})
	t.Run("EmptyBody", func(t *testing.T) {
		env.wantError(t, "/api/db/execute-query", "", http.StatusBadRequest, "empty request body")
	})
}

// TestServer_Close: Close cancels the queries in flight, waits for them,
// closes the pools, refuses later requests, and leaves no goroutine.
func TestServer_Close(t *testing.T) {
	env := startBridge(t) // for the pool and schema only
	http.DefaultClient.CloseIdleConnections()
	verify := leaktest.Start(t)
	srv := bridgeserver.NewServer(bridgeserver.ServerConfig{Connections: mustRegistry(t, env.DSN), Core: env.Core})
	ts := httptest.NewServer(srv)
	defer ts.Close()
	mine := &bridgeEnv{URL: ts.URL, Pool: env.Pool}
	var ok bridge.TestConnectionResponse
	mine.postJSON(t, "/api/db/test-connection", map[string]any{"connectionId": "pg"}, http.StatusOK, &ok)
	marker := "close_me_" + env.Schema
	res := mine.post(t, "/api/db/fetch-arrow-stream", map[string]any{"connectionId": "pg", "sql": "SELECT pg_sleep(60)::text AS /* " + marker + " */ s"})
	env.waitActive(t, marker)

	done := make(chan error, 1)
	go func() { done <- srv.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return")
	}
	frames := readFrames(t, res.Body)
	if len(frames) != 1 || frames[0].Type != bridge.FrameError || !strings.Contains(frames[0].Error, bridgeserver.ErrServerClosed.Error()) {
		t.Fatalf("frames %+v", frames)
	}
	env.waitGone(t, marker)
	mine.wantError(t, "/api/db/test-connection", map[string]any{"connectionId": "pg"}, http.StatusServiceUnavailable, "closed")
	if err := srv.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	ts.Close()
	http.DefaultClient.CloseIdleConnections()
	verify()
}

func mustRegistry(t testing.TB, dsn string) *connectors.Registry {
	t.Helper()
	reg, err := connectors.NewRegistry(connectors.Connection{ID: "pg", Engine: connectors.EnginePostgres, DSN: dsn})
	if err != nil {
		t.Fatal(err)
	}
	return reg
}
