package bridge

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/cellsd/cellsd/connectors"
)

// Endpoint paths of the bridge contract.
const (
	PathTestConnection   = "/api/db/test-connection"
	PathExecuteQuery     = "/api/db/execute-query"
	PathFetchArrowStream = "/api/db/fetch-arrow-stream"
	PathCancelQuery      = "/api/db/cancel-query"
)

// Client defaults.
const (
	// ClientChunkRows is the number of rows per batch the client asks
	// for: DuckDB's vector size.
	ClientChunkRows = 2048
	// DefaultMaxPayload bounds one batch frame's payload.
	DefaultMaxPayload = 256 << 20
	// cancelTimeout bounds the cancel-query request sent when a query's
	// context ends.
	cancelTimeout = 5 * time.Second
	// maxErrorBody bounds how much of a failed response is read.
	maxErrorBody = 64 << 10
)

// ErrSecretMissing is wrapped when token_env names an unset variable.
var ErrSecretMissing = connectors.ErrSecretMissing

// ErrStream reports a fetch-arrow-stream response that broke the contract:
// a malformed frame, a payload that is not an Arrow IPC stream, a schema
// that changes between batches, or a stream that ends without its end
// frame. Malformed frames also wrap ErrMalformedFrame.
var ErrStream = errors.New("bad bridge stream")

// RemoteError is an error the bridge reported: a JSON {error} body of a
// failed request (Status is its HTTP status) or an error frame of a stream
// (Status is 0).
type RemoteError struct {
	Status  int
	Message string
}

func (e *RemoteError) Error() string {
	if e.Status == 0 {
		return e.Message
	}
	if e.Message == "" {
		return fmt.Sprintf("HTTP %d %s", e.Status, http.StatusText(e.Status))
	}
	return fmt.Sprintf("HTTP %d: %s", e.Status, e.Message)
}

// Client runs queries on one connection of a remote bridge (another cellsd
// or the SQLRooms CLI). Errors name the local connection and never carry
// the token. A Client is safe for concurrent use.
type Client struct {
	id       string // the local connection's id, for messages
	remoteID string
	base     string
	token    string
	http     *http.Client
	// ChunkRows is the rows per batch asked of the bridge.
	ChunkRows int
	// MaxPayload bounds one frame's payload; a larger one is malformed.
	MaxPayload int
	// Allocator allocates the decoded record batches.
	Allocator memory.Allocator
}

// NewClient returns a client for a bridge connection (engine "bridge"),
// reading its token from token_env when set. It connects on first use.
func NewClient(c connectors.Connection) (*Client, error) {
	if c.Engine != connectors.EngineBridge {
		return nil, fmt.Errorf("connection %s: engine %q is not %s", c.ID, c.Engine, connectors.EngineBridge)
	}
	if c.URL == "" || c.RemoteID == "" {
		return nil, fmt.Errorf("connection %s: bridge url and connection_id are required", c.ID)
	}
	token, err := c.TokenSecret()
	if err != nil {
		return nil, fmt.Errorf("connection %s: %w", c.ID, err)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	tr.TLSHandshakeTimeout = 10 * time.Second
	tr.IdleConnTimeout = 90 * time.Second
	// No ResponseHeaderTimeout and no Client.Timeout: a bridge may answer
	// only when the query's first batch is ready, and a stream lasts as
	// long as the result; the caller's context bounds both.
	return &Client{
		id:         c.ID,
		remoteID:   c.RemoteID,
		base:       strings.TrimRight(c.URL, "/"),
		token:      token,
		http:       &http.Client{Transport: tr},
		ChunkRows:  ClientChunkRows,
		MaxPayload: DefaultMaxPayload,
		Allocator:  memory.DefaultAllocator,
	}, nil
}

// Close releases the client's idle connections.
func (c *Client) Close() error {
	c.http.CloseIdleConnections()
	return nil
}

var _ connectors.Source = (*Client)(nil)

// Fetch implements connectors.Source: a query with a result streams
// through fetch-arrow-stream (QueryArrow), one without runs through
// execute-query (Exec). Errors name the connection. The bridge protocol
// has no parameters: a query with Args fails before anything is sent.
func (c *Client) Fetch(ctx context.Context, q connectors.Query, w connectors.ResultWriter) error {
	if len(q.Args) > 0 {
		return c.errorf("the bridge protocol takes no query parameters")
	}
	if q.Since != nil {
		return c.errorf("incremental refresh needs query parameters, which the bridge protocol does not take")
	}
	if !q.HasResult {
		return c.Exec(ctx, q.SQL)
	}
	saw, err := c.QueryArrow(ctx, q.SQL, fetchSink{w})
	if err == nil && !saw {
		return c.errorf("the bridge sent no batch, so the result's columns are unknown")
	}
	return err
}

// fetchSink hands a stream to a connectors.ResultWriter: the columns are
// the fields', typed as DuckDB types their Arrow types.
type fetchSink struct{ w connectors.ResultWriter }

func (s fetchSink) Schema(schema *arrow.Schema) error {
	cols := make([]connectors.Column, schema.NumFields())
	for i, f := range schema.Fields() {
		cols[i].Name = f.Name
	}
	return s.w.Begin(schema, cols)
}

func (s fetchSink) Record(rec arrow.RecordBatch) error {
	rec.Retain() // the writer releases it
	return s.w.Write(rec)
}

// Sink receives a streamed result: its schema once, before any record,
// then the records in order. A record is released after Record returns;
// a sink that keeps it must Retain it.
type Sink interface {
	Schema(s *arrow.Schema) error
	Record(rec arrow.RecordBatch) error
}

// QueryArrow runs sql on the bridge's connection through
// fetch-arrow-stream and hands each batch to sink as it arrives, so memory
// holds one frame at a time. A stream without batches calls Schema only if
// the bridge sent one (as an IPC stream without record batches); it
// reports whether a schema was seen. Cancelling ctx sends cancel-query for
// the query and closes the stream.
func (c *Client) QueryArrow(ctx context.Context, sql string, sink Sink) (sawSchema bool, err error) {
	qid, err := newQueryID()
	if err != nil {
		return false, c.errorf("%w", err)
	}
	body, err := json.Marshal(QueryRequest{ConnectionID: c.remoteID, SQL: sql, QueryID: qid, ChunkRows: c.ChunkRows})
	if err != nil {
		return false, c.errorf("encode request: %w", err)
	}
	// cancel-query runs as soon as ctx ends, on a context of its own, and
	// QueryArrow does not return before it is done.
	cancelled := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		defer close(cancelled)
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cancelTimeout)
		defer cancel()
		_ = c.cancel(cctx, qid) // best effort: the stream is closed either way
	})
	defer func() {
		if !stop() {
			<-cancelled
		}
	}()
	resp, err := c.post(ctx, PathFetchArrowStream, body)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	sawSchema, err = c.readStream(resp.Body, sink)
	if err != nil && ctx.Err() != nil {
		return sawSchema, c.errorf("query %s: %w", qid, context.Cause(ctx))
	}
	return sawSchema, err
}

// readStream reads frames until the end frame.
func (c *Client) readStream(r io.Reader, sink Sink) (bool, error) {
	var schema *arrow.Schema
	for n := 1; ; n++ {
		h, payload, err := ReadFrame(r, c.MaxPayload)
		switch {
		case err == io.EOF:
			return schema != nil, c.errorf("%w: the stream ended after %d frames without an end frame", ErrStream, n-1)
		case errors.Is(err, ErrMalformedFrame):
			return schema != nil, c.errorf("%w: frame %d: %w", ErrStream, n, err)
		case err != nil:
			return schema != nil, c.errorf("read frame %d: %w", n, err)
		}
		switch h.Type {
		case FrameEnd:
			return schema != nil, nil
		case FrameError:
			msg := h.Error
			if msg == "" {
				msg = "bridge stream error"
			}
			return schema != nil, c.errorf("%w", &RemoteError{Message: msg})
		case FrameBatch:
			s, err := c.decode(payload, schema, sink)
			if err != nil {
				return schema != nil, c.errorf("frame %d: %w", n, err)
			}
			schema = s
		default:
			return schema != nil, c.errorf("%w: frame %d: unknown frame type %q", ErrStream, n, h.Type)
		}
	}
}

// decode reads one batch frame's payload, a complete Arrow IPC stream,
// and hands its records to sink. The first schema goes to sink; every
// later one must equal it.
func (c *Client) decode(payload []byte, schema *arrow.Schema, sink Sink) (*arrow.Schema, error) {
	rd, err := ipc.NewReader(bytes.NewReader(payload), ipc.WithAllocator(c.Allocator))
	if err != nil {
		return schema, fmt.Errorf("%w: payload is not an Arrow IPC stream: %w", ErrStream, err)
	}
	defer rd.Release()
	switch s := rd.Schema(); {
	case schema == nil:
		if err := sink.Schema(s); err != nil {
			return schema, err
		}
		schema = s
	case !schema.Equal(s):
		return schema, fmt.Errorf("%w: schema changed from %s to %s", ErrStream, schema, s)
	}
	for rd.Next() {
		if err := sink.Record(rd.RecordBatch()); err != nil {
			return schema, err
		}
	}
	if err := rd.Err(); err != nil {
		return schema, fmt.Errorf("%w: payload is not an Arrow IPC stream: %w", ErrStream, err)
	}
	return schema, nil
}

// Exec runs sql on the bridge's connection through execute-query
// (queryType "exec"), for statements whose result is not kept.
func (c *Client) Exec(ctx context.Context, sql string) error {
	body, err := json.Marshal(QueryRequest{ConnectionID: c.remoteID, SQL: sql, QueryType: "exec"})
	if err != nil {
		return c.errorf("encode request: %w", err)
	}
	resp, err := c.post(ctx, PathExecuteQuery, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, err = io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBody))
	if err != nil {
		return c.errorf("read response: %w", err)
	}
	return nil
}

// TestConnection asks the bridge whether its connection works.
func (c *Client) TestConnection(ctx context.Context) error {
	body, err := json.Marshal(ConnectionRequest{ConnectionID: c.remoteID})
	if err != nil {
		return c.errorf("encode request: %w", err)
	}
	resp, err := c.post(ctx, PathTestConnection, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var out struct {
		OK    bool   `json:"ok"`
		Error string `json:"error"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxErrorBody)).Decode(&out); err != nil {
		return c.errorf("test-connection: decode response: %w", err)
	}
	if !out.OK {
		msg := out.Error
		if msg == "" {
			msg = "connection test failed"
		}
		return c.errorf("test-connection: %w", &RemoteError{Message: msg})
	}
	return nil
}

// cancel sends cancel-query for qid.
func (c *Client) cancel(ctx context.Context, qid string) error {
	body, err := json.Marshal(CancelRequest{QueryID: qid})
	if err != nil {
		return err
	}
	resp, err := c.post(ctx, PathCancelQuery, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, err = io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBody))
	return err
}

// post sends a JSON request; a non-2xx answer is a *RemoteError with the
// bridge's message.
func (c *Client) post(ctx context.Context, path string, body []byte) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+path, bytes.NewReader(body))
	if err != nil {
		return nil, c.errorf("%s: %w", path, err)
	}
	req.Header.Set("Content-Type", "application/json")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, c.errorf("%s: %w", path, context.Cause(ctx))
		}
		return nil, c.errorf("%s: %w", path, err)
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		return nil, c.errorf("%s: %w", path, &RemoteError{Status: resp.StatusCode, Message: errorMessage(resp)})
	}
	return resp, nil
}

// errorMessage is the message of a failed response: the error (or
// message) of a JSON body, else its text, cut short.
func errorMessage(resp *http.Response) string {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt == "application/json" {
		var e struct {
			Error   string `json:"error"`
			Message string `json:"message"`
		}
		if json.Unmarshal(b, &e) == nil {
			if e.Error != "" {
				return e.Error
			}
			return e.Message
		}
	}
	msg := strings.TrimSpace(string(b))
	if len(msg) > 500 {
		msg = msg[:500] + "..."
	}
	return msg
}

// errorf wraps an error with the connection's name; the token is removed
// from the text should anything have echoed it.
func (c *Client) errorf(format string, args ...any) error {
	err := fmt.Errorf("connection %s: "+format, append([]any{c.id}, args...)...)
	if c.token != "" && strings.Contains(err.Error(), c.token) {
		return &redactedError{msg: strings.ReplaceAll(err.Error(), c.token, "********"), err: err}
	}
	return err
}

type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// newQueryID returns a random query id for cancel-query.
func newQueryID() (string, error) {
	var b [12]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("query id: %w", err)
	}
	return "cellsd_" + hex.EncodeToString(b[:]), nil
}
