package daemon_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/nats-io/nats.go"

	"github.com/cellsd/cellsd/connectors/bridge"
	"github.com/cellsd/cellsd/engine/daemon"
	"github.com/cellsd/cellsd/engine/daemon/jobapi"
	"github.com/cellsd/cellsd/internal/sqlroomstest"
)

// runSession opens the quickstart as session id, runs it to success and
// returns the client connection and the HTTP base URL.
func runSession(t testing.TB, d *daemon.Daemon, id string) *nats.Conn {
	t.Helper()
	nc := connect(t, d.NATSURL())
	open(t, nc, jobapi.OpenRequest{Notebook: notebookPath(quickstart), SessionID: id})
	evs := subscribe(t, nc, id)
	var r struct{ Run string }
	request(t, nc, jobapi.SessionSubject(id, "run"), jobapi.RunRequest{}, &r)
	if end := evs.waitRun(t, r.Run); end.Status != "success" {
		t.Fatalf("run ended %s (%s)", end.Status, end.Reason)
	}
	return nc
}

// post sends a bridge request and returns the status and body.
func post(t testing.TB, base, endpoint string, body any) (int, []byte) {
	t.Helper()
	data, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	res, err := http.Post(base+"/api/db/"+endpoint, "application/json", bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	out, _ := io.ReadAll(res.Body)
	return res.StatusCode, out
}

// jsonQuery runs execute-query json and returns its rows.
func jsonQuery(t testing.TB, base, conn, sql string) []map[string]any {
	t.Helper()
	code, body := post(t, base, "execute-query", bridge.QueryRequest{ConnectionID: conn, SQL: sql, QueryType: "json"})
	if code != http.StatusOK {
		t.Fatalf("execute-query %q: %d %s", sql, code, body)
	}
	var r struct{ JSONData []map[string]any }
	if err := json.Unmarshal(body, &r); err != nil {
		t.Fatal(err)
	}
	return r.JSONData
}

// fingerprint is every result table of the session with its row count and
// content hash, and the session's tables, views, databases and settings
// that SQL could change, as the bridge reads them.
func fingerprint(t testing.TB, base, conn string) string {
	t.Helper()
	var b strings.Builder
	for _, name := range []string{"products", "sales", "order_lines", "daily_orders", "region_revenue", "big_orders", "summary"} {
		rows := jsonQuery(t, base, conn, fmt.Sprintf("SELECT count(*) AS n, sum(hash(t)) AS h FROM %s AS t", name))
		fmt.Fprintf(&b, "%s %v %v\n", name, rows[0]["n"], rows[0]["h"])
	}
	for _, q := range []string{
		"SELECT database_name, schema_name, table_name FROM duckdb_tables() ORDER BY ALL",
		"SELECT database_name, schema_name, view_name FROM duckdb_views() WHERE NOT internal ORDER BY ALL",
		"SELECT database_name FROM duckdb_databases() ORDER BY ALL",
		"SELECT sequence_name FROM duckdb_sequences() ORDER BY ALL",
		"SELECT current_setting('threads') AS threads, current_setting('search_path') AS path",
	} {
		fmt.Fprintf(&b, "%v\n", jsonQuery(t, base, conn, q))
	}
	return b.String()
}

// writes are the statements a session connection must refuse, one of each
// kind the issue names and a few more.
var writes = map[string]string{
	"Create":      "CREATE TABLE sneaky AS SELECT 1 AS x",
	"CreateView":  "CREATE VIEW sneaky AS SELECT 1 AS x",
	"Replace":     "CREATE OR REPLACE TABLE sales AS SELECT 1 AS x",
	"Insert":      "INSERT INTO sales SELECT * FROM sales",
	"Update":      "UPDATE sales SET quantity = 0",
	"Delete":      "DELETE FROM sales",
	"Drop":        "DROP TABLE sales",
	"Alter":       "ALTER TABLE sales RENAME TO gone",
	"CopyTo":      "COPY sales TO '/tmp/cellsd-sneaky.csv'",
	"CopyFrom":    "COPY sales FROM '/dev/null'",
	"Attach":      "ATTACH ':memory:' AS sneaky",
	"Detach":      "DETACH __sqlrooms_ephemeral",
	"Set":         "SET threads = 1",
	"SetPath":     "SET search_path = 'memory.main'",
	"Pragma":      "PRAGMA threads = 1",
	"Call":        "CALL pragma_version()",
	"Install":     "INSTALL httpfs",
	"Load":        "LOAD httpfs",
	"Sequence":    "CREATE SEQUENCE sneaky",
	"Several":     "SELECT 1; DROP TABLE sales",
	"TwoQueries":  "SELECT 1; SELECT 2",
	"Explain":     "EXPLAIN ANALYZE SELECT 1",
	"Checkpoint":  "CHECKPOINT",
	"Transaction": "COMMIT",
	"Begin":       "BEGIN TRANSACTION",
	"Empty":       " ; ",
	"Unparsable":  "SELEC 1",
	"PivotNoIn":   "PIVOT sales ON region USING sum(quantity)",
}

// TestResults_SessionBridge reads a session's results through the bridge:
// unqualified and qualified names, every query endpoint, list-catalog.
func TestResults_SessionBridge(t *testing.T) {
	d := startDaemon(t, daemon.Config{})
	nc := runSession(t, d, "rb")
	base, conn := "http://"+d.HTTPAddr(), "session:rb"
	var st jobapi.StatusReply
	request(t, nc, jobapi.SessionSubject("rb", "status"), nil, &st)
	rows := map[string]int64{}
	for _, c := range st.Cells {
		if c.Rows != nil {
			rows[c.Cell] = *c.Rows
		}
		// The relation events carry reads as it is.
		got := jsonQuery(t, base, conn, "SELECT count(*) AS n FROM "+*c.Relation)
		if fmt.Sprint(got[0]["n"]) != fmt.Sprint(*c.Rows) {
			t.Errorf("%s: %v rows through the bridge, the event says %d", *c.Relation, got[0]["n"], *c.Rows)
		}
	}
	// Unqualified, through the session's search path.
	got := jsonQuery(t, base, conn, "SELECT count(*) AS n FROM sales")
	if fmt.Sprint(got[0]["n"]) != "5000" || rows["sales"] != 5000 {
		t.Errorf("sales: %v rows, the event says %d", got, rows["sales"])
	}
	got = jsonQuery(t, base, conn, "SELECT product_id, product_name, unit_price FROM products ORDER BY product_id LIMIT 1")
	if b, _ := json.Marshal(got); string(b) != `[{"product_id":1,"product_name":"Espresso machine","unit_price":129}]` {
		t.Errorf("products: %s", b)
	}

	// fetch-arrow: one Arrow IPC stream.
	code, body := post(t, base, "fetch-arrow", bridge.QueryRequest{ConnectionID: conn, SQL: "FROM order_lines"})
	if code != http.StatusOK {
		t.Fatalf("fetch-arrow: %d %s", code, body)
	}
	if n := arrowRows(t, body); n != rows["order_lines"] {
		t.Errorf("fetch-arrow: %d rows, want %d", n, rows["order_lines"])
	}
	// fetch-arrow-stream: frames of chunkRows.
	code, body = post(t, base, "fetch-arrow-stream", bridge.QueryRequest{ConnectionID: conn, SQL: "FROM sales", QueryID: "q1", ChunkRows: 1000})
	if code != http.StatusOK {
		t.Fatalf("fetch-arrow-stream: %d %s", code, body)
	}
	n, batches := streamRows(t, body)
	if n != 5000 || batches != 5 {
		t.Errorf("fetch-arrow-stream: %d rows in %d batches, want 5000 in 5", n, batches)
	}

	// list-catalog: the session's artifact schemas and result tables.
	code, body = post(t, base, "list-catalog", bridge.ConnectionRequest{ConnectionID: conn})
	if code != http.StatusOK {
		t.Fatalf("list-catalog: %d %s", code, body)
	}
	var cat bridge.CatalogResponse
	if err := json.Unmarshal(body, &cat); err != nil {
		t.Fatal(err)
	}
	var tables []string
	for _, tb := range cat.Tables {
		tables = append(tables, tb.Database+"."+tb.Schema+"."+tb.Table)
	}
	want := "__sqlrooms_ephemeral.artifact_quickstart.big_orders __sqlrooms_ephemeral.artifact_quickstart.daily_orders " +
		"__sqlrooms_ephemeral.artifact_quickstart.order_lines __sqlrooms_ephemeral.artifact_quickstart.products " +
		"__sqlrooms_ephemeral.artifact_quickstart.region_revenue __sqlrooms_ephemeral.artifact_quickstart.sales " +
		"__sqlrooms_ephemeral.artifact_quickstart.summary"
	if strings.Join(tables, " ") != want || len(cat.Databases) != 1 || cat.Databases[0].Database != "__sqlrooms_ephemeral" ||
		len(cat.Schemas) != 1 || cat.Schemas[0].Schema != "artifact_quickstart" {
		t.Errorf("list-catalog: %s", body)
	}
	// test-connection answers for a session too.
	if code, body := post(t, base, "test-connection", bridge.ConnectionRequest{ConnectionID: conn}); code != http.StatusOK || !strings.Contains(string(body), `"ok":true`) {
		t.Errorf("test-connection: %d %s", code, body)
	}
	// A SQL error is the SQL's: 422.
	if code, body := post(t, base, "execute-query", bridge.QueryRequest{ConnectionID: conn, SQL: "SELECT * FROM nowhere", QueryType: "json"}); code != http.StatusUnprocessableEntity {
		t.Errorf("missing table: %d %s", code, body)
	}
}

// TestResults_SessionBridgeReadOnly sends every kind of statement but a
// query to every query endpoint of a session connection: each is a 400
// naming why, and nothing changes.
func TestResults_SessionBridgeReadOnly(t *testing.T) {
	d := startDaemon(t, daemon.Config{})
	runSession(t, d, "ro")
	base, conn := "http://"+d.HTTPAddr(), "session:ro"
	before := fingerprint(t, base, conn)
	for name, sql := range writes {
		t.Run(name, func(t *testing.T) {
			for _, ep := range []struct {
				endpoint string
				req      bridge.QueryRequest
			}{
				{"execute-query", bridge.QueryRequest{ConnectionID: conn, SQL: sql, QueryType: "json"}},
				{"execute-query", bridge.QueryRequest{ConnectionID: conn, SQL: sql, QueryType: "exec"}},
				{"fetch-arrow", bridge.QueryRequest{ConnectionID: conn, SQL: sql}},
				{"fetch-arrow-stream", bridge.QueryRequest{ConnectionID: conn, SQL: sql, QueryID: "w-" + name}},
			} {
				code, body := post(t, base, ep.endpoint, ep.req)
				if code != http.StatusBadRequest || !strings.Contains(string(body), "not a query") {
					t.Errorf("%s %s %q: %d %s, want 400 not a query", ep.endpoint, ep.req.QueryType, sql, code, body)
				}
			}
		})
	}
	if after := fingerprint(t, base, conn); after != before {
		t.Errorf("the refused statements changed the session:\nbefore %s\nafter %s", before, after)
	}
	// SELECTs that would write fail inside the read-only transaction.
	for _, sql := range []string{"SELECT nextval('nope')", "SELECT * FROM query('CREATE TABLE sneaky (x int)')"} {
		if code, body := post(t, base, "execute-query", bridge.QueryRequest{ConnectionID: conn, SQL: sql, QueryType: "json"}); code/100 != 4 {
			t.Errorf("%q: %d %s", sql, code, body)
		}
	}
	if after := fingerprint(t, base, conn); after != before {
		t.Errorf("a query changed the session:\nbefore %s\nafter %s", before, after)
	}
}

// TestResults_SessionBridgeCancel cancels a running session query by its
// queryId.
func TestResults_SessionBridgeCancel(t *testing.T) {
	d := startDaemon(t, daemon.Config{})
	runSession(t, d, "cx")
	base, conn := "http://"+d.HTTPAddr(), "session:cx"
	type result struct {
		body []byte
		took time.Duration
	}
	done := make(chan result, 1)
	start := time.Now()
	go func() {
		data, _ := json.Marshal(bridge.QueryRequest{ConnectionID: conn, QueryID: "slow",
			SQL: "SELECT count(*) FROM range(1000000000000) a, sales b WHERE a.range % 7 = b.order_id"})
		res, err := http.Post(base+"/api/db/fetch-arrow-stream", "application/json", bytes.NewReader(data))
		if err != nil {
			done <- result{[]byte(err.Error()), time.Since(start)}
			return
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		done <- result{b, time.Since(start)}
	}()
	var cancelled bool
	for deadline := time.Now().Add(10 * time.Second); !cancelled && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		_, body := post(t, base, "cancel-query", bridge.CancelRequest{QueryID: "slow"})
		var r bridge.CancelResponse
		json.Unmarshal(body, &r)
		cancelled = r.Cancelled
	}
	if !cancelled {
		t.Fatal("cancel-query never found the query")
	}
	select {
	case r := <-done:
		if !bytes.Contains(r.body, []byte(`"error"`)) || !bytes.Contains(r.body, []byte("cancelled")) {
			t.Errorf("the cancelled stream ended with %q", r.body)
		}
		t.Logf("cancelled after %v", r.took)
	case <-time.After(10 * time.Second):
		t.Fatal("the query still ran 10 s after cancel-query")
	}
	// The session still serves.
	if got := jsonQuery(t, base, conn, "SELECT count(*) AS n FROM sales"); fmt.Sprint(got[0]["n"]) != "5000" {
		t.Errorf("after the cancel: %v", got)
	}
}

// TestResults_SessionElsewhere asks for sessions this daemon does not
// serve: one another daemon lists in cellsd.v1.api.sessions (a responder
// speaking the contract of CONTRACTS.md) gets a 404 naming that daemon's
// HTTP address; one nobody lists, and a closed one, a 404 saying so.
func TestResults_SessionElsewhere(t *testing.T) {
	d := startDaemon(t, daemon.Config{})
	nc := runSession(t, d, "here")
	other := connect(t, d.NATSURL())
	sub, err := other.Subscribe("cellsd.v1.api.sessions", func(m *nats.Msg) {
		m.Respond([]byte(`{"sessions":[{"sessionId":"there","title":"Quickstart","path":null,` +
			`"daemon":{"name":"d2","http":"http://127.0.0.1:18999"},"openedAt":"2026-12-03T12:00:00Z","cells":7}]}`))
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	other.Flush()
	base := "http://" + d.HTTPAddr()
	for _, c := range []struct{ conn, want string }{
		{"session:there", "http://127.0.0.1:18999"},
		{"session:nowhere", "no daemon on this NATS serves it"},
	} {
		for _, ep := range []string{"execute-query", "fetch-arrow", "fetch-arrow-stream", "list-catalog"} {
			code, body := post(t, base, ep, bridge.QueryRequest{ConnectionID: c.conn, SQL: "SELECT 1", QueryType: "json"})
			if code != http.StatusNotFound || !strings.Contains(string(body), c.want) {
				t.Errorf("%s on %s: %d %s, want 404 with %q", ep, c.conn, code, body, c.want)
			}
		}
	}
	request(t, nc, jobapi.SessionSubject("here", "close"), nil, nil)
	if code, body := post(t, base, "execute-query", bridge.QueryRequest{ConnectionID: "session:here", SQL: "SELECT 1", QueryType: "json"}); code != http.StatusNotFound {
		t.Errorf("closed session: %d %s", code, body)
	}
}

func arrowRows(t testing.TB, stream []byte) int64 {
	t.Helper()
	r, err := ipc.NewReader(bytes.NewReader(stream))
	if err != nil {
		t.Fatalf("arrow stream: %v", err)
	}
	defer r.Release()
	var n int64
	for r.Next() {
		n += r.RecordBatch().NumRows()
	}
	if err := r.Err(); err != nil && !errors.Is(err, io.EOF) {
		t.Fatal(err)
	}
	return n
}

func streamRows(t testing.TB, body []byte) (rows int64, batches int) {
	t.Helper()
	rd := bytes.NewReader(body)
	for {
		h, payload, err := bridge.ReadFrame(rd, 1<<30)
		if err != nil {
			t.Fatalf("frame: %v", err)
		}
		switch h.Type {
		case "batch":
			rows += arrowRows(t, payload)
			batches++
		case "end":
			return rows, batches
		default:
			t.Fatalf("frame %+v: %s", h, payload)
		}
	}
}

// TestResults_SQLRoomsClient reads every result of a session with the
// published @sqlrooms/db client, fetchArrow and fetchArrowStream on
// "session:<id>": each row count is the cell's rows.
func TestResults_SQLRoomsClient(t *testing.T) {
	client := sqlroomstest.NewClient(t)
	d := startDaemon(t, daemon.Config{})
	nc := runSession(t, d, "sq")
	var st jobapi.StatusReply
	request(t, nc, jobapi.SessionSubject("sq", "status"), nil, &st)
	rows := map[string]int64{}
	var rels []string
	for _, c := range st.Cells {
		rows[*c.Relation] = *c.Rows
		rels = append(rels, *c.Relation)
	}
	relJSON, _ := json.Marshal(rels)
	outJSON := client.RunScript(t, "session.mjs", "BRIDGE_URL=http://"+d.HTTPAddr(), "SESSION_ID=sq", "RELATIONS="+string(relJSON))
	var out struct {
		Relations map[string]struct{ Arrow, Stream, Batches int64 }
		Refused   *string
	}
	if err := json.Unmarshal(outJSON, &out); err != nil {
		t.Fatalf("%v: %s", err, outJSON)
	}
	if len(out.Relations) != len(rels) || len(rels) != 7 {
		t.Errorf("read %d relations of %d: %s", len(out.Relations), len(rels), outJSON)
	}
	for rel, got := range out.Relations {
		if got.Arrow != rows[rel] || got.Stream != rows[rel] || got.Batches != (rows[rel]+999)/1000 {
			t.Errorf("%s: fetchArrow %d rows, fetchArrowStream %d in %d batches; the cell has %d", rel, got.Arrow, got.Stream, got.Batches, rows[rel])
		}
	}
	if out.Refused == nil || !strings.Contains(*out.Refused, "(400)") || !strings.Contains(*out.Refused, "not a query") {
		t.Errorf("DROP TABLE through the client: %v", out.Refused)
	}
	t.Logf("%s", outJSON)
}

// TestResults_SessionOnOtherDaemon asks one daemon's bridge for a session
// the other daemon on the same NATS serves: 404, naming the owner's HTTP
// address from cellsd.v1.api.sessions. (Needs the sessions op of h20-api.)
func TestResults_SessionOnOtherDaemon(t *testing.T) {
	a := startDaemon(t, daemon.Config{})
	b := startDaemon(t, daemon.Config{NATSURL: a.NATSURL()})
	nc := connect(t, a.NATSURL())
	open(t, nc, jobapi.OpenRequest{Notebook: notebookPath(quickstart), SessionID: "owned"})
	owner, other := a, b
	if len(a.Sessions()) == 0 {
		owner, other = b, a
	}
	code, body := post(t, "http://"+other.HTTPAddr(), "execute-query", bridge.QueryRequest{ConnectionID: "session:owned", SQL: "SELECT 1", QueryType: "json"})
	if code != http.StatusNotFound || !strings.Contains(string(body), "http://"+owner.HTTPAddr()) {
		t.Errorf("the other daemon: %d %s, want 404 naming http://%s", code, body, owner.HTTPAddr())
	}
	code, body = post(t, "http://"+owner.HTTPAddr(), "execute-query", bridge.QueryRequest{ConnectionID: "session:owned", SQL: "SELECT 1 AS x", QueryType: "json"})
	if code != http.StatusOK {
		t.Errorf("the owner: %d %s", code, body)
	}
}
