package daemon_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cellsd/cellsd/engine/daemon"
	"github.com/cellsd/cellsd/engine/daemon/jobapi"
	"github.com/cellsd/cellsd/engine/natsbus"
	"github.com/cellsd/cellsd/internal/poll"
)

// asyncErrs collects the errors the server sends a connection.
type asyncErrs struct {
	mu   sync.Mutex
	errs []string
}

func (a *asyncErrs) handler(_ *nats.Conn, _ *nats.Subscription, err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.errs = append(a.errs, err.Error())
}

// waitFor waits until an error mentioning both substrings arrived.
func (a *asyncErrs) waitFor(t *testing.T, what, subject string) {
	t.Helper()
	poll.Until(t, 5*time.Second, 5*time.Millisecond, func() error {
		a.mu.Lock()
		defer a.mu.Unlock()
		for _, e := range a.errs {
			if strings.Contains(e, what) && strings.Contains(e, subject) {
				return nil
			}
		}
		return fmt.Errorf("no %q for %s among %q", what, subject, a.errs)
	})
}

// openWithToken opens the quickstart and returns its id and token.
func openWithToken(t *testing.T, nc *nats.Conn) (string, string) {
	t.Helper()
	var r struct{ SessionID, Token string }
	request(t, nc, "cellsd.v1.api.open", jobapi.OpenRequest{Notebook: notebookPath(quickstart)}, &r)
	if r.Token == "" {
		t.Fatalf("open replied no token")
	}
	return r.SessionID, r.Token
}

// TestToken_SessionClient connects with a session's token: the README's
// late-joiner protocol works (events, bucket keys, status, run), and
// every step outside the session is a NATS permission violation that the
// other session never sees. Closing the session disconnects the client
// and refuses its token.
func TestToken_SessionClient(t *testing.T) {
	d := startDaemon(t, daemon.Config{})
	admin := connect(t, d.NATSURL())
	a, tokA := openWithToken(t, admin)
	b, _ := openWithToken(t, admin)
	bEvents := subscribe(t, admin, b)

	errs := &asyncErrs{}
	nc, err := nats.Connect(d.NATSURL(), nats.Token(tokA), nats.CustomInboxPrefix(natsbus.InboxPrefix(a)),
		nats.ErrorHandler(errs.handler), nats.MaxReconnects(0))
	if err != nil {
		t.Fatalf("connect with the session token: %v", err)
	}
	defer nc.Close()

	// The late-joiner protocol, with exactly the session's permissions.
	evs := subscribe(t, nc, a)
	var r struct{ Run string }
	request(t, nc, jobapi.SessionSubject(a, "run"), jobapi.RunRequest{}, &r)
	if end := evs.waitRun(t, r.Run); end.Status != "success" {
		t.Fatalf("run through the session token: %s %s", end.Status, end.Reason)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	kv, err := js.KeyValue(ctx, natsbus.BucketName)
	if err != nil {
		t.Fatalf("open the bucket with the session token: %v", err)
	}
	keys, err := kv.ListKeysFiltered(ctx, natsbus.Token(a)+".>")
	if err != nil {
		t.Fatalf("list the session's keys: %v", err)
	}
	n := 0
	for k := range keys.Keys() {
		if !strings.HasPrefix(k, natsbus.Token(a)+".") {
			t.Errorf("key %s of another session", k)
		}
		n++
	}
	if n == 0 {
		t.Errorf("no keys of the session")
	}
	if e, err := kv.Get(ctx, natsbus.Token(a)+".quickstart.summary"); err != nil || len(e.Value()) == 0 {
		t.Errorf("get the session's key: %v", err)
	}
	var st jobapi.StatusReply
	request(t, nc, jobapi.SessionSubject(a, "status"), nil, &st)
	if st.SessionID != a {
		t.Errorf("status: %+v", st)
	}
	// Replaying the session's stream messages.
	cons, err := js.OrderedConsumer(ctx, natsbus.StreamName, jetstream.OrderedConsumerConfig{FilterSubjects: []string{natsbus.SessionSubject(a)}})
	if err != nil {
		t.Fatalf("ordered consumer on the session's events: %v", err)
	}
	if msg, err := cons.Next(jetstream.FetchMaxWait(5 * time.Second)); err != nil || !strings.HasPrefix(msg.Subject(), natsbus.SubjectPrefix+"."+natsbus.Token(a)+".") {
		t.Errorf("replay the session's events: %v", err)
	}

	// Outside the session: each a permission violation.
	bBefore := len(bEvents.all())
	t.Run("PublishOnOtherSession", func(t *testing.T) {
		subj := jobapi.SessionSubject(b, "close")
		nc.Publish(subj, nil)
		nc.Flush()
		errs.waitFor(t, "Permissions Violation for Publish", subj)
	})
	t.Run("RequestOtherSession", func(t *testing.T) {
		subj := jobapi.SessionSubject(b, "run")
		nc.Request(subj, nil, 200*time.Millisecond)
		errs.waitFor(t, "Permissions Violation for Publish", subj)
	})
	t.Run("SubscribeOtherEvents", func(t *testing.T) {
		subj := natsbus.SessionSubject(b)
		nc.Subscribe(subj, func(*nats.Msg) { t.Errorf("got an event of another session") })
		nc.Flush()
		errs.waitFor(t, "Permissions Violation for Subscription", subj)
	})
	t.Run("SubscribeEverything", func(t *testing.T) {
		nc.Subscribe(">", func(*nats.Msg) {})
		nc.Flush()
		errs.waitFor(t, "Permissions Violation for Subscription", `">"`)
	})
	t.Run("OtherKeys", func(t *testing.T) {
		short, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		if keys, err := kv.ListKeysFiltered(short, natsbus.Token(b)+".>"); err == nil {
			for k := range keys.Keys() {
				t.Errorf("listed another session's key %s", k)
			}
		}
		errs.waitFor(t, "Permissions Violation for Publish", "$JS.API.CONSUMER.CREATE.KV_CELLSD_STATUS")
		short, cancel = context.WithTimeout(ctx, time.Second)
		defer cancel()
		if _, err := kv.Get(short, natsbus.Token(b)+".quickstart.summary"); err == nil {
			t.Errorf("got another session's key")
		}
		errs.waitFor(t, "Permissions Violation for Publish", "$JS.API.DIRECT.GET.KV_CELLSD_STATUS")
	})
	t.Run("Open", func(t *testing.T) {
		nc.Request("cellsd.v1.api.open", []byte(`{"notebook":"quickstart.json"}`), 200*time.Millisecond)
		errs.waitFor(t, "Permissions Violation for Publish", "cellsd.v1.api.open")
	})
	var stB jobapi.StatusReply
	request(t, admin, jobapi.SessionSubject(b, "status"), nil, &stB) // still open
	if got := len(bEvents.all()); got != bBefore {
		t.Errorf("session %s saw %d events from the other session's client", b, got-bBefore)
	}
	if len(d.Sessions()) != 2 {
		t.Errorf("sessions %v, want both open", d.Sessions())
	}

	// Closing the session ends the token.
	request(t, admin, jobapi.SessionSubject(a, "close"), nil, nil)
	poll.Until(t, 5*time.Second, 10*time.Millisecond, func() error {
		if !nc.IsClosed() {
			return errors.New("the session's client is still connected")
		}
		return nil
	})
	if _, err := nats.Connect(d.NATSURL(), nats.Token(tokA)); err == nil || !strings.Contains(strings.ToLower(err.Error()), "authorization violation") {
		t.Errorf("reconnect with an ended token: %v, want an authorization violation", err)
	}
	if _, err := nats.Connect(d.NATSURL(), nats.Token("cst_made-up")); err == nil {
		t.Errorf("connect with a made-up token succeeded")
	}
}

// TestToken_Bridge: with --auth-token, a session's token as the bearer
// reaches session:<its id> and nothing else.
func TestToken_Bridge(t *testing.T) {
	const token = "admin-t0ken"
	d := startDaemon(t, daemon.Config{AuthToken: token})
	a, tokA := openWithToken(t, connect(t, d.NATSURL()))
	post := func(bearer, endpoint string, body any) int {
		data, _ := json.Marshal(body)
		req, _ := http.NewRequest(http.MethodPost, "http://"+d.HTTPAddr()+"/api/db/"+endpoint, bytes.NewReader(data))
		req.Header.Set("Content-Type", "application/json")
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	q := func(conn string) map[string]string {
		return map[string]string{"connectionId": conn, "sql": "SELECT 1", "queryType": "json"}
	}
	if code := post(token, "execute-query", q("duckdb-core")); code != http.StatusOK {
		t.Errorf("the auth token on duckdb-core: %d", code)
	}
	if code := post(tokA, "execute-query", q("duckdb-core")); code != http.StatusForbidden {
		t.Errorf("a session token on duckdb-core: %d, want 403", code)
	}
	if code := post(tokA, "list-connections", map[string]any{}); code != http.StatusForbidden {
		t.Errorf("a session token listing connections: %d, want 403", code)
	}
	if code := post(tokA, "execute-query", q("session:other")); code != http.StatusForbidden {
		t.Errorf("a session token on another session: %d, want 403", code)
	}
	if code := post(tokA, "execute-query", q("session:"+a)); code == http.StatusForbidden || code == http.StatusUnauthorized {
		t.Errorf("a session token on its own session: %d", code)
	}
	if code := post("cst_made-up", "execute-query", q("session:"+a)); code != http.StatusUnauthorized {
		t.Errorf("a made-up token: %d, want 401", code)
	}
}

// TestToken_WebSocket: a browser's connection, over the embedded
// server's WebSocket, gets in with the session's token and is held to it.
func TestToken_WebSocket(t *testing.T) {
	d := startDaemon(t, daemon.Config{NATSWebsocket: "127.0.0.1:0"})
	id, tok := openWithToken(t, connect(t, d.NATSURL()))
	errs := &asyncErrs{}
	ws, err := nats.Connect(d.WebsocketURL(), nats.Token(tok), nats.CustomInboxPrefix(natsbus.InboxPrefix(id)), nats.ErrorHandler(errs.handler))
	if err != nil {
		t.Fatalf("websocket with the session token: %v", err)
	}
	defer ws.Close()
	request(t, ws, jobapi.SessionSubject(id, "status"), nil, nil)
	ws.Publish("cellsd.v1.api.open", []byte(`{}`))
	errs.waitFor(t, "Permissions Violation for Publish", "cellsd.v1.api.open")
	if _, err := nats.Connect(d.WebsocketURL(), nats.Token("cst_nope")); err == nil {
		t.Errorf("websocket with a made-up token got in")
	}
}
