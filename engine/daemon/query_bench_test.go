package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/cellsd/cellsd/engine"
	"github.com/cellsd/cellsd/engine/daemon/jobapi"
	"github.com/cellsd/cellsd/internal/measure"
)

// BenchmarkQuery_Page measures the query op for a 100-row page of a
// 1M-row cell result, over NATS request/reply with its JSON reply,
// against the same LIMIT run directly on the session's DuckDB (rows
// scanned into Go values), in the same run: 20 samples of each,
// interleaved, and the ratio of the medians (target <= 1.5).
//
//	go test ./engine/daemon -run '^$' -bench BenchmarkQuery_Page -benchtime 1x
func BenchmarkQuery_Page(b *testing.B) {
	d := New(Config{NATSListen: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0", DataDir: b.TempDir()})
	if err := d.Open(context.Background()); err != nil {
		b.Fatal(err)
	}
	defer d.Close(context.Background())
	nc, err := nats.Connect(d.NATSURL())
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	nb := `{"data":{"big":{"id":"big","type":"sql","data":{"title":"big",
		"sql":"SELECT range AS id, range % 97 AS bucket, 'row ' || range AS label, range * 0.5 AS amount FROM range(1000000)"}}},
		"artifacts":{"a":{"id":"a","cellIds":["big"]}}}`
	call := func(subject string, body any) []byte {
		data, _ := json.Marshal(body)
		m, err := nc.Request(subject, data, time.Minute)
		if err != nil {
			b.Fatal(err)
		}
		if len(m.Data) > 9 && string(m.Data[:9]) == `{"error":` {
			b.Fatalf("%s: %s", subject, m.Data)
		}
		return m.Data
	}
	call(jobapi.OpenSubject, map[string]any{"notebook": json.RawMessage(nb), "sessionId": "bench"})
	sdb, err := bridgeSessions{d}.Session(context.Background(), "bench")
	if err != nil {
		b.Fatal(err)
	}
	es := sdb.(sessionDB).s
	run, err := es.Run(engine.RunRequest{})
	if err != nil {
		b.Fatal(err)
	}
	if err := run.Wait(context.Background()); err != nil {
		b.Fatal(err)
	}
	ev, rel, err := es.Result("big")
	if err != nil || ev.Rows == nil || *ev.Rows != 1_000_000 {
		b.Fatalf("big: %v, %+v", err, ev)
	}
	db := es.DB()
	direct := func(query string) {
		rows, err := db.QueryContext(context.Background(), query, 100, 0)
		if err != nil {
			b.Fatal(err)
		}
		defer rows.Close()
		cols, _ := rows.Columns()
		vals, dest := make([]any, len(cols)), make([]any, len(cols))
		for i := range vals {
			dest[i] = &vals[i]
		}
		n := 0
		for rows.Next() {
			if err := rows.Scan(dest...); err != nil {
				b.Fatal(err)
			}
			n++
		}
		if err := rows.Err(); err != nil || n != 100 {
			b.Fatalf("direct: %v, %d rows", err, n)
		}
	}
	subject := jobapi.SessionSubject("bench", "query")
	for _, c := range []struct {
		name   string
		req    map[string]any
		direct string
	}{
		{"rows=1e6/limit=100/path=cell", map[string]any{"cellId": "big", "limit": 100}, "SELECT * FROM " + rel + " LIMIT ? OFFSET ?"},
		{"rows=1e6/limit=100/path=sql", map[string]any{"sql": "SELECT * FROM big", "limit": 100},
			"SELECT * FROM big LIMIT ? OFFSET ?"},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			time1 := func(fn func()) time.Duration {
				start := time.Now()
				fn()
				return time.Since(start)
			}
			for range 3 { // warm up both
				call(subject, c.req)
				direct(c.direct)
			}
			var ops, directs []time.Duration
			for range 20 {
				ops = append(ops, time1(func() { call(subject, c.req) }))
				directs = append(directs, time1(func() { direct(c.direct) }))
			}
			for b.Loop() {
				call(subject, c.req)
			}
			op, dir := measure.Median(ops), measure.Median(directs)
			ratio := float64(op) / float64(dir)
			b.ReportMetric(float64(op.Microseconds()), "op-µs")
			b.ReportMetric(float64(dir.Microseconds()), "direct-µs")
			b.ReportMetric(ratio, "ratio")
			fmt.Fprintf(os.Stderr, "%s: query op median %v, direct LIMIT median %v, ratio %.2f (target <= 1.5, median of 20)\n", c.name, op, dir, ratio)
		})
	}
}
