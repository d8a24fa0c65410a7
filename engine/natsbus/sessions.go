package natsbus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cellsd/cellsd/engine"
)

// Names of a session's identity on NATS (DESIGN.md "Sessions: identity").
const (
	// APIPrefix is followed by a session's token and an operation.
	APIPrefix = "cellsd.v1.session"
	// SessionsBucket holds a claim per live session id, key Token(id).
	SessionsBucket = "CELLSD_SESSIONS"
	// RestartReason is the reason of the cancel events a restarted daemon
	// gives the cells its sessions left unfinished.
	RestartReason = "daemon restarted"
)

// MaxIDBytes bounds a session id.
const MaxIDBytes = 128

// CheckID checks a session id (DESIGN.md "Sessions: identity"): 1-128
// bytes of printable characters, no whitespace.
func CheckID(id string) error {
	switch {
	case id == "":
		return errors.New("sessionId is empty")
	case len(id) > MaxIDBytes:
		return fmt.Errorf("sessionId is %d bytes, at most %d", len(id), MaxIDBytes)
	case !utf8.ValidString(id):
		return fmt.Errorf("sessionId %q is not UTF-8", id)
	}
	for _, r := range id {
		if !unicode.IsPrint(r) || unicode.IsSpace(r) {
			return fmt.Errorf("sessionId %q holds %q: want printable characters without whitespace", id, r)
		}
	}
	return nil
}

// APISubject is the prefix of a session's job API subjects,
// cellsd.v1.session.<token>.
func APISubject(id string) string { return APIPrefix + "." + Token(id) }

// KVPrefix is the filter of a session's keys in the status bucket.
func KVPrefix(id string) string { return Token(id) + ".>" }

// Claim says who holds a session id.
type Claim struct {
	SessionID string    `json:"sessionId"`
	Owner     string    `json:"owner"` // a daemon's name, or "cellsd run ..." for a batch run
	HTTP      string    `json:"http,omitempty"`
	OpenedAt  time.Time `json:"openedAt"`
}

// ErrConflict is wrapped by the error for a session id that is live.
var ErrConflict = errors.New("session is live")

// ConflictError names a live session's holder.
type ConflictError struct {
	ID    string
	Owner string // empty when unknown
}

func (e *ConflictError) Error() string {
	if e.Owner == "" {
		return fmt.Sprintf("session %q is live", e.ID)
	}
	return fmt.Sprintf("session %q is live on %s", e.ID, e.Owner)
}

func (e *ConflictError) Unwrap() error { return ErrConflict }

// Holder is a claimed session id; Release gives it up.
type Holder struct {
	kv  jetstream.KeyValue
	key string
	rev uint64
}

// Acquire claims a session id for c.Owner, so that no other daemon or
// batch run on this NATS uses it while it is live. subscribe must start
// answering the session's API subjects (APISubject(id)+".*", any reply
// will do, an error included) and make sure the server knows (a flush):
// that subscription is what tells the others the id is live.
//
// The claim is a key in SessionsBucket, made with a create (or, over a
// claim whose holder is gone, an update at its revision), so of two
// claimants at once exactly one wins. A claim whose holder no longer
// answers its API subject (NATS says "no responders": a daemon or run that
// was killed) is stale and taken over. A holder is asked before the
// claimant subscribes, so it never hears itself.
func Acquire(ctx context.Context, js jetstream.JetStream, c Claim, subscribe func() error) (*Holder, error) {
	kv, err := js.KeyValue(ctx, SessionsBucket)
	if err != nil {
		return nil, fmt.Errorf("claim session %q: %w", c.SessionID, err)
	}
	key := Token(c.SessionID)
	data, err := json.Marshal(c)
	if err != nil {
		return nil, err
	}
	cur, err := kv.Get(ctx, key)
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
		cur = nil
	case err != nil:
		return nil, fmt.Errorf("claim session %q: %w", c.SessionID, err)
	}
	if cur != nil {
		var old Claim
		json.Unmarshal(cur.Value(), &old)
		live, err := Live(ctx, js.Conn(), c.SessionID)
		if err != nil {
			return nil, fmt.Errorf("claim session %q: %w", c.SessionID, err)
		}
		if live {
			return nil, &ConflictError{ID: c.SessionID, Owner: old.Owner}
		}
	}
	if err := subscribe(); err != nil {
		return nil, err
	}
	var rev uint64
	if cur == nil {
		rev, err = kv.Create(ctx, key, data)
	} else {
		rev, err = kv.Update(ctx, key, data, cur.Revision())
	}
	switch {
	case errors.Is(err, jetstream.ErrKeyExists), isWrongLastSequence(err):
		return nil, &ConflictError{ID: c.SessionID}
	case err != nil:
		return nil, fmt.Errorf("claim session %q: %w", c.SessionID, err)
	}
	return &Holder{kv: kv, key: key, rev: rev}, nil
}

func isWrongLastSequence(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence
}

// Release gives the id up, unless someone took it over meanwhile.
func (h *Holder) Release(ctx context.Context) error {
	if h == nil {
		return nil
	}
	err := h.kv.Delete(ctx, h.key, jetstream.LastRevision(h.rev))
	if err != nil && !isWrongLastSequence(err) {
		return fmt.Errorf("release session claim %s: %w", h.key, err)
	}
	return nil
}

// Live reports whether something answers the session's API subjects. A
// request that times out counts as live: a busy daemon still holds it.
func Live(ctx context.Context, nc *nats.Conn, id string) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	_, err := nc.RequestWithContext(ctx, APISubject(id)+".status", nil)
	switch {
	case err == nil, errors.Is(err, context.DeadlineExceeded), errors.Is(err, nats.ErrTimeout):
		return true, nil
	case errors.Is(err, nats.ErrNoResponders):
		return false, nil
	}
	return false, err
}

// Claims returns every claim in the bucket.
func Claims(ctx context.Context, js jetstream.JetStream) ([]Claim, error) {
	kv, err := js.KeyValue(ctx, SessionsBucket)
	if err != nil {
		return nil, err
	}
	w, err := kv.WatchAll(ctx, jetstream.IgnoreDeletes())
	if err != nil {
		return nil, err
	}
	defer w.Stop()
	var out []Claim
	for e := range w.Updates() {
		if e == nil {
			break
		}
		var c Claim
		if json.Unmarshal(e.Value(), &c) == nil {
			out = append(out, c)
		}
	}
	return out, nil
}

// Begin readies NATS for a new incarnation of a session id, before its
// first event: it returns the last seq the id's earlier incarnations
// reached (0 for a new id; see lastSeq), and purges the bucket's keys of
// the id, so that nothing of an earlier incarnation is left to read.
func Begin(ctx context.Context, js jetstream.JetStream, id string) (int64, error) {
	seq, _, err := lastSeq(ctx, js, id)
	if err != nil {
		return 0, err
	}
	st, err := js.Stream(ctx, "KV_"+BucketName)
	if err != nil {
		return 0, fmt.Errorf("session %q: %w", id, err)
	}
	if err := st.Purge(ctx, jetstream.WithPurgeSubject("$KV."+BucketName+"."+KVPrefix(id))); err != nil {
		return 0, fmt.Errorf("session %q: purge its keys: %w", id, err)
	}
	return seq, nil
}

// lastSeq returns the seq an id's next event follows, and the bucket's
// states of it. That is the seq of the id's last event in CELLSD_EVENTS,
// the record a subscriber checks for gaps (DESIGN.md: a session opened
// under an id used before continues from the last seq stored there), so
// a new incarnation never leaves a gap in it: a state the bucket holds
// with a later seq is of an event the stream never got (the server
// stopped between storing the one and capturing the other), and that seq
// is given again. Only when the stream holds no event of the id (they
// aged out, the stream was made again) does the bucket's largest seq
// count, so seq still never goes backwards for what a client can read.
func lastSeq(ctx context.Context, js jetstream.JetStream, id string) (int64, []Payload, error) {
	states, err := States(ctx, js, id)
	if err != nil {
		return 0, nil, err
	}
	st, err := js.Stream(ctx, StreamName)
	if err != nil {
		return 0, nil, fmt.Errorf("session %q: %w", id, err)
	}
	m, err := st.GetLastMsgForSubject(ctx, SessionSubject(id))
	switch {
	case errors.Is(err, jetstream.ErrMsgNotFound):
		var seq int64
		for _, p := range states {
			seq = max(seq, p.Seq)
		}
		return seq, states, nil
	case err != nil:
		return 0, nil, fmt.Errorf("session %q: last event: %w", id, err)
	}
	var p Payload
	if err := json.Unmarshal(m.Data, &p); err != nil {
		return 0, nil, fmt.Errorf("session %q: last event: %w", id, err)
	}
	return p.Seq, states, nil
}

// States returns the bucket's latest state of every key of a session.
func States(ctx context.Context, js jetstream.JetStream, id string) ([]Payload, error) {
	kv, err := js.KeyValue(ctx, BucketName)
	if err != nil {
		return nil, err
	}
	w, err := kv.Watch(ctx, KVPrefix(id), jetstream.IgnoreDeletes())
	if err != nil {
		return nil, fmt.Errorf("session %q: read its keys: %w", id, err)
	}
	defer w.Stop()
	var out []Payload
	for e := range w.Updates() {
		if e == nil {
			break
		}
		var p Payload
		if err := json.Unmarshal(e.Value(), &p); err != nil {
			return nil, fmt.Errorf("key %s: %w", e.Key(), err)
		}
		out = append(out, p)
	}
	return out, nil
}

// CloseAbandoned closes a session whose holder died (a daemon killed and
// started again): every cell the bucket shows unfinished (queued or
// running) gets a final cancel event, reason "daemon restarted", then the
// session its closed event, all through publish with seq continuing from
// the id's last. It returns the number of cells cancelled.
func CloseAbandoned(ctx context.Context, js jetstream.JetStream, id string, publish func(engine.Event)) (int, error) {
	seq, states, err := lastSeq(ctx, js, id)
	if err != nil {
		return 0, err
	}
	n := 0
	now := time.Now()
	for _, p := range states {
		if p.Cell == SessionToken || (p.Status != string(engine.StatusQueued) && p.Status != string(engine.StatusRunning)) {
			continue
		}
		seq++
		n++
		ev := engine.Event{Seq: seq, Time: now, Session: id, Cell: p.Cell, Status: engine.StatusCancel,
			Prev: engine.Status(p.Status), Reason: RestartReason}
		if p.Artifact != nil {
			ev.Artifact = *p.Artifact
		}
		if p.Relation != nil {
			ev.Relation = *p.Relation
		}
		publish(ev)
	}
	seq++
	publish(engine.Event{Seq: seq, Time: now, Session: id, Status: engine.StatusClosed, Reason: RestartReason})
	return n, nil
}
