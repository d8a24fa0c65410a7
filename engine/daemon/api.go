package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nuid"

	"github.com/cellsd/cellsd/cells"
	"github.com/cellsd/cellsd/engine"
	"github.com/cellsd/cellsd/engine/natsbus"
)

const (
	openSubject    = "cellsd.v1.api.open"
	sessionSubject = "cellsd.v1.session"
)

// SessionSubject is the subject of an operation on a session.
func SessionSubject(id, op string) string {
	return sessionSubject + "." + natsbus.Token(id) + "." + op
}

// Error codes of the job API.
const (
	CodeBadRequest  = "bad_request" // the request is malformed
	CodeLoad        = "load_error"  // the notebook could not be read or planned
	CodeNotFound    = "not_found"   // no such cell, artifact or operation
	CodeConflict    = "conflict"    // the session id is taken
	CodeUnavailable = "unavailable" // the daemon is shutting down, the session closing
	CodeInternal    = "internal"    // anything else
)

// APIError is the job API's error reply.
type APIError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (e *APIError) Error() string { return e.Code + ": " + e.Message }

func apiErrorf(code, format string, args ...any) *APIError {
	return &APIError{Code: code, Message: fmt.Sprintf(format, args...)}
}

// OpenRequest is the body of cellsd.v1.api.open.
type OpenRequest struct {
	// Notebook is a path on the daemon's machine (a JSON string) or the
	// notebook itself (a JSON object, as a SQLRooms cells config or UI
	// state).
	Notebook json.RawMessage `json:"notebook"`
	// Params override input cells' values, as --param does.
	Params map[string]json.RawMessage `json:"params,omitempty"`
	// SessionID names the session; empty picks one.
	SessionID string `json:"sessionId,omitempty"`
	// Mode is "autorun" (default) or "lazy".
	Mode string `json:"mode,omitempty"`
}

// RunRequest is the body of cellsd.v1.session.<id>.run.
type RunRequest struct {
	CellID   string `json:"cellId,omitempty"`
	Artifact string `json:"artifact,omitempty"`
	Mode     string `json:"mode,omitempty"`
}

// UpdateRequest is the body of cellsd.v1.session.<id>.update: the fields
// present change.
type UpdateRequest struct {
	CellID      string          `json:"cellId"`
	SQL         *string         `json:"sql,omitempty"`
	Title       *string         `json:"title,omitempty"`
	ResultName  *string         `json:"resultName,omitempty"`
	ConnectorID *string         `json:"connectorId,omitempty"`
	Value       json.RawMessage `json:"value,omitempty"`
}

// CancelRequest is the body of cellsd.v1.session.<id>.cancel.
type CancelRequest struct {
	CellID string `json:"cellId,omitempty"`
}

// StatusReply answers status: every SQL cell's current state; seq is the
// session's latest event at the time, so the states include every event
// up to it.
type StatusReply struct {
	SessionID string            `json:"sessionId"`
	Seq       int64             `json:"seq"`
	Cells     []natsbus.Payload `json:"cells"`
}

// session is one open notebook and its subscription.
type session struct {
	id   string
	s    *engine.Session
	sub  *nats.Subscription
	once sync.Once
}

func (s *session) close() {
	s.once.Do(func() {
		s.sub.Unsubscribe()
		s.s.Close()
	})
}

func (d *Daemon) handleOpen(m *nats.Msg) {
	d.mu.Lock()
	if d.closing {
		d.mu.Unlock()
		reply(m, nil, apiErrorf(CodeUnavailable, "daemon is shutting down"))
		return
	}
	d.opens.Add(1) // opening takes a while: don't hold up other requests
	d.mu.Unlock()
	go func() {
		defer d.opens.Done()
		id, err := d.open(m.Data)
		d.count("open", err)
		if err != nil {
			reply(m, nil, err)
			return
		}
		reply(m, map[string]string{"sessionId": id}, nil)
	}()
}

func (d *Daemon) open(body []byte) (string, error) {
	var req OpenRequest
	if err := decode(body, &req); err != nil {
		return "", err
	}
	nb, err := loadNotebook(req)
	if err != nil {
		return "", err
	}
	mode, err := parseMode(req.Mode)
	if err != nil {
		return "", err
	}
	id := req.SessionID
	if id == "" {
		id = "s-" + strings.ToLower(nuid.Next())
	} else if err := d.claim(id); err != nil {
		return "", err
	}
	obs := d.pub.Observer()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	es, err := engine.OpenSession(ctx, engine.Config{DBPath: d.cfg.DBPath, ReadOnlyDB: true, Connections: d.cfg.Connections, Logger: d.cfg.Logger},
		nb, engine.SessionOptions{ID: id, Mode: mode, Concurrency: d.cfg.Concurrency, Observe: func(ev engine.Event) {
			d.metrics.observe(ev)
			obs(ev)
		}})
	if err != nil {
		return "", apiErrorf(CodeLoad, "%v", err)
	}
	s := &session{id: id, s: es}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closing {
		es.Close()
		return "", apiErrorf(CodeUnavailable, "daemon is shutting down")
	}
	if _, dup := d.sessions[id]; dup {
		es.Close()
		return "", apiErrorf(CodeConflict, "session %q is open", id)
	}
	if s.sub, err = d.nc.Subscribe(SessionSubject(id, "*"), func(m *nats.Msg) { d.handleSession(s, m) }); err != nil {
		es.Close()
		return "", apiErrorf(CodeInternal, "subscribe: %v", err)
	}
	d.sessions[id] = s
	d.metrics.sessions.Inc()
	return id, nil
}

// claim refuses a session id that a daemon on this NATS already serves.
func (d *Daemon) claim(id string) error {
	d.mu.Lock()
	_, mine := d.sessions[id]
	d.mu.Unlock()
	if mine {
		return apiErrorf(CodeConflict, "session %q is open", id)
	}
	_, err := d.nc.Request(SessionSubject(id, "status"), nil, 250*time.Millisecond)
	switch {
	case err == nil:
		return apiErrorf(CodeConflict, "session %q is open on another daemon", id)
	case errors.Is(err, nats.ErrNoResponders), errors.Is(err, nats.ErrTimeout):
		return nil
	default:
		return apiErrorf(CodeInternal, "check session %q: %v", id, err)
	}
}

func loadNotebook(req OpenRequest) (*cells.Notebook, error) {
	raw := bytes.TrimSpace(req.Notebook)
	var nb *cells.Notebook
	var err error
	switch {
	case len(raw) == 0:
		return nil, apiErrorf(CodeBadRequest, "open: missing notebook")
	case raw[0] == '"':
		var path string
		if err := json.Unmarshal(raw, &path); err != nil {
			return nil, apiErrorf(CodeBadRequest, "open: notebook: %v", err)
		}
		nb, err = cells.Load(path)
	default:
		nb, err = cells.Parse("notebook", raw)
	}
	if err != nil {
		return nil, apiErrorf(CodeLoad, "%v", err)
	}
	for name, v := range req.Params {
		value := string(v)
		var s string
		if json.Unmarshal(v, &s) == nil {
			value = s
		}
		if err := nb.SetParam(name, value); err != nil {
			return nil, apiErrorf(CodeBadRequest, "param %s: %v", name, err)
		}
	}
	return nb, nil
}

// handleSession answers one operation on a session. A session's requests
// are answered one at a time, in the order they arrive.
func (d *Daemon) handleSession(s *session, m *nats.Msg) {
	op := m.Subject[strings.LastIndexByte(m.Subject, '.')+1:]
	v, err := d.sessionOp(s, op, m.Data)
	d.count(op, err)
	reply(m, v, err)
}

func (d *Daemon) sessionOp(s *session, op string, body []byte) (any, error) {
	switch op {
	case "run":
		var req RunRequest
		if err := decode(body, &req); err != nil {
			return nil, err
		}
		mode, err := parseMode(req.Mode)
		if err != nil {
			return nil, err
		}
		r, err := s.s.Run(engine.RunRequest{CellID: req.CellID, Artifact: req.Artifact, Mode: mode})
		if err != nil {
			return nil, sessionError(err)
		}
		return map[string]string{"run": r.ID}, nil
	case "update":
		var req UpdateRequest
		if err := decode(body, &req); err != nil {
			return nil, err
		}
		p := engine.CellPatch{CellID: req.CellID, SQL: req.SQL, Title: req.Title, ResultName: req.ResultName, ConnectorID: req.ConnectorID}
		if len(req.Value) > 0 {
			dec := json.NewDecoder(bytes.NewReader(req.Value))
			dec.UseNumber()
			if err := dec.Decode(&p.Value); err != nil {
				return nil, apiErrorf(CodeBadRequest, "update: value: %v", err)
			}
			p.SetValue = true
		}
		r, err := s.s.Update(context.Background(), p)
		if err != nil {
			return nil, sessionError(err)
		}
		var run *string
		if r != nil {
			run = &r.ID
		}
		return map[string]*string{"run": run}, nil
	case "cancel":
		var req CancelRequest
		if err := decode(body, &req); err != nil {
			return nil, err
		}
		if err := s.s.Cancel(req.CellID); err != nil {
			return nil, sessionError(err)
		}
		return map[string]bool{"cancelled": true}, nil
	case "status":
		seq, evs := s.s.Snapshot()
		out := StatusReply{SessionID: s.id, Seq: seq, Cells: make([]natsbus.Payload, len(evs))}
		for i, ev := range evs {
			out.Cells[i] = natsbus.PayloadOf(ev)
		}
		return out, nil
	case "graph":
		return s.s.Plan().Graph(), nil
	case "query":
		return d.query(s.s, body)
	case "close":
		d.mu.Lock()
		if d.sessions[s.id] == s {
			delete(d.sessions, s.id)
			d.metrics.sessions.Dec()
		}
		d.mu.Unlock()
		// Unsubscribing from inside the subscription's own callback is
		// fine; closing waits for the session's cells to stop.
		s.close()
		return map[string]bool{"closed": true}, nil
	}
	return nil, apiErrorf(CodeNotFound, "unknown operation %q (want run, update, cancel, status, graph or close)", op)
}

// sessionError maps an engine error to the job API's codes.
func sessionError(err error) *APIError {
	switch {
	case errors.Is(err, engine.ErrClosed):
		return apiErrorf(CodeUnavailable, "%v", err)
	case errors.Is(err, engine.ErrUnknownArtifact), errors.Is(err, engine.ErrUnknownCell):
		return apiErrorf(CodeNotFound, "%v", err)
	}
	return apiErrorf(CodeBadRequest, "%v", err) // a bad patch: not an input cell, a value of the wrong kind
}

func (d *Daemon) count(op string, err error) {
	outcome := "ok"
	var ae *APIError
	if errors.As(err, &ae) {
		outcome = ae.Code
	} else if err != nil {
		outcome = CodeInternal
	}
	d.metrics.apiRequests.WithLabelValues(op, outcome).Inc()
}

// decode reads a JSON request body; an empty body is an empty request.
func decode(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return apiErrorf(CodeBadRequest, "request body: %v", err)
	}
	return nil
}

// reply answers a request with v, or with err as {"error":{code,message}}.
func reply(m *nats.Msg, v any, err error) {
	if m.Reply == "" {
		return
	}
	if err != nil {
		var ae *APIError
		if !errors.As(err, &ae) {
			ae = &APIError{Code: CodeInternal, Message: err.Error()}
		}
		v = map[string]*APIError{"error": ae}
	}
	data, merr := json.Marshal(v)
	if merr != nil {
		data, _ = json.Marshal(map[string]*APIError{"error": {Code: CodeInternal, Message: merr.Error()}})
	}
	m.Respond(data)
}

// parseMode reads a request's mode: autorun, lazy, or empty for the
// session's own.
func parseMode(s string) (engine.Mode, error) {
	switch mode := engine.Mode(s); mode {
	case "", engine.Autorun, engine.Lazy:
		return mode, nil
	}
	return "", apiErrorf(CodeBadRequest, "mode %q: want autorun or lazy", s)
}
