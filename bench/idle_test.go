package bench

import (
	"encoding/json"
	"testing"
)

// BenchmarkIdleSessions is issue 19's idle-session target: 100 sessions
// open on one daemon (in this process, with its embedded NATS server),
// each with the quickstart run, then left idle. It prints the resident
// memory each idle session adds (target: at most 16 MiB) and, once all are
// closed, the process's resident memory against before they opened
// (target: within 10%). A first session opened, run and closed before the
// measure keeps what the first session of a daemon sets up once (DuckDB's
// and NATS's) out of the per-session figure.
func BenchmarkIdleSessions(b *testing.B) {
	const sessions = 100
	const quickstartCells = 7
	d := startDaemon(b, b.TempDir())
	nc := connect(b, d.NATSURL())
	quickstart, err := json.Marshal("quickstart.json")
	if err != nil {
		b.Fatal(err)
	}
	warm := openSession(b, nc, quickstart)
	runAll(b, nc, warm, quickstartCells)
	closeSession(b, nc, warm)

	before := rssKiB(b)
	ids := make([]string, sessions)
	for i := range ids {
		ids[i] = openSession(b, nc, quickstart)
		runAll(b, nc, ids[i], quickstartCells)
	}
	open := rssKiB(b)
	for _, id := range ids {
		closeSession(b, nc, id)
	}
	after := rssKiB(b)
	perSession := float64(open-before) / sessions / 1024
	back := float64(after) / float64(before)
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(perSession, "MiB/idle-session")
	b.ReportMetric(back, "closed/start-RSS")
	b.Logf("RSS before %.0f MiB, with %d idle sessions %.0f MiB (%.2f MiB a session, target <= 16), after closing them %.0f MiB (%.2fx the start, target <= 1.10); load average %s",
		float64(before)/1024, sessions, float64(open)/1024, perSession, float64(after)/1024, back, loadAverage())
}
