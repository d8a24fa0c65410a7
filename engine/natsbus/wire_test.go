package natsbus_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cellsd/cellsd/engine"
	"github.com/cellsd/cellsd/engine/natsbus"
	"github.com/cellsd/cellsd/internal/natstest"
)

// TestSetup_BucketOfAnOlderCellsd: a CELLSD_STATUS bucket made before the
// bucket republished its events (a stream's RePublish cannot be changed)
// is made again, and events published afterwards reach a subscriber and
// the stream once each.
func TestSetup_BucketOfAnOlderCellsd(t *testing.T) {
	srv := natstest.RunServer(t, -1, t.TempDir())
	t.Cleanup(srv.Shutdown)
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx := ctxTimeout(t, 30*time.Second)
	old, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: natsbus.BucketName, History: 1, Storage: jetstream.FileStorage})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := old.Put(ctx, "s.a.x", []byte(`{"v":1,"seq":7}`)); err != nil {
		t.Fatal(err)
	}
	if _, err := natsbus.Setup(ctx, js, 0); err != nil {
		t.Fatalf("Setup over an older bucket: %v", err)
	}
	if _, err := natsbus.Setup(ctx, js, 0); err != nil {
		t.Fatalf("Setup again: %v", err)
	}
	st, err := js.Stream(ctx, "KV_"+natsbus.BucketName)
	if err != nil {
		t.Fatal(err)
	}
	if st.CachedInfo().Config.RePublish == nil {
		t.Fatal("the bucket has no RePublish")
	}

	bs := connectBus(t, srv.ClientURL())
	got := make(chan *nats.Msg, 10)
	sub, err := bs.sub.ChanSubscribe(natsbus.SessionSubject("s"), got)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	bs.sub.Flush()
	bs.pub.Observer()(engine.Event{Seq: 1, Time: time.Now(), Session: "s", Artifact: "a", Cell: "x", Status: engine.StatusQueued})
	if err := bs.pub.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-got:
		if m.Subject != "cellsd.v1.events.s.a.x" {
			t.Errorf("event on %s", m.Subject)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no event")
	}
	select {
	case m := <-got:
		t.Errorf("a second event: %s", m.Data)
	case <-time.After(100 * time.Millisecond):
	}
	evs, err := natstest.SessionEvents(context.Background(), bs.js, "s")
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 || evs[0].Seq != 1 {
		t.Errorf("stream holds %+v, want the one event", evs)
	}
}
