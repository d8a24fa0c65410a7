package bridgeserver_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/ipc"

	"github.com/cellsd/cellsd/connectors/bridge"
	"github.com/cellsd/cellsd/internal/measure"
	"github.com/cellsd/cellsd/internal/pgtest"
)

// BenchmarkFetchArrowStream streams pgtest.WideTable, 2,000,000 rows x 9
// columns, the table of BenchmarkPostgresMaterialize in engine, from
// Postgres through fetch-arrow-stream over HTTP on loopback to a Go client
// that reads the frames and decodes their Arrow IPC streams. The floor, measured in the
// same run, is the same query as COPY ... TO STDOUT (FORMAT binary)
// drained into io.Discard. It reports rows/s, both medians, their ratio
// stream/floor (target: at most 1.5) and the Go heap high-water.
func BenchmarkFetchArrowStream(b *testing.B) {
	const rows = 2_000_000
	env := startBridge(b)
	query := pgtest.WideTable(b, env.Pool, env.Schema, rows)

	body, _ := json.Marshal(bridge.QueryRequest{ConnectionID: "pg", SQL: query})
	var heap measure.HeapPeak
	stream := func() time.Duration {
		stop := heap.Start()
		defer stop()
		start := time.Now()
		req, _ := http.NewRequest(http.MethodPost, env.URL+"/api/db/fetch-arrow-stream", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+testToken)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		defer res.Body.Close()
		n := 0
		for {
			h, payload, err := bridge.ReadFrame(res.Body, 0)
			if err != nil {
				b.Fatalf("after %d rows: %v", n, err)
			}
			if h.Type == bridge.FrameEnd {
				break
			}
			if h.Type != bridge.FrameBatch {
				b.Fatalf("frame %+v", h)
			}
			rd, err := ipc.NewReader(bytes.NewReader(payload))
			if err != nil {
				b.Fatal(err)
			}
			for rd.Next() {
				n += int(rd.RecordBatch().NumRows())
			}
			if err := rd.Err(); err != nil {
				b.Fatal(err)
			}
			rd.Release()
		}
		d := time.Since(start)
		if n != rows {
			b.Fatalf("%d rows, want %d", n, rows)
		}
		return d
	}
	b.ReportAllocs()
	var floors, streams []time.Duration
	for b.Loop() {
		floors = append(floors, pgtest.CopyFloor(b, env.Pool, query))
		streams = append(streams, stream())
	}
	f, s := measure.Median(floors), measure.Median(streams)
	b.ReportMetric(rows/s.Seconds(), "rows/s")
	b.ReportMetric(float64(f.Milliseconds()), "floor-ms")
	b.ReportMetric(float64(s.Milliseconds()), "stream-ms")
	b.ReportMetric(float64(s)/float64(f), "stream/floor")
	b.ReportMetric(heap.MiB(), "heap-MiB")
}
