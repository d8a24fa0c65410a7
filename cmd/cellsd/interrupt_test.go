package main

import (
	"bytes"
	"context"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cellsd/cellsd/internal/pgtest"
)

// TestRun_CtrlC interrupts a run while a Postgres cell sleeps: the run
// exits 130, prints what finished and the summary, and the remote query is
// gone from pg_stat_activity.
func TestRun_CtrlC(t *testing.T) {
	args, remote := ctrlCRun(t, "cellsd_ctrl_c_test")
	type result struct {
		code   int
		stderr string
	}
	done := make(chan result, 1)
	go func() {
		var out, errOut bytes.Buffer
		code := run(args, &out, &errOut)
		done <- result{code, errOut.String()}
	}()
	interruptWhenRemote(t, remote)
	var r result
	select {
	case r = <-done:
	case <-time.After(15 * time.Second):
		t.Fatal("the run did not stop within 15 s of Ctrl-C")
	}
	if r.code != exitInterrupted {
		t.Errorf("exit %d, want 130:\n%s", r.code, r.stderr)
	}
	for _, s := range []string{"success  nb/Fast (fast)", "cancel   nb/Slow (slow)", "1 success, 0 error, 1 blocked, 1 cancelled in ", "cellsd: interrupted"} {
		if !strings.Contains(r.stderr, s) {
			t.Errorf("stderr lacks %q:\n%s", s, r.stderr)
		}
	}
	// The exact text (not a terminal), but for times.
	checkTextGolden(t, diagDir+"ctrl-c.golden", "exit "+strconv.Itoa(r.code)+"\n"+normalize(r.stderr))
	waitRemoteGone(t, remote)
}

// ctrlCRun writes the notebook of the Ctrl-C tests (fast, then slow, a
// Postgres query that sleeps a minute with marker in its SQL, then after,
// which reads slow) and its connections file. It returns the arguments of
// its run and a count of the marker's queries in pg_stat_activity.
func ctrlCRun(t *testing.T, marker string) (args []string, remote func() int) {
	pool := pgtest.Pool(t)
	nb := writeNotebook(t, `{"data": {
		"fast": {"id": "fast", "type": "sql", "data": {"title": "Fast", "sql": "SELECT 1 AS one"}},
		"slow": {"id": "slow", "type": "sql", "data": {"title": "Slow", "connectorId": "pg", "sql": "SELECT pg_sleep(60) AS `+marker+`"}},
		"after": {"id": "after", "type": "sql", "data": {"title": "After", "sql": "SELECT * FROM slow"}}},
	  "artifacts": {"nb": {"id": "nb", "cellIds": ["fast", "slow", "after"]}}}`)
	remote = func() int {
		var n int
		if err := pool.QueryRow(context.Background(), "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%"+marker+"%' AND pid <> pg_backend_pid()").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	return []string{"run", nb, "--connections", pgConnections(t)}, remote
}

// interruptWhenRemote sends SIGINT to this process (Ctrl-C) once the slow
// query shows in pg_stat_activity.
func interruptWhenRemote(t *testing.T, remote func() int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for remote() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the slow query never showed in pg_stat_activity")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
}

// waitRemoteGone fails unless the slow query leaves pg_stat_activity
// within 5 s.
func waitRemoteGone(t *testing.T, remote func() int) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); remote() > 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the remote query is still in pg_stat_activity after the run ended")
		}
	}
}
