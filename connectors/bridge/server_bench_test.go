package bridge_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/ipc"

	"github.com/cellsd/cellsd/connectors/bridge"
)

// BenchmarkFetchArrowStream streams 2,000,000 rows x 9 columns (bigint,
// int, text, numeric(12,2), timestamptz, bool, float8, date, uuid: the
// table of BenchmarkPostgresMaterialize in engine) from Postgres through
// fetch-arrow-stream over HTTP on loopback to a Go client that reads the
// frames and decodes their Arrow IPC streams. The floor, measured in the
// same run, is the same query as COPY ... TO STDOUT (FORMAT binary)
// drained into io.Discard. It reports rows/s, both medians, their ratio
// stream/floor (target: at most 1.5) and the Go heap high-water.
func BenchmarkFetchArrowStream(b *testing.B) {
	const rows = 2_000_000
	ctx := context.Background()
	env := startBridge(b)
	env.pgExec(b, fmt.Sprintf(`
		CREATE TABLE %[1]s.wide AS
		SELECT g::bigint AS id, (g %% 1000)::int AS k, 'customer ' || g AS name,
		       ((g %% 100000) / 100.0)::numeric(12,2) AS amount,
		       timestamptz '2024-01-01 00:00:00+00' + g * interval '1 second' AS at,
		       g %% 2 = 0 AS flag, g / 7.0::float8 AS ratio, date '2024-01-01' + (g %% 366) AS day,
		       md5(g::text)::uuid AS u
		FROM generate_series(1, %[2]d) AS g;
		ANALYZE %[1]s.wide;`, env.Schema, rows))
	query := fmt.Sprintf("SELECT * FROM %s.wide", env.Schema)

	floor := func() time.Duration {
		conn, err := env.Pool.Acquire(ctx)
		if err != nil {
			b.Fatal(err)
		}
		defer conn.Release()
		start := time.Now()
		if _, err := conn.Conn().PgConn().CopyTo(ctx, io.Discard, "COPY ("+query+") TO STDOUT (FORMAT binary)"); err != nil {
			b.Fatal(err)
		}
		return time.Since(start)
	}
	body, _ := json.Marshal(bridge.QueryRequest{ConnectionID: "pg", SQL: query})
	var peak atomic.Uint64
	stream := func() time.Duration {
		runtime.GC()
		stop := sampleHeap(&peak)
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
		floors = append(floors, floor())
		streams = append(streams, stream())
	}
	f, s := median(floors), median(streams)
	b.ReportMetric(rows/s.Seconds(), "rows/s")
	b.ReportMetric(float64(f.Milliseconds()), "floor-ms")
	b.ReportMetric(float64(s.Milliseconds()), "stream-ms")
	b.ReportMetric(float64(s)/float64(f), "stream/floor")
	b.ReportMetric(float64(peak.Load())/(1<<20), "heap-MiB")
}

// sampleHeap records the heap's high-water mark in peak until stop.
func sampleHeap(peak *atomic.Uint64) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapAlloc > peak.Load() {
				peak.Store(ms.HeapAlloc)
			}
			select {
			case <-done:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}
