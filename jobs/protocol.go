package jobs

// The protocol between an engine (a Client) and the workers.
//
// Submit. The engine publishes a Job (JSON) to the JetStream work-queue
// stream CELLSD_JOBS on cellsd.v1.jobs.<connector> (the connection id as
// one subject token), with Nats-Msg-Id set to the job's id, and subscribes
// to the job's own subject cellsd.v1.job.<id> (Job.Reply) before it does.
// Every worker that holds a connection's credentials pulls from the
// durable consumer jobs-<connector> of that subject, so each job goes to
// one worker at a time, and to another when that one is lost (its
// JetStream AckWait, kept alive by InProgress acks, runs out).
//
// Run. Every message a worker sends on Job.Reply carries the headers
// Cellsd-Type (one of the Msg* constants), Cellsd-Attempt (the delivery's
// JetStream NumDelivered) and Cellsd-Worker; the engine drops messages of
// attempts other than the one it follows, so a lost worker's partial
// stream never reaches the result.
//
//  1. start (request; body Start): the worker took the job. The engine
//     answers Go: Go.OK false (the job is done, cancelled or not to be
//     retried) makes the worker drop it; no responder (the engine is
//     gone) too. Go.Window is how many parts may be unacknowledged.
//  2. begin (body Begin): the result's columns and its Arrow schema.
//  3. batch: one part of an Arrow IPC stream holding one record batch
//     (schema and batch, so each batch decodes alone), cut in parts that
//     fit the server's max payload; Cellsd-Part numbers the parts from 1,
//     Cellsd-More is "1" on every part of a batch but its last. The engine
//     acknowledges parts on Start.Control ({"ack": n}: every part up to n
//     is consumed) and the worker sends part n only when n - acked <=
//     Window: a slow engine slows the worker, and neither side holds more
//     than Window parts.
//  4. end (request; body End) or error (request; body Error). The engine
//     answers once it has consumed every part; then the worker acks the
//     JetStream message, so the result lands exactly once.
//
// Meanwhile the worker sends heartbeat (request, every HeartbeatInterval)
// and acks the JetStream message InProgress. The engine answers
// heartbeats with Beat; Beat.Cancel, or no responder, stops the job. An
// engine that hears nothing from the attempt's worker for LostAfter
// counts it lost: it naks the delivery (Start.Ack) so JetStream
// redelivers it at once, and starts over with the next attempt's stream
// (see Restarter). A job on a connection that is not read_only is not
// retried: the engine terminates the delivery and the fetch fails.
//
// Cancel. When the fetch's context ends, the engine sends cancel (a
// request) on Start.Control; the worker cancels the query in its database
// and answers once it is gone. A job not yet taken is deleted from the
// stream.

import (
	"bytes"
	"encoding/json"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/ipc"

	"github.com/cellsd/cellsd/connectors"
	"github.com/cellsd/cellsd/engine/natsbus"
)

// Names of the stream, its subjects and the consumers.
const (
	StreamName = "CELLSD_JOBS"
	// SubjectPrefix is followed by the connection id, as one token.
	SubjectPrefix = "cellsd.v1.jobs"
	// ReplyPrefix is followed by the job's id: the job's own subject.
	ReplyPrefix = "cellsd.v1.job"
	// ConsumerPrefix is followed by the connection id, as one token.
	ConsumerPrefix = "jobs-"
	// WorkersPrefix is followed by a worker's name, as one token: where
	// the worker publishes its Presence.
	WorkersPrefix = "cellsd.v1.workers"
)

// Timing of the protocol.
const (
	// HeartbeatInterval is how often a worker says it is alive.
	HeartbeatInterval = 500 * time.Millisecond
	// LostAfter is how long an engine waits for a sign of life from a
	// worker before it counts it lost.
	LostAfter = 3 * time.Second
	// AckWait is the consumers' AckWait: how long JetStream waits for a
	// worker's InProgress before it redelivers the job.
	AckWait = 4 * time.Second
	// MaxDeliver bounds the attempts of a job.
	MaxDeliver = 5
	// DefaultWindow is how many parts may be in flight.
	DefaultWindow = 8
	// PresenceInterval is how often a worker publishes its Presence; one
	// unheard for three intervals is not alive.
	PresenceInterval = time.Second
)

// Presence is what a worker publishes on WorkersPrefix.<name>: that it
// is alive, what it runs and its counters since it started.
type Presence struct {
	V           int      `json:"v"`
	Worker      string   `json:"worker"`
	Connectors  []string `json:"connectors"`
	Concurrency int      `json:"concurrency"`
	// Running is how many jobs it runs now.
	Running int `json:"running"`
	// Gone is set on the last Presence of a worker that closes.
	Gone bool `json:"gone,omitempty"`
	Counters
}

// Counters are a worker's totals since it started.
type Counters struct {
	// Run counts the jobs it started, Failed those that ended in an
	// error, Retried those it took after another worker was lost.
	Run     int64 `json:"run"`
	Failed  int64 `json:"failed"`
	Retried int64 `json:"retried"`
	// Rows and Bytes are what it streamed (Arrow IPC bytes).
	Rows  int64 `json:"rows"`
	Bytes int64 `json:"bytes"`
}

// Message types (the Cellsd-Type header).
const (
	MsgStart     = "start"
	MsgBegin     = "begin"
	MsgBatch     = "batch"
	MsgEnd       = "end"
	MsgError     = "error"
	MsgHeartbeat = "heartbeat"
	MsgCancel    = "cancel"
)

// Headers.
const (
	HdrType    = "Cellsd-Type"
	HdrAttempt = "Cellsd-Attempt"
	HdrWorker  = "Cellsd-Worker"
	HdrPart    = "Cellsd-Part"
	HdrMore    = "Cellsd-More"
)

// Job is what the engine submits: one cell's query on one connection.
type Job struct {
	V  int    `json:"v"`
	ID string `json:"id"`
	// Connector is the connection id; Engine its engine, which the
	// worker's connection of that id must have too.
	Connector string `json:"connector"`
	Engine    string `json:"engine"`
	// SQL, Values, Args and HasResult are the connectors.Query.
	SQL       string         `json:"sql"`
	Values    map[string]any `json:"values,omitempty"`
	Args      []any          `json:"args,omitempty"`
	HasResult bool           `json:"hasResult"`
	// Since is an incremental refresh's watermark (connectors.Query).
	Since *connectors.Since `json:"since,omitempty"`
	// ReadOnly false: the job is not retried on another worker.
	ReadOnly bool `json:"readOnly"`
	// MaxResultBytes bounds the Arrow bytes streamed; 0 means no bound.
	MaxResultBytes int64 `json:"maxResultBytes,omitempty"`
	// Deadline, when set, is when the engine stops waiting: a worker
	// that takes the job later drops it, and one running it stops then.
	Deadline *time.Time `json:"deadline,omitempty"`
	// Reply is the job's subject, where the engine listens.
	Reply string `json:"reply"`
	// Where the job comes from, for logs and metrics.
	Session  string `json:"session,omitempty"`
	Artifact string `json:"artifact,omitempty"`
	Cell     string `json:"cell,omitempty"`
	Run      string `json:"run,omitempty"`
}

// Query is the job's query.
func (j *Job) Query() connectors.Query {
	return connectors.Query{SQL: j.SQL, Values: j.Values, Args: j.Args, HasResult: j.HasResult, Since: j.Since}
}

// Start is the body of a start request.
type Start struct {
	Worker  string `json:"worker"`
	Attempt int    `json:"attempt"`
	// Control is where the worker listens for acks and cancel.
	Control string `json:"control"`
	// Ack is the delivery's JetStream ack subject, so the engine can nak
	// (redeliver now) or terminate a lost worker's delivery.
	Ack string `json:"ack"`
}

// Go answers a start request.
type Go struct {
	OK     bool   `json:"ok"`
	Reason string `json:"reason,omitempty"`
	Window int    `json:"window,omitempty"`
}

// Beat answers a heartbeat.
type Beat struct {
	Cancel bool `json:"cancel,omitempty"`
}

// Begin is the body of a begin message.
type Begin struct {
	Columns []connectors.Column `json:"columns"`
	// Schema is an Arrow IPC stream with the schema and no batch.
	Schema []byte `json:"schema"`
}

// End is the body of an end request: the result is complete.
type End struct {
	Rows  int64 `json:"rows"`
	Bytes int64 `json:"bytes"`
	// Parts is how many batch parts were sent.
	Parts int64 `json:"parts"`
	// Meta describes where the result came from, for provenance.
	Meta Meta `json:"meta"`
}

// Meta describes where a result came from.
type Meta struct {
	Worker     string  `json:"worker"`
	Attempt    int     `json:"attempt"`
	Connector  string  `json:"connector"`
	Engine     string  `json:"engine"`
	DurationMs float64 `json:"durationMs"`
}

// Error is the body of an error request.
type Error struct {
	Message string `json:"message"`
	// Code is set for errors a caller branches on: CodeTooLarge,
	// CodeNoConnection, CodeCancelled.
	Code string `json:"code,omitempty"`
	// Postgres is the server's error, so its position maps to the cell's
	// line and column.
	Postgres *PGError `json:"postgres,omitempty"`
	// Offset is the byte offset in the cell's SQL a MySQL error points
	// at, or -1 (MySQL only).
	Offset *int `json:"offset,omitempty"`
	// Source is set when the connection's Source failed the fetch with a
	// *connectors.Error; Message is then that error's own error, without
	// the connection's name, and the engine rebuilds the same error.
	Source *SourceError `json:"source,omitempty"`
}

// SourceError carries a *connectors.Error's fields.
type SourceError struct {
	Offset int    `json:"offset"`
	Detail string `json:"detail,omitempty"`
}

// PGError carries the fields of a *pgconn.PgError a message uses.
type PGError struct {
	Severity string `json:"severity,omitempty"`
	Code     string `json:"code,omitempty"`
	Message  string `json:"message"`
	Detail   string `json:"detail,omitempty"`
	Hint     string `json:"hint,omitempty"`
	Position int32  `json:"position,omitempty"`
}

// Error codes.
const (
	CodeTooLarge     = "too_large"
	CodeNoConnection = "no_connection"
	CodeCancelled    = "cancelled"
)

// Subject is the job subject of a connection.
func Subject(connector string) string { return SubjectPrefix + "." + natsbus.Token(connector) }

// Consumer is the durable consumer of a connection's jobs.
func Consumer(connector string) string { return ConsumerPrefix + natsbus.Token(connector) }

// encodeSchema writes an Arrow IPC stream holding only schema.
func encodeSchema(schema *arrow.Schema) ([]byte, error) {
	var buf bytes.Buffer
	w := ipc.NewWriter(&buf, ipc.WithSchema(schema))
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// decodeSchema reads the schema of an Arrow IPC stream.
func decodeSchema(b []byte) (*arrow.Schema, error) {
	r, err := ipc.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	defer r.Release()
	return r.Schema(), nil
}

func marshal(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // the protocol's own types always marshal
	}
	return b
}
