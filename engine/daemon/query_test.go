package daemon_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/cellsd/cellsd/engine/daemon"
	"github.com/cellsd/cellsd/engine/daemon/jobapi"
)

// TestQuery_Pages reads a cell's result and a query's, page by page.
func TestQuery_Pages(t *testing.T) {
	d := startDaemon(t, daemon.Config{})
	nc := runSession(t, d, "qp")
	subj := jobapi.SessionSubject("qp", "query")

	var r jobapi.QueryReply
	want := `{"columns":[{"name":"product_id","type":"INTEGER"},{"name":"product_name","type":"VARCHAR"},` +
		`{"name":"category","type":"VARCHAR"},{"name":"unit_price","type":"DECIMAL(5,2)"}],` +
		`"rows":[[1,"Espresso machine","kitchen",129.00],[2,"Grinder","kitchen",59.50]],"total":6}`
	if got := raw(t, nc, subj, map[string]any{"cellId": "products", "limit": 2}); got != want {
		t.Errorf("products, 2 rows:\n got %s\nwant %s", got, want)
	}
	// The default limit is 100; total counts the whole result.
	request(t, nc, subj, map[string]any{"cellId": "sales"}, &r)
	if len(r.Rows) != 100 || r.Total != 5000 || r.Rows[0][0] != float64(0) {
		t.Errorf("sales: %d rows, total %d, first %v", len(r.Rows), r.Total, r.Rows[0])
	}
	request(t, nc, subj, map[string]any{"cellId": "sales", "limit": 10000, "offset": 4990}, &r)
	if len(r.Rows) != 10 || r.Total != 5000 || r.Rows[0][0] != float64(4990) {
		t.Errorf("sales from 4990: %d rows, total %d", len(r.Rows), r.Total)
	}
	request(t, nc, subj, map[string]any{"cellId": "sales", "offset": 6000}, &r)
	if len(r.Rows) != 0 || r.Total != 5000 {
		t.Errorf("sales past the end: %d rows, total %d", len(r.Rows), r.Total)
	}
	// sql: one query, unqualified names through the session's search path.
	request(t, nc, subj, map[string]any{"sql": "SELECT region, count(*) AS n FROM sales GROUP BY region ORDER BY region -- the regions\n;", "limit": 2}, &r)
	if got, _ := json.Marshal(r); string(got) != `{"columns":[{"name":"region","type":"VARCHAR"},{"name":"n","type":"BIGINT"}],"rows":[["AMER",1667],["APAC",1666]],"total":3}` {
		t.Errorf("sql: %s", got)
	}
	// Values as execute-query gives them.
	request(t, nc, subj, map[string]any{"sql": "SELECT DATE '2024-01-02' AS d, 1.5::DOUBLE AS f, 'NaN'::DOUBLE AS nan, [1, 2] AS l, NULL AS z"}, &r)
	if got, _ := json.Marshal(r.Rows); string(got) != `[["2024-01-02",1.5,"NaN",[1,2],null]]` {
		t.Errorf("values: %s", got)
	}
}

// raw sends a request and returns the reply as it came.
func raw(t testing.TB, nc *nats.Conn, subject string, body any) string {
	t.Helper()
	data, _ := json.Marshal(body)
	m, err := nc.Request(subject, data, 30e9)
	if err != nil {
		t.Fatal(err)
	}
	return string(m.Data)
}

// TestQuery_BadInput sends every bad query request: each is the error it
// should be, and nothing changes.
func TestQuery_BadInput(t *testing.T) {
	d := startDaemon(t, daemon.Config{})
	nc := runSession(t, d, "qb")
	subj := jobapi.SessionSubject("qb", "query")
	base := "http://" + d.HTTPAddr()
	before := fingerprint(t, base, "session:qb")

	// An inline notebook with a cell that fails and a lazy session that
	// never ran.
	failing := json.RawMessage(`{"data":{"ok":{"id":"ok","type":"sql","data":{"title":"ok","sql":"SELECT 1 AS x"}},
		"bad":{"id":"bad","type":"sql","data":{"title":"bad","sql":"SELECT * FROM nowhere"}}},
		"artifacts":{"a":{"id":"a","cellIds":["ok","bad"]}}}`)
	open(t, nc, jobapi.OpenRequest{Notebook: failing, SessionID: "qf"})
	evs := subscribe(t, nc, "qf")
	var run struct{ Run string }
	request(t, nc, jobapi.SessionSubject("qf", "run"), jobapi.RunRequest{}, &run)
	evs.waitRun(t, run.Run)
	open(t, nc, jobapi.OpenRequest{Notebook: notebookPath(quickstart), SessionID: "ql", Mode: "lazy"})

	type tc struct {
		subject      string
		body         any
		code, substr string
	}
	cases := map[string]tc{
		"LimitZero":     {subj, map[string]any{"cellId": "sales", "limit": 0}, jobapi.CodeBadRequest, "limit 0"},
		"LimitNegative": {subj, map[string]any{"cellId": "sales", "limit": -1}, jobapi.CodeBadRequest, "limit -1"},
		"LimitOver":     {subj, map[string]any{"cellId": "sales", "limit": 10001}, jobapi.CodeBadRequest, "limit 10001"},
		"SQLLimitOver":  {subj, map[string]any{"sql": "FROM sales", "limit": 10001}, jobapi.CodeBadRequest, "limit 10001"},
		"OffsetNeg":     {subj, map[string]any{"cellId": "sales", "offset": -5}, jobapi.CodeBadRequest, "offset -5"},
		"Neither":       {subj, map[string]any{}, jobapi.CodeBadRequest, "cellId or sql"},
		"Both":          {subj, map[string]any{"cellId": "sales", "sql": "FROM sales"}, jobapi.CodeBadRequest, "cellId or sql"},
		"UnknownField":  {subj, map[string]any{"cellId": "sales", "page": 2}, jobapi.CodeBadRequest, "page"},
		"UnknownCell":   {subj, map[string]any{"cellId": "nope"}, jobapi.CodeNotFound, "nope"},
		"InputCell":     {subj, map[string]any{"cellId": "min_amount"}, jobapi.CodeNotFound, "min_amount"},
		"CellFailed":    {jobapi.SessionSubject("qf", "query"), map[string]any{"cellId": "bad"}, "not_ready", "is error"},
		"CellIdle":      {jobapi.SessionSubject("ql", "query"), map[string]any{"cellId": "sales"}, "not_ready", "is idle"},
		"MissingTable":  {subj, map[string]any{"sql": "FROM nowhere"}, jobapi.CodeBadRequest, "nowhere"},
	}
	for name, sql := range writes {
		cases["SQL"+name] = tc{subj, map[string]any{"sql": sql}, jobapi.CodeBadRequest, "not a query"}
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			err := tryRequest(nc, c.subject, c.body, nil)
			var ae *jobapi.Error
			if !errors.As(err, &ae) || ae.Code != c.code || !strings.Contains(ae.Message, c.substr) {
				t.Errorf("%v: got %v, want %s with %q", c.body, err, c.code, c.substr)
			}
		})
	}
	// The one that succeeded in the failing notebook still reads.
	var r jobapi.QueryReply
	request(t, nc, jobapi.SessionSubject("qf", "query"), map[string]any{"cellId": "ok"}, &r)
	if !reflect.DeepEqual(r.Rows, [][]any{{float64(1)}}) || r.Total != 1 {
		t.Errorf("ok: %+v", r)
	}
	if after := fingerprint(t, base, "session:qb"); after != before {
		t.Errorf("bad queries changed the session:\nbefore %s\nafter %s", before, after)
	}
	// A closed session, like one never opened, has no subject: no
	// responders.
	request(t, nc, jobapi.SessionSubject("ql", "close"), nil, nil)
	for _, id := range []string{"ql", "never"} {
		if err := tryRequest(nc, jobapi.SessionSubject(id, "query"), map[string]any{"cellId": "sales"}, nil); !errors.Is(err, nats.ErrNoResponders) {
			t.Errorf("query of session %s: %v, want no responders", id, err)
		}
	}
}
