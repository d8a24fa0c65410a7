package natsbus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/cellsd/cellsd/engine"
)

// Names of the NATS subjects, stream and bucket.
const (
	SubjectPrefix = "cellsd.v1.events"
	StreamName    = "CELLSD_EVENTS"
	BucketName    = "CELLSD_STATUS"
	// SessionToken stands in for the artifact and the cell of a session's
	// own events.
	SessionToken = "_session"
)

// Token makes s safe as one NATS subject token and one KV key part: ASCII
// letters, digits, '-' and '_' stay, every other byte becomes "=XX" (its
// hex value), so distinct ids stay distinct and a token never holds '.',
// '*', '>' or a space. The empty string becomes "=".
func Token(s string) string {
	if s == "" {
		return "="
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '_':
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "=%02X", c)
		}
	}
	return b.String()
}

// Key is the event's KV key, <session>.<artifact>.<cell> in tokens.
func Key(ev engine.Event) string {
	if ev.SessionLevel() {
		return Token(ev.Session) + "." + SessionToken + "." + SessionToken
	}
	return Token(ev.Session) + "." + Token(ev.Artifact) + "." + Token(ev.Cell)
}

// Subject is the subject the event is published on.
func Subject(ev engine.Event) string { return SubjectPrefix + "." + Key(ev) }

// SessionSubject matches every event of one session.
func SessionSubject(session string) string { return SubjectPrefix + "." + Token(session) + ".>" }

// Payload is an event as JSON on the wire (DESIGN.md "Events over NATS").
// A session's own events have cell "_session" and no artifact.
type Payload struct {
	V          int       `json:"v"`
	Seq        int64     `json:"seq"`
	TS         Timestamp `json:"ts"`
	Session    string    `json:"session"`
	Artifact   *string   `json:"artifact"`
	Cell       string    `json:"cell"`
	Run        *string   `json:"run"`
	Status     string    `json:"status"`
	Prev       *string   `json:"prev"`
	Reason     string    `json:"reason"`
	Relation   *string   `json:"relation"`
	Rows       *int64    `json:"rows"`
	DurationMs *float64  `json:"durationMs"`
	Cached     bool      `json:"cached"`
	Error      *string   `json:"error"`
}

// Timestamp is an event's ts on the wire: UTC, with exactly six decimals
// ("2026-11-27T10:00:00.123456Z", as DESIGN.md shows); null when zero (in a
// status reply, a cell that never changed).
type Timestamp struct{ time.Time }

const timestampLayout = "2006-01-02T15:04:05.000000Z07:00"

// MarshalJSON writes the timestamp as DESIGN.md shows it.
func (t Timestamp) MarshalJSON() ([]byte, error) {
	if t.IsZero() {
		return []byte("null"), nil
	}
	return []byte(`"` + t.UTC().Format(timestampLayout) + `"`), nil
}

// UnmarshalJSON reads any RFC 3339 time, or null.
func (t *Timestamp) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*t = Timestamp{}
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("ts: %w", err)
	}
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return fmt.Errorf("ts: %w", err)
	}
	*t = Timestamp{v}
	return nil
}

// PayloadOf converts an engine event to its wire form.
func PayloadOf(ev engine.Event) Payload {
	p := Payload{V: 1, Seq: ev.Seq, TS: Timestamp{ev.Time}, Session: ev.Session, Artifact: orNil(ev.Artifact),
		Cell: ev.Cell, Run: orNil(ev.Run), Status: string(ev.Status), Prev: orNil(string(ev.Prev)),
		Reason: ev.Reason, Relation: orNil(ev.Relation), Rows: ev.Rows, Cached: ev.Cached, Error: orNil(ev.Err)}
	if ev.SessionLevel() {
		p.Cell = SessionToken
	}
	// A blocked cell did not run: no duration.
	if (ev.Status.Final() && ev.Status != engine.StatusBlocked) || ev.Status == engine.StatusClosed {
		ms := engine.Milliseconds(ev.Duration)
		p.DurationMs = &ms
	}
	return p
}

// Marshal encodes the event's wire form.
func Marshal(ev engine.Event) []byte {
	data, err := json.Marshal(PayloadOf(ev))
	if err != nil {
		panic(fmt.Sprintf("natsbus: encode event: %v", err)) // plain fields only: cannot fail
	}
	return data
}

// Setup creates the stream and the bucket, or updates them to this
// configuration. Events are kept for retention (a day when zero).
func Setup(ctx context.Context, js jetstream.JetStream, retention time.Duration) (jetstream.KeyValue, error) {
	if retention <= 0 {
		retention = 24 * time.Hour
	}
	if _, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        StreamName,
		Description: "cellsd cell and session status events",
		Subjects:    []string{SubjectPrefix + ".>"},
		Storage:     jetstream.FileStorage,
		MaxAge:      retention,
		Duplicates:  2 * time.Minute,
	}); err != nil {
		return nil, fmt.Errorf("create stream %s: %w", StreamName, err)
	}
	if _, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      SessionsBucket,
		Description: "cellsd: who holds each live session id",
		History:     1,
		Storage:     jetstream.FileStorage,
	}); err != nil {
		return nil, fmt.Errorf("create key-value bucket %s: %w", SessionsBucket, err)
	}
	status := jetstream.KeyValueConfig{
		Bucket:      BucketName,
		Description: "latest cellsd event per session, artifact and cell",
		History:     1,
		TTL:         retention,
		Storage:     jetstream.FileStorage,
		// An event is one write, into this bucket: once the bucket's
		// stream has stored it, the server publishes it again on the
		// event's subject, where subscribers and CELLSD_EVENTS get it.
		RePublish: &jetstream.RePublish{Source: "$KV." + BucketName + ".>", Destination: SubjectPrefix + ".>"},
	}
	// A bucket an older cellsd made has no RePublish, and a stream's
	// RePublish cannot be changed: it is made again, without the latest
	// states it held (CELLSD_EVENTS keeps every event).
	if st, err := js.Stream(ctx, "KV_"+BucketName); err == nil && st.CachedInfo().Config.RePublish == nil {
		if err := js.DeleteKeyValue(ctx, BucketName); err != nil && !errors.Is(err, jetstream.ErrBucketNotFound) {
			return nil, fmt.Errorf("make key-value bucket %s again with RePublish: %w", BucketName, err)
		}
	}
	kv, err := js.CreateOrUpdateKeyValue(ctx, status)
	if err != nil {
		return nil, fmt.Errorf("create key-value bucket %s: %w", BucketName, err)
	}
	return kv, nil
}

func orNil(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
