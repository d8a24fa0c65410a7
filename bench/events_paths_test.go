package bench

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"

	"github.com/cellsd/cellsd/engine"
	"github.com/cellsd/cellsd/engine/natsbus"
	"github.com/cellsd/cellsd/internal/measure"
	"github.com/cellsd/cellsd/internal/natstest"
)

// BenchmarkEventsPaths breaks BenchmarkEvents' burst down: 1,000 queued
// events, stamped and handed on one after another with no run and no
// DuckDB, reach the subscribed client by three paths on the same server,
// p99 medians of CELLSD_BENCH_ROUNDS rounds:
//
//   - plain: plain NATS messages (the floor);
//   - stream: published on the events' subjects, which CELLSD_EVENTS
//     captures; a subscriber gets them as the server routes them, before
//     the stream stores them, and nothing is in the bucket yet (the path
//     that would skip the bucket-first guarantee);
//   - cellsd: through the Publisher, one write into the bucket each, the
//     server republishing it once stored.
//
// cellsd/plain is the part of P5's ratio the NATS path itself costs;
// stream/plain what it would cost without the bucket first.
func BenchmarkEventsPaths(b *testing.B) {
	const n = 1000
	srv := natstest.RunServer(b, -1, b.TempDir())
	b.Cleanup(srv.Shutdown)
	pub, js := eventsPublisher(b, srv.ClientURL())
	client := eventsClient(b, srv.ClientURL())
	nc := js.Conn()
	event := func(session string, seq, i int) engine.Event {
		return engine.Event{Seq: int64(seq), Time: time.Now(), Session: session, Artifact: "nb", Cell: fmt.Sprintf("c%d", i),
			Run: "r1", Status: engine.StatusQueued, Prev: engine.StatusSuccess, Reason: "run all",
			Relation: fmt.Sprintf("__sqlrooms_ephemeral.artifact_nb.t%d", i)}
	}
	var plain, stream, cellsd []time.Duration
	obs := pub.Observer()
	inc := nuid.Next()
	seq := 0
	for b.Loop() {
		for range eventRounds(b) {
			floorBurst(b, nc, n)
			plain = append(plain, p99(client.wait(b, "floor", n).all))

			var last jetstream.PubAckFuture
			for i := range n {
				ev := event("stream", seq+i+1, i)
				m := &nats.Msg{Subject: natsbus.Subject(ev), Data: natsbus.Marshal(ev),
					Header: nats.Header{jetstream.MsgIDHeader: []string{inc + "." + fmt.Sprint(ev.Seq)}}}
				var err error
				if i < n-1 {
					err = nc.PublishMsg(m)
				} else {
					last, err = js.PublishMsgAsync(m)
				}
				if err != nil {
					b.Fatal(err)
				}
			}
			select {
			case <-last.Ok():
			case err := <-last.Err():
				b.Fatal(err)
			}
			stream = append(stream, p99(client.wait(b, "stream", n).all))

			for i := range n {
				obs(event("cellsd", seq+i+1, i))
			}
			if err := pub.Flush(context.Background()); err != nil {
				b.Fatal(err)
			}
			cellsd = append(cellsd, p99(client.wait(b, "cellsd", n).all))
			seq += n
		}
	}
	pl, st, cd := measure.Median(plain), measure.Median(stream), measure.Median(cellsd)
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(ms2(pl), "plain-p99-ms")
	b.ReportMetric(ms2(st), "stream-p99-ms")
	b.ReportMetric(ms2(cd), "cellsd-p99-ms")
	b.ReportMetric(float64(st)/float64(pl), "stream/plain")
	b.ReportMetric(float64(cd)/float64(pl), "cellsd/plain")
	b.Logf("1,000 events, p99: plain %.2f ms, stream %.2f ms (%.2fx), cellsd %.2f ms (%.2fx); medians of %d rounds, load average %s, %d CPUs",
		ms2(pl), ms2(st), float64(st)/float64(pl), ms2(cd), float64(cd)/float64(pl), len(plain), eventsLoad(), runtime.NumCPU())
}
