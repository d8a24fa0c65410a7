package bridge_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/cellsd/cellsd/connectors"
	"github.com/cellsd/cellsd/connectors/bridge"
)

var testSchema = arrow.NewSchema([]arrow.Field{
	{Name: "id", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
	{Name: "name", Type: arrow.BinaryTypes.String, Nullable: true},
}, nil)

// ipcStream is a complete Arrow IPC stream of schema with one record per
// entry of ids (each record holding those ids), as a batch frame carries.
func ipcStream(t testing.TB, schema *arrow.Schema, ids ...[]int64) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := ipc.NewWriter(&buf, ipc.WithSchema(schema))
	for _, batch := range ids {
		b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
		for _, id := range batch {
			b.Field(0).(*array.Int64Builder).Append(id)
			if len(schema.Fields()) > 1 {
				b.Field(1).(*array.StringBuilder).Append("n" + string(rune('a'+id%26)))
			}
		}
		rec := b.NewRecordBatch()
		if err := w.Write(rec); err != nil {
			t.Fatal(err)
		}
		rec.Release()
		b.Release()
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func clientFrame(t testing.TB, typ string, payload []byte, errMsg string) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := bridge.WriteFrame(&buf, bridge.FrameHeader{Type: typ, QueryID: "q", Error: errMsg}, payload); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// rawFrame is a frame with a header of any text and any payload length.
func rawFrame(header string, payload []byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(len(header)))
	return append(append(b, header...), payload...)
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// sink collects what the client hands on.
type sink struct {
	schema *arrow.Schema
	ids    []int64
	onRec  func()
}

func (s *sink) Schema(sc *arrow.Schema) error { s.schema = sc; return nil }
func (s *sink) Record(rec arrow.RecordBatch) error {
	col := rec.Column(0).(*array.Int64)
	for i := range col.Len() {
		s.ids = append(s.ids, col.Value(i))
	}
	if s.onRec != nil {
		s.onRec()
	}
	return nil
}

func newClient(t testing.TB, url string, mutate func(*connectors.Connection)) *bridge.Client {
	t.Helper()
	c := connectors.Connection{ID: "remote", Engine: connectors.EngineBridge, URL: url, RemoteID: "pg", Token: "tok-Secret"}
	if mutate != nil {
		mutate(&c)
	}
	cl, err := bridge.NewClient(c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	return cl
}

// serve answers fetch-arrow-stream with body, written as it is.
func serve(t testing.TB, status int, contentType string, body []byte) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", contentType)
		w.WriteHeader(status)
		w.Write(body)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestClient_QueryArrow(t *testing.T) {
	var got bridge.QueryRequest
	var auth, path string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		path, auth = r.URL.Path, r.Header.Get("Authorization")
		if err := json.NewDecoder(r.Body).Decode(&got); err != nil {
			t.Error(err)
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Write(clientFrame(t, bridge.FrameBatch, ipcStream(t, testSchema, []int64{1, 2}, []int64{3}), ""))
		w.(http.Flusher).Flush()
		w.Write(clientFrame(t, bridge.FrameBatch, ipcStream(t, testSchema, []int64{4}), ""))
		w.Write(clientFrame(t, bridge.FrameEnd, nil, ""))
	}))
	defer srv.Close()
	cl := newClient(t, srv.URL+"/", nil)
	var s sink
	saw, err := cl.QueryArrow(context.Background(), "SELECT 1", &s)
	if err != nil || !saw {
		t.Fatalf("QueryArrow: %v (schema seen: %v)", err, saw)
	}
	if !s.schema.Equal(testSchema) || len(s.ids) != 4 || s.ids[3] != 4 {
		t.Errorf("schema %v ids %v", s.schema, s.ids)
	}
	if path != bridge.PathFetchArrowStream || auth != "Bearer tok-Secret" {
		t.Errorf("request to %s with Authorization %q", path, auth)
	}
	if got.ConnectionID != "pg" || got.SQL != "SELECT 1" || !strings.HasPrefix(got.QueryID, "cellsd_") || got.ChunkRows != bridge.ClientChunkRows {
		t.Errorf("request body %+v", got)
	}
}

func TestClient_EmptyResults(t *testing.T) {
	t.Run("SchemaOnly", func(t *testing.T) {
		srv := serve(t, 200, "application/octet-stream", cat(clientFrame(t, bridge.FrameBatch, ipcStream(t, testSchema), ""), clientFrame(t, bridge.FrameEnd, nil, "")))
		var s sink
		saw, err := newClient(t, srv.URL, nil).QueryArrow(context.Background(), "SELECT 1", &s)
		if err != nil || !saw || s.schema == nil || len(s.ids) != 0 {
			t.Errorf("err %v saw %v schema %v ids %v", err, saw, s.schema, s.ids)
		}
	})
	t.Run("NoBatch", func(t *testing.T) {
		srv := serve(t, 200, "application/octet-stream", clientFrame(t, bridge.FrameEnd, nil, ""))
		var s sink
		saw, err := newClient(t, srv.URL, nil).QueryArrow(context.Background(), "SELECT 1", &s)
		if err != nil || saw || s.schema != nil {
			t.Errorf("err %v saw %v schema %v", err, saw, s.schema)
		}
	})
}

func TestClient_Faults(t *testing.T) {
	batch := clientFrame(t, bridge.FrameBatch, ipcStream(t, testSchema, []int64{1}), "")
	end := clientFrame(t, bridge.FrameEnd, nil, "")
	otherSchema := arrow.NewSchema([]arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int64, Nullable: true}}, nil)
	ipc := ipcStream(t, testSchema, []int64{1})
	for _, tc := range []struct {
		name        string
		status      int
		contentType string
		body        []byte
		want        string
		stream      bool // errors.Is(err, bridge.ErrStream)
		malformed   bool // errors.Is(err, bridge.ErrMalformedFrame)
		remote      int  // unless stream: the status of the *bridge.RemoteError
	}{
		{name: "EmptyBody", want: "the stream ended after 0 frames without an end frame", stream: true},
		{name: "TruncatedHeaderLength", body: []byte{0, 0}, want: "frame 1: malformed bridge frame: header length: unexpected EOF", stream: true, malformed: true},
		{name: "HeaderLengthZero", body: cat(batch, []byte{0, 0, 0, 0}), want: "frame 2: malformed bridge frame: header of 0 bytes", stream: true, malformed: true},
		{name: "HeaderLengthHuge", body: []byte{0xff, 0xff, 0xff, 0xff, '{'}, want: "header of 4294967295 bytes", stream: true, malformed: true},
		{name: "HeaderCut", body: cat([]byte{0, 0, 0, 40}, []byte(`{"type":"batch"`)), want: "malformed bridge frame: header: unexpected EOF", stream: true, malformed: true},
		{name: "HeaderNotJSON", body: rawFrame(`{"type": batch}`, nil), want: "malformed bridge frame: header: invalid character", stream: true, malformed: true},
		{name: "NegativePayloadLength", body: rawFrame(`{"type":"batch","payloadLength":-1}`, nil), want: "payload of -1 bytes", stream: true, malformed: true},
		{name: "PayloadShort", body: rawFrame(`{"type":"batch","payloadLength":100}`, ipc[:10]), want: "frame 1: malformed bridge frame: payload: unexpected EOF", stream: true, malformed: true},
		{name: "PayloadNotArrow", body: cat(clientFrame(t, bridge.FrameBatch, []byte("this is not Arrow IPC at all"), ""), end), want: "frame 1: bad bridge stream: payload is not an Arrow IPC stream", stream: true},
		{name: "PayloadArrowCut", body: cat(clientFrame(t, bridge.FrameBatch, ipc[:len(ipc)-20], ""), end), want: "frame 1: bad bridge stream: payload is not an Arrow IPC stream", stream: true},
		{name: "MissingEnd", body: batch, want: "the stream ended after 1 frames without an end frame", stream: true},
		{name: "UnknownType", body: cat(clientFrame(t, "progress", nil, ""), end), want: `frame 1: unknown frame type "progress"`, stream: true},
		{name: "SchemaChanges", body: cat(batch, clientFrame(t, bridge.FrameBatch, ipcStream(t, otherSchema, []int64{2}), ""), end), want: "frame 2: bad bridge stream: schema changed", stream: true},
		{name: "ErrorFrame", body: cat(batch, clientFrame(t, bridge.FrameError, nil, `relation "nope" does not exist`)), want: `connection remote: relation "nope" does not exist`, remote: 0},
		{name: "ErrorFrameWithoutMessage", body: clientFrame(t, bridge.FrameError, nil, ""), want: "connection remote: bridge stream error", remote: 0},
		{name: "NotFoundJSON", status: 404, contentType: "application/json", body: []byte(`{"error":"unknown connection \"pg\""}`),
			want: `connection remote: /api/db/fetch-arrow-stream: HTTP 404: unknown connection "pg"`, remote: 404},
		{name: "UnauthorizedJSON", status: 401, contentType: "application/json; charset=utf-8", body: []byte(`{"error":"missing or wrong bearer token"}`),
			want: "HTTP 401: missing or wrong bearer token", remote: 401},
		{name: "ServerErrorText", status: 502, contentType: "text/plain", body: []byte("bad gateway\n"), want: "HTTP 502: bad gateway", remote: 502},
		{name: "ServerErrorEmpty", status: 500, contentType: "application/json", want: "HTTP 500 Internal Server Error", remote: 500},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, ct := tc.status, tc.contentType
			if status == 0 {
				status, ct = 200, "application/octet-stream"
			}
			srv := serve(t, status, ct, tc.body)
			_, err := newClient(t, srv.URL, nil).QueryArrow(context.Background(), "SELECT 1", &sink{})
			if err == nil {
				t.Fatal("no error")
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "connection remote: ") || !strings.Contains(msg, tc.want) {
				t.Errorf("error %q, want it to name the connection and contain %q", msg, tc.want)
			}
			if strings.Contains(msg, "Secret") {
				t.Errorf("the token is in the error: %s", msg)
			}
			if got := errors.Is(err, bridge.ErrStream); got != tc.stream {
				t.Errorf("errors.Is(err, ErrStream) = %v", got)
			}
			if got := errors.Is(err, bridge.ErrMalformedFrame); got != tc.malformed {
				t.Errorf("errors.Is(err, ErrMalformedFrame) = %v", got)
			}
			var re *bridge.RemoteError
			isRemote := errors.As(err, &re)
			wantRemote := !tc.stream
			if isRemote != wantRemote || (isRemote && re.Status != tc.remote) {
				t.Errorf("RemoteError %v (%+v), want one: %v with status %d", isRemote, re, wantRemote, tc.remote)
			}
		})
	}
}

// TestClient_Cancel cancels a query mid-stream: the client closes the
// stream and sends cancel-query with the query's id.
func TestClient_Cancel(t *testing.T) {
	var mu sync.Mutex
	var streamID, cancelID string
	streamDone := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case bridge.PathFetchArrowStream:
			defer close(streamDone)
			var q bridge.QueryRequest
			json.NewDecoder(r.Body).Decode(&q)
			mu.Lock()
			streamID = q.QueryID
			mu.Unlock()
			w.Write(clientFrame(t, bridge.FrameBatch, ipcStream(t, testSchema, []int64{1}), ""))
			w.(http.Flusher).Flush()
			<-r.Context().Done() // the client went away
		case bridge.PathCancelQuery:
			var c bridge.CancelRequest
			json.NewDecoder(r.Body).Decode(&c)
			mu.Lock()
			cancelID = c.QueryID
			mu.Unlock()
			json.NewEncoder(w).Encode(bridge.CancelResponse{Cancelled: true})
		}
	}))
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := &sink{onRec: cancel}
	start := time.Now()
	_, err := newClient(t, srv.URL, nil).QueryArrow(ctx, "SELECT pg_sleep(30)", s)
	if !errors.Is(err, context.Canceled) || !strings.HasPrefix(err.Error(), "connection remote: query cellsd_") {
		t.Errorf("error %v, want context.Canceled naming the connection and query", err)
	}
	select {
	case <-streamDone:
	case <-time.After(5 * time.Second):
		t.Fatal("the stream request is still open on the server")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("cancel took %s", d)
	}
	mu.Lock()
	defer mu.Unlock()
	if cancelID == "" || cancelID != streamID {
		t.Errorf("cancel-query for %q, the stream was %q", cancelID, streamID)
	}
}

func TestClient_Secrets(t *testing.T) {
	t.Run("TokenEnvUnset", func(t *testing.T) {
		_, err := bridge.NewClient(connectors.Connection{ID: "remote", Engine: connectors.EngineBridge, URL: "http://x", RemoteID: "pg", TokenEnv: "CELLSD_TEST_UNSET_TOKEN"})
		if !errors.Is(err, bridge.ErrSecretMissing) || !strings.Contains(err.Error(), "connection remote") || !strings.Contains(err.Error(), "CELLSD_TEST_UNSET_TOKEN") {
			t.Errorf("error %v", err)
		}
	})
	t.Run("TokenEnv", func(t *testing.T) {
		t.Setenv("CELLSD_TEST_TOKEN", "from-env-Secret")
		var auth string
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			auth = r.Header.Get("Authorization")
			// A bridge that echoes what it got must not leak the token.
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(401)
			json.NewEncoder(w).Encode(bridge.ErrorResponse{Error: "bad token " + strings.TrimPrefix(auth, "Bearer ")})
		}))
		defer srv.Close()
		cl := newClient(t, srv.URL, func(c *connectors.Connection) { c.Token, c.TokenEnv = "", "CELLSD_TEST_TOKEN" })
		_, err := cl.QueryArrow(context.Background(), "SELECT 1", &sink{})
		if auth != "Bearer from-env-Secret" {
			t.Errorf("Authorization %q", auth)
		}
		if err == nil || strings.Contains(err.Error(), "Secret") || !strings.Contains(err.Error(), "bad token ********") {
			t.Errorf("error %v, want the token redacted", err)
		}
	})
}

func TestClient_TestConnection(t *testing.T) {
	var ok bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != bridge.PathTestConnection {
			http.NotFound(w, r)
			return
		}
		body, _ := io.ReadAll(r.Body)
		if !strings.Contains(string(body), `"connectionId":"pg"`) {
			t.Errorf("body %s", body)
		}
		json.NewEncoder(w).Encode(map[string]any{"ok": ok})
	}))
	defer srv.Close()
	cl := newClient(t, srv.URL, nil)
	if err := cl.TestConnection(context.Background()); err == nil || !strings.Contains(err.Error(), "connection remote: test-connection: connection test failed") {
		t.Errorf("failing test: %v", err)
	}
	ok = true
	if err := cl.TestConnection(context.Background()); err != nil {
		t.Errorf("passing test: %v", err)
	}
}
