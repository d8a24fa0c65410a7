package natstest_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cellsd/cellsd/engine"
	"github.com/cellsd/cellsd/engine/natsbus"
	"github.com/cellsd/cellsd/internal/natstest"
)

// TestBucketState_WhileWritten reads a session's 40 keys again and again
// while a writer keeps rewriting them, as a late subscriber does mid-run:
// every read must hold all 40. (It also counts how often the KV's own
// ListKeys came back short, which is why BucketState does not use it.)
func TestBucketState_WhileWritten(t *testing.T) {
	srv := natstest.RunServer(t, -1, t.TempDir())
	defer srv.Shutdown()
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	kv, err := natsbus.Setup(ctx, js, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	const cells = 40
	put := func(i int, seq int64) error {
		ev := engine.Event{Session: "s", Artifact: "a", Cell: fmt.Sprintf("c%02d", i), Status: "running", Seq: seq}
		_, err := kv.Put(ctx, natsbus.Key(ev), natsbus.Marshal(ev))
		return err
	}
	for i := range cells {
		if err := put(i, int64(i+1)); err != nil {
			t.Fatal(err)
		}
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for seq := int64(cells + 1); ; seq++ {
			select {
			case <-stop:
				return
			default:
			}
			if err := put(int(seq)%cells, seq); err != nil {
				return
			}
		}
	}()
	short := 0
	for range 50 {
		state, err := natstest.BucketState(ctx, js, "s")
		if err != nil {
			t.Fatal(err)
		}
		if len(state) != cells {
			t.Fatalf("BucketState read %d keys while the bucket was written, want %d", len(state), cells)
		}
		if keys, err := kv.ListKeysFiltered(ctx, natsbus.Token("s")+".>"); err == nil {
			n := 0
			for range keys.Keys() {
				n++
			}
			if n < cells {
				short++
			}
		}
	}
	close(stop)
	wg.Wait()
	t.Logf("ListKeys came back short %d times of 50", short)
}
