package natsbus_test

import (
	"context"
	"testing"
	"time"

	"github.com/cellsd/cellsd/engine"
	"github.com/cellsd/cellsd/engine/natsbus"
	"github.com/cellsd/cellsd/internal/natstest"
)

// TestCloseAbandoned_SeqFromStream: a daemon killed after the bucket got
// an event the stream did not (the bucket's state of y at seq 4, the
// stream's last event seq 3) is closed by the next one with seq going on
// from the stream's last, so the stream a subscriber replays has no gap;
// the bucket's state still says which cells were unfinished.
func TestCloseAbandoned_SeqFromStream(t *testing.T) {
	bs := newBus(t)
	ctx := ctxTimeout(t, 30*time.Second)
	obs := bs.pub.Observer()
	now := time.Now()
	for _, ev := range []engine.Event{
		{Seq: 1, Time: now, Session: "g", Run: "r1", Status: engine.StatusRunning, Reason: "run r1: 2 cells"},
		{Seq: 2, Time: now, Session: "g", Artifact: "a", Cell: "x", Run: "r1", Status: engine.StatusQueued},
		{Seq: 3, Time: now, Session: "g", Artifact: "a", Cell: "x", Run: "r1", Status: engine.StatusRunning, Prev: engine.StatusQueued},
		{Seq: 4, Time: now, Session: "g", Artifact: "a", Cell: "y", Run: "r1", Status: engine.StatusQueued},
	} {
		obs(ev)
	}
	if err := bs.pub.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	st, err := bs.js.Stream(ctx, natsbus.StreamName)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 4 {
		t.Fatalf("stream holds %d events, want 4", info.State.Msgs)
	}
	// The event of seq 4 never reached the stream.
	if err := st.DeleteMsg(ctx, info.State.LastSeq); err != nil {
		t.Fatal(err)
	}

	n, err := natsbus.CloseAbandoned(ctx, bs.js, "g", bs.pub.Observer())
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Errorf("%d cells cancelled, want 2 (x running, y queued)", n)
	}
	if err := bs.pub.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	evs, err := natstest.SessionEvents(ctx, bs.js, "g")
	if err != nil {
		t.Fatal(err)
	}
	var seqs []int64
	for _, p := range evs {
		seqs = append(seqs, p.Seq)
	}
	want := []int64{1, 2, 3, 4, 5, 6}
	if len(seqs) != len(want) {
		t.Fatalf("stream holds seqs %v, want %v", seqs, want)
	}
	for i := range want {
		if seqs[i] != want[i] {
			t.Fatalf("stream holds seqs %v, want %v", seqs, want)
		}
	}
	if last := evs[len(evs)-1]; last.Status != string(engine.StatusClosed) || last.Reason != natsbus.RestartReason {
		t.Errorf("last event %s (%s), want closed (%s)", last.Status, last.Reason, natsbus.RestartReason)
	}
	// A new incarnation continues from there.
	seq, err := natsbus.Begin(context.Background(), bs.js, "g")
	if err != nil {
		t.Fatal(err)
	}
	if seq != 6 {
		t.Errorf("Begin: seq %d, want 6", seq)
	}
}
