package natsbus_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cellsd/cellsd/cells"
	"github.com/cellsd/cellsd/engine"
	"github.com/cellsd/cellsd/engine/natsbus"
	"github.com/cellsd/cellsd/internal/measure"
	"github.com/cellsd/cellsd/internal/natstest"
)

// bus is a publisher on a connection of its own to a NATS server with
// JetStream, and a subscriber on another.
type bus struct {
	pub   *natsbus.Publisher
	sub   *nats.Conn
	js    jetstream.JetStream
	close func()
}

// newBus starts an in-process server on a free port and connects a bus.
func newBus(tb testing.TB) *bus {
	tb.Helper()
	srv := natstest.RunServer(tb, -1, tb.TempDir())
	b := connectBus(tb, srv.ClientURL())
	tb.Cleanup(srv.Shutdown) // after the bus's cleanup
	return b
}

// connectBus sets up the stream and bucket on url and returns a bus whose
// close (also run when tb ends) closes the publisher and the connections.
func connectBus(tb testing.TB, url string) *bus {
	tb.Helper()
	nc, err := nats.Connect(url, nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond), nats.ReconnectBufSize(-1))
	if err != nil {
		tb.Fatal(err)
	}
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncTimeout(5*time.Second))
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := natsbus.Setup(context.Background(), js, 0); err != nil {
		tb.Fatal(err)
	}
	sub, err := nats.Connect(url, nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		tb.Fatal(err)
	}
	b := &bus{pub: natsbus.NewPublisher(js, nil, natsbus.Hooks{}), sub: sub, js: js}
	var once sync.Once
	b.close = func() {
		once.Do(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			b.pub.Close(ctx)
			sub.Close()
			nc.Close()
		})
	}
	tb.Cleanup(b.close)
	return b
}

// fanout is a notebook of n cheap DuckDB cells, all reading the first.
func fanout(tb testing.TB, n int) *cells.Notebook {
	data := map[string]any{}
	ids := make([]string, n)
	for i := range n {
		id := fmt.Sprintf("c%d", i)
		sql := fmt.Sprintf("SELECT v + %d AS v FROM t0", i)
		if i == 0 {
			sql = "SELECT 1 AS v"
		}
		ids[i] = id
		data[id] = map[string]any{"id": id, "type": "sql", "data": map[string]any{"title": id, "sql": sql, "resultName": fmt.Sprintf("t%d", i)}}
	}
	raw, _ := json.Marshal(map[string]any{"data": data,
		"artifacts": map[string]any{"nb": map[string]any{"id": "nb", "schemaName": "artifact_nb", "cellIds": ids, "edges": []any{}}}})
	nb, err := cells.Parse("fanout.json", raw)
	if err != nil {
		tb.Fatal(err)
	}
	return nb
}

func openSession(tb testing.TB, nb *cells.Notebook, opts engine.SessionOptions) *engine.Session {
	tb.Helper()
	s, err := engine.OpenSession(context.Background(), engine.Config{}, nb, opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

func runAll(tb testing.TB, s *engine.Session) time.Duration {
	tb.Helper()
	start := time.Now()
	r, err := s.Run(engine.RunRequest{})
	if err != nil {
		tb.Fatal(err)
	}
	<-r.Done()
	return time.Since(start)
}

// BenchmarkEventsWallTime runs a 1,000-cell fan-out notebook in two
// sessions, one publishing its events to JetStream and the bucket, one
// publishing nothing, alternately in the same run, with no subscriber in
// the process: what publishing costs the scheduler. It reports the ratio
// of their median wall times, events-on/events-off (target at most 1.1).
func BenchmarkEventsWallTime(b *testing.B) {
	bs := newBus(b)
	nb := fanout(b, 1000)
	on := openSession(b, nb, engine.SessionOptions{ID: "on", Concurrency: *concurrency, NoCache: true, Observe: bs.pub.Observer()})
	off := openSession(b, nb, engine.SessionOptions{ID: "off", Concurrency: *concurrency, NoCache: true})
	runAll(b, on) // warm both
	runAll(b, off)
	var w wallTimes
	for b.Loop() {
		w.pair(b, on, off)
	}
	b.StopTimer()
	if err := bs.pub.Flush(context.Background()); err != nil {
		b.Fatal(err)
	}
	w.report(b, "on/off")
}

// wallTimes are the scheduler wall times of a session publishing events
// (on) and one publishing nothing (off), run in turns.
type wallTimes struct{ on, off []time.Duration }

// pair runs all of on and of off once each, the first of the two taking
// turns from one pair to the next.
func (w *wallTimes) pair(b *testing.B, on, off *engine.Session) {
	if len(w.on)%2 == 0 {
		w.on = append(w.on, runAll(b, on))
		w.off = append(w.off, runAll(b, off))
	} else {
		w.off = append(w.off, runAll(b, off))
		w.on = append(w.on, runAll(b, on))
	}
}

// report reports the medians and their ratio, named ratio.
func (w *wallTimes) report(b *testing.B, ratio string) {
	onMed, offMed := measure.Median(w.on), measure.Median(w.off)
	b.ReportMetric(ms(onMed), "events-on-ms")
	b.ReportMetric(ms(offMed), "events-off-ms")
	b.ReportMetric(float64(onMed)/float64(offMed), ratio)
}

// concurrency sets the sessions' cells at once in BenchmarkEvents (0: the
// engine's default, the number of CPUs): go test -bench ... -args
// -concurrency 1 leaves a core to everything but DuckDB.
var concurrency = flag.Int("concurrency", 0, "cells each BenchmarkEvents session runs at once")

// BenchmarkEvents runs a 1,000-cell fan-out notebook in two sessions, one
// publishing its events over NATS and one publishing nothing, alternately
// in the same run. It reports the scheduler's wall time of each (medians)
// and their ratio events-on/events-off with the benchmark's subscriber
// sharing the process and its two cores (BenchmarkEventsWallTime measures
// the ratio with no subscriber), and the
// latency from a state change to its receipt by a subscriber on another
// connection, p50 and p99 (target p99 under 2 ms): over every event of the
// runs, over the burst of 1,000 queued events each run starts with, and
// over 200 edits of one cell each (five events per edit: the run's start,
// the cell queued, running, success, the run's end).
//
// Two floors are measured in the same run, between the runs: the events
// of a third session's runs reaching an observer that only notes their
// latency, in process, with no NATS (every event, and the burst); and a
// burst of 1,000 queued events stamped, encoded and published one after
// another on the publisher's connection as plain NATS messages, on subjects
// no stream captures, to the same subscriber: the least any publisher of
// one message per event could do on this machine. burst/floor is the
// ratio of the run's burst p99 to that floor's p99.
func BenchmarkEvents(b *testing.B) {
	const n = 1000
	bs := newBus(b)
	nb := fanout(b, n)
	var mu sync.Mutex
	var latencies, burst []time.Duration
	sub, err := bs.sub.Subscribe(natsbus.SubjectPrefix+".lat.>", func(m *nats.Msg) {
		now := time.Now()
		ts, err := timestamp(m.Data)
		if err != nil {
			b.Error(err)
			return
		}
		mu.Lock()
		latencies = append(latencies, now.Sub(ts))
		if bytes.Contains(m.Data, queued) {
			burst = append(burst, now.Sub(ts))
		}
		mu.Unlock()
	})
	if err != nil {
		b.Fatal(err)
	}
	defer sub.Unsubscribe()
	floor := newFloor(b, bs)
	bs.sub.Flush()

	on := openSession(b, nb, engine.SessionOptions{ID: "lat", Concurrency: *concurrency, NoCache: true, Observe: bs.pub.Observer()})
	off := openSession(b, nb, engine.SessionOptions{ID: "quiet", Concurrency: *concurrency, NoCache: true})
	// The in-process floor: how long an event takes to reach an observer
	// that only notes its latency, in a third session (not timed).
	var observed, observedBurst []time.Duration
	bare := openSession(b, nb, engine.SessionOptions{ID: "bare", Concurrency: *concurrency, NoCache: true, Observe: func(ev engine.Event) {
		d := time.Since(ev.Time) // one call at a time
		observed = append(observed, d)
		if ev.Status == engine.StatusQueued {
			observedBurst = append(observedBurst, d)
		}
	}})
	runAll(b, on) // warm them
	runAll(b, off)
	runAll(b, bare)
	bs.pub.Flush(context.Background())
	mu.Lock()
	latencies, burst = nil, nil
	mu.Unlock()
	bare.Flush()
	observed, observedBurst = nil, nil

	var w wallTimes
	for b.Loop() {
		w.pair(b, on, off)
		b.StopTimer()
		if err := bs.pub.Flush(context.Background()); err != nil {
			b.Fatal(err)
		}
		floor.burst(n)
		runAll(b, bare)
		b.StartTimer()
	}
	b.StopTimer()
	bare.Flush()
	slices.Sort(observed)
	slices.Sort(observedBurst)
	i := len(w.on)
	edits := editLatencies(b, bs, on, &mu, &latencies, i*(3*n+2))
	// Every event of the runs measured has arrived before reading them.
	want := i * (3*n + 2)
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		got := len(latencies)
		mu.Unlock()
		if got >= want || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	mu.Lock()
	lat := slices.Clone(latencies[:want])
	queuedLat := slices.Clone(burst[:i*n])
	mu.Unlock()
	if len(lat) != want {
		b.Fatalf("subscriber got %d events, want %d", len(lat), want)
	}
	slices.Sort(lat)
	slices.Sort(queuedLat)
	natsFloor := floor.latencies(i * n)
	w.report(b, "on/off-subscribed")
	b.ReportMetric(ms(lat[len(lat)/2]), "latency-p50-ms")
	b.ReportMetric(ms(lat[len(lat)*99/100]), "latency-p99-ms")
	b.ReportMetric(ms(queuedLat[len(queuedLat)/2]), "burst-p50-ms")
	b.ReportMetric(ms(queuedLat[len(queuedLat)*99/100]), "burst-p99-ms")
	b.ReportMetric(ms(observed[len(observed)*99/100]), "in-process-p99-ms")
	b.ReportMetric(ms(observedBurst[len(observedBurst)*99/100]), "in-process-burst-p99-ms")
	b.ReportMetric(ms(natsFloor[len(natsFloor)/2]), "floor-p50-ms")
	b.ReportMetric(ms(natsFloor[len(natsFloor)*99/100]), "floor-p99-ms")
	b.ReportMetric(float64(queuedLat[len(queuedLat)*99/100])/float64(natsFloor[len(natsFloor)*99/100]), "burst/floor")
	b.ReportMetric(float64(len(lat)), "events")
	b.ReportMetric(ms(edits[len(edits)/2]), "edit-latency-p50-ms")
	b.ReportMetric(ms(edits[len(edits)*99/100]), "edit-latency-p99-ms")
}

// queued marks a queued event's payload (natsbus.Marshal writes the
// status with no space).
var queued = []byte(`"status":"queued"`)

// natsFloor publishes bursts of events the least costly way one message
// per event can go: stamped, encoded and published in a loop on the
// publisher's own connection, as plain messages on subjects no stream
// captures, received by the benchmark's subscriber.
type natsFloor struct {
	b   *testing.B
	bs  *bus
	mu  sync.Mutex
	got []time.Duration
}

func newFloor(b *testing.B, bs *bus) *natsFloor {
	f := &natsFloor{b: b, bs: bs}
	if _, err := bs.sub.Subscribe("floor.>", func(m *nats.Msg) {
		now := time.Now()
		ts, err := timestamp(m.Data)
		if err != nil {
			b.Error(err)
			return
		}
		f.mu.Lock()
		f.got = append(f.got, now.Sub(ts))
		f.mu.Unlock()
	}); err != nil {
		b.Fatal(err)
	}
	return f
}

// burst publishes n queued events, shaped like a run's, as fast as it can.
func (f *natsFloor) burst(n int) {
	nc := f.bs.js.Conn()
	for i := range n {
		ev := engine.Event{Seq: int64(i + 1), Time: time.Now(), Session: "floor", Artifact: "nb", Cell: fmt.Sprintf("c%d", i),
			Run: "r1", Status: engine.StatusQueued, Prev: engine.StatusSuccess, Reason: "run all",
			Relation: fmt.Sprintf("__sqlrooms_ephemeral.artifact_nb.t%d", i)}
		if err := nc.Publish("floor."+natsbus.Key(ev), natsbus.Marshal(ev)); err != nil {
			f.b.Fatal(err)
		}
	}
	if err := nc.Flush(); err != nil {
		f.b.Fatal(err)
	}
}

// latencies waits for want receipts and returns them sorted.
func (f *natsFloor) latencies(want int) []time.Duration {
	deadline := time.Now().Add(10 * time.Second)
	for {
		f.mu.Lock()
		got := len(f.got)
		f.mu.Unlock()
		if got >= want || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.got) != want {
		f.b.Fatalf("floor subscriber got %d events, want %d", len(f.got), want)
	}
	out := slices.Clone(f.got)
	slices.Sort(out)
	return out
}

// editLatencies edits 200 leaf cells of the session one at a time, waiting
// for each run, and returns the sorted latencies of their events, which the
// subscriber appends to *latencies after the first skip.
func editLatencies(b *testing.B, bs *bus, s *engine.Session, mu *sync.Mutex, latencies *[]time.Duration, skip int) []time.Duration {
	const edits = 200
	if err := bs.pub.Flush(context.Background()); err != nil {
		b.Fatal(err)
	}
	for j := 1; j <= edits; j++ {
		sql := fmt.Sprintf("SELECT v + %d AS v FROM t0", 10_000+j)
		r, err := s.Update(context.Background(), engine.CellPatch{CellID: fmt.Sprintf("c%d", j), SQL: &sql})
		if err != nil {
			b.Fatal(err)
		}
		<-r.Done()
		time.Sleep(time.Millisecond) // a person types slower than this
	}
	want := skip + 5*edits
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		got := len(*latencies)
		mu.Unlock()
		if got >= want || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(*latencies) != want {
		b.Fatalf("subscriber got %d events, want %d", len(*latencies), want)
	}
	out := slices.Clone((*latencies)[skip:])
	slices.Sort(out)
	return out
}

// BenchmarkEventsSeq publishes at least 100,000 events (runs of a
// 1,000-cell notebook, each cell served from cache after the first) and
// checks that the subscriber sees every seq once, in order, and that the
// stream holds them all. It reports events/s and the gaps (must be 0).
func BenchmarkEventsSeq(b *testing.B) {
	const n, total = 1000, 100_000
	for b.Loop() {
		bs := newBus(b)
		nb := fanout(b, n)
		var mu sync.Mutex
		var last int64
		gaps, received := 0, 0
		sub, err := bs.sub.Subscribe(natsbus.SubjectPrefix+".seq.>", func(m *nats.Msg) {
			var p natsbus.Payload
			if err := json.Unmarshal(m.Data, &p); err != nil {
				b.Error(err)
				return
			}
			mu.Lock()
			if p.Seq != last+1 {
				gaps++
			}
			last = p.Seq
			received++
			mu.Unlock()
		})
		if err != nil {
			b.Fatal(err)
		}
		bs.sub.Flush()
		s, err := engine.OpenSession(context.Background(), engine.Config{}, nb, engine.SessionOptions{ID: "seq", Observe: bs.pub.Observer()})
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		for s.Report("").Summary.Success == 0 || lastSeq(s) < total {
			runAll(b, s)
		}
		s.Close()
		if err := bs.pub.Flush(context.Background()); err != nil {
			b.Fatal(err)
		}
		elapsed := time.Since(start)
		sent := bs.pub.Published()
		deadline := time.Now().Add(10 * time.Second)
		for {
			mu.Lock()
			r := received
			mu.Unlock()
			if int64(r) >= sent || time.Now().After(deadline) {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		sub.Unsubscribe()
		st, err := bs.js.Stream(context.Background(), natsbus.StreamName)
		if err != nil {
			b.Fatal(err)
		}
		info, err := st.Info(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		mu.Lock()
		if gaps != 0 || int64(received) != sent || info.State.Msgs != uint64(sent) || last != sent {
			b.Fatalf("%d events published, %d received, %d stored, last seq %d, %d gaps", sent, received, info.State.Msgs, last, gaps)
		}
		b.ReportMetric(float64(sent), "events")
		b.ReportMetric(float64(gaps), "gaps")
		b.ReportMetric(float64(sent)/elapsed.Seconds(), "events/s")
		mu.Unlock()
	}
}

// timestamp reads an event's "ts" alone: the subscriber shares the two
// cores with the scheduler, and decoding whole events would charge the
// scheduler for work a frontend does on its own machine. (The payload is
// JSON that natsbus.Marshal wrote, with "ts" once, near the start.)
func timestamp(data []byte) (time.Time, error) {
	_, rest, ok := bytes.Cut(data, []byte(`"ts":"`))
	if !ok {
		return time.Time{}, fmt.Errorf("no ts in %s", data)
	}
	value, _, ok := bytes.Cut(rest, []byte(`"`))
	if !ok {
		return time.Time{}, fmt.Errorf("unterminated ts in %s", data)
	}
	return time.Parse(time.RFC3339Nano, string(value))
}

func lastSeq(s *engine.Session) int64 {
	seq, _ := s.Snapshot()
	return seq
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
