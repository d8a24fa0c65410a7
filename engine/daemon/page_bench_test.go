package daemon_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/cellsd/cellsd/engine/daemon/jobapi"
	"github.com/cellsd/cellsd/engine/natsbus"
)

// treeNotebook is an n-cell notebook whose cell i reads cell (i-1)/2: a
// binary tree of depth log2(n), n-1 edges.
func treeNotebook(n int) json.RawMessage {
	data := map[string]any{}
	ids := make([]string, n)
	for i := range n {
		id := fmt.Sprintf("c%04d", i)
		ids[i] = id
		sql := "SELECT 1 AS x"
		if i > 0 {
			sql = fmt.Sprintf("SELECT x + 1 AS x FROM c%04d", (i-1)/2)
		}
		data[id] = map[string]any{"id": id, "type": "sql", "data": map[string]any{"title": id, "sql": sql, "resultName": id}}
	}
	nb, _ := json.Marshal(map[string]any{"data": data, "artifacts": map[string]any{"tree": map[string]any{"id": "tree", "cellIds": ids, "edges": []any{}}}})
	return nb
}

// BenchmarkPage1000 opens the live page on a 1,000-cell notebook and
// measures, in Chromium:
//   - first paint: from navigation to every node in the page, laid out
//     (first-paint-ms; layout-ms is the quick layout's part of it, elk-ms
//     the time until ELK's drawing replaced it, after which the rest is
//     measured);
//   - a burst of 1,000 events, one per cell, published at once: from the
//     first one's arrival to the last one shown (burst-ms), the frames that
//     took (burst-frames) and the longest frame meanwhile
//     (burst-longest-frame-ms: how long the page was frozen at most);
//   - run all: from the click to every node success (run-all-ms), the
//     daemon's own time for the run (run-daemon-ms), the events the page
//     applied and the longest frame meanwhile.
//
// go test -run '^$' -bench BenchmarkPage1000 -benchtime 3x ./engine/daemon
func BenchmarkPage1000(b *testing.B) {
	const n = 1000
	browser(b)
	d, nc, id := pageSession(b, treeNotebook(n))
	var firstPaint, layoutMs, elkMs, burstMs, burstFrames, burstLongest, runAll, runDaemon, runLongest, runEvents float64
	for i := 0; b.Loop(); i++ {
		p := openPage(b, d, sessionPath(id))
		p.ready()
		var probe struct{ FirstPaintMs, LayoutMs float64 }
		p.eval(`({firstPaintMs: window.__cellsd.firstPaintMs, layoutMs: window.__cellsd.layoutMs})`, &probe)
		var marks map[string]float64
		p.eval(`window.__cellsd.marks`, &marks)
		b.Logf("first paint, ms since navigation: %v", marks)
		firstPaint += probe.FirstPaintMs
		layoutMs += probe.LayoutMs
		// The rest is measured once ELK's drawing has replaced the quick one.
		p.waitFor("ELK's layout", `window.__cellsd.elkMs != null`, 120*time.Second)
		var elk float64
		p.eval(`window.__cellsd.elkMs`, &elk)
		elkMs += elk

		// Run all: every cell queued, running, success.
		startFrameMonitor(p)
		p.eval(`window.__cellsd.store.resetMeter()`, nil)
		ev := subscribe(b, nc, id)
		var t0 float64
		p.eval(`performance.now()`, &t0)
		p.run(chromedp.Click(chromedp.CSS(`[data-testid=run-all]`)))
		var r struct{ Run string }
		poll := time.Now()
		for r.Run == "" && time.Since(poll) < 10*time.Second {
			for _, e := range ev.all() {
				if e.Cell == natsbus.SessionToken && e.Status == "running" && e.Run != nil {
					r.Run = *e.Run
				}
			}
			time.Sleep(5 * time.Millisecond)
		}
		end := ev.waitRun(b, r.Run)
		p.waitFor("every node success", fmt.Sprintf(`document.querySelectorAll('.cell[data-status="success"]').length === %d && window.__cellsd.store.pendingCount() === 0`, n), 60*time.Second)
		var run struct{ Last, Events, Longest float64 }
		p.eval(`({last: window.__cellsd.store.meter.lastFlushAt, events: window.__cellsd.store.meter.events, longest: window.__frames.longest})`, &run)
		runAll += run.Last - t0
		if end.DurationMs != nil {
			runDaemon += *end.DurationMs
		}
		runLongest += run.Longest
		runEvents += run.Events
		// The burst: 1,000 events (status stale), seqs above the session's.
		var st jobapi.StatusReply
		request(b, nc, jobapi.SessionSubject(id, "status"), nil, &st)
		seq := max(st.Seq, maxCellSeq(st)) + 1 // only this page sees them: they are not stored
		startFrameMonitor(p)
		p.eval(`window.__cellsd.store.resetMeter()`, nil)
		for j := range n {
			cell := fmt.Sprintf("c%04d", j)
			art := "tree"
			ev := natsbus.Payload{V: 1, Seq: seq + int64(j), Session: id, Artifact: &art, Cell: cell, Status: "stale", Reason: "benchmark burst"}
			data, _ := json.Marshal(ev)
			if err := nc.Publish("cellsd.v1.events."+natsbus.Token(id)+".tree."+cell, data); err != nil {
				b.Fatal(err)
			}
		}
		nc.Flush()
		p.waitFor("the burst shown", fmt.Sprintf(`document.querySelectorAll('.cell[data-status="stale"]').length === %d && window.__cellsd.store.pendingCount() === 0`, n), 30*time.Second)
		var burst struct{ First, Last, Flushes, Longest, MaxFlush float64 }
		p.eval(`({first: window.__cellsd.store.meter.firstOfferAt, last: window.__cellsd.store.meter.lastFlushAt, flushes: window.__cellsd.store.meter.flushes, longest: window.__frames.longest, maxFlush: window.__cellsd.store.meter.maxFlushMs})`, &burst)
		b.Logf("burst: %+v", burst)
		burstMs += burst.Last - burst.First
		burstFrames += burst.Flushes
		burstLongest += burst.Longest

		if i == 0 {
			p.shot("page-1000")
		}
	}
	k := float64(b.N)
	b.ReportMetric(firstPaint/k, "first-paint-ms")
	b.ReportMetric(layoutMs/k, "layout-ms")
	b.ReportMetric(elkMs/k, "elk-ms")
	b.ReportMetric(burstMs/k, "burst-ms")
	b.ReportMetric(burstFrames/k, "burst-frames")
	b.ReportMetric(burstLongest/k, "burst-longest-frame-ms")
	b.ReportMetric(runAll/k, "run-all-ms")
	b.ReportMetric(runDaemon/k, "run-daemon-ms")
	b.ReportMetric(runEvents/k, "run-events")
	b.ReportMetric(runLongest/k, "run-longest-frame-ms")
	b.ReportMetric(0, "ns/op")
}

// startFrameMonitor notes the longest time between two animation frames
// from now on in window.__frames.longest: how long the page froze at most.
func startFrameMonitor(p *page) {
	p.tb.Helper()
	p.eval(`(() => { if (window.__frames) window.__frames.stop = true;
		const f = {longest: 0, stop: false}; window.__frames = f; let last = performance.now();
		const tick = (now) => { if (f.stop) return; f.longest = Math.max(f.longest, now - last); last = now; requestAnimationFrame(tick); };
		requestAnimationFrame(tick); return true; })()`, nil)
}
