package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nuid"

	"github.com/cellsd/cellsd/cells"
	"github.com/cellsd/cellsd/engine"
	"github.com/cellsd/cellsd/engine/daemon/jobapi"
	"github.com/cellsd/cellsd/engine/natsbus"
)

// session is one open notebook, its subscription and its claim of the id.
// s is nil while the session opens: its subjects answer unavailable.
type session struct {
	id       string
	path     string // the notebook's path, when opened from one
	title    string
	openedAt time.Time
	cells    int // SQL cells
	s        atomic.Pointer[engine.Session]
	sub      *nats.Subscription
	claim    *natsbus.Holder
	once     sync.Once
	onClose  func() // ends the session's token
}

// close stops answering, closes the engine session (its last events are
// queued for publishing) and gives the id up.
func (s *session) close() {
	s.once.Do(func() {
		if s.sub != nil {
			s.sub.Unsubscribe()
		}
		if es := s.s.Load(); es != nil {
			es.Close()
			releaseFreed()
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.claim.Release(ctx)
		if s.onClose != nil {
			s.onClose()
		}
	})
}

func (d *Daemon) handleOpen(m *nats.Msg) {
	d.mu.Lock()
	if d.closing {
		d.mu.Unlock()
		d.respond(m, "open", nil, jobapi.Errorf(jobapi.CodeUnavailable, "daemon is shutting down"))
		return
	}
	d.opens.Add(1) // opening takes a while: don't hold up other requests
	d.mu.Unlock()
	go func() {
		defer d.opens.Done()
		id, err := d.open(m.Data)
		var v any
		if err == nil {
			r := jobapi.NewOpenReply(id)
			r.Token = d.tokens.token(id)
			v = r
		}
		if err == nil {
			d.log.Info("session opened", "session", id, "notebook", notebookName(m.Data))
		}
		d.respond(m, "open", v, err)
	}()
}

func (d *Daemon) open(body []byte) (string, error) {
	var req jobapi.OpenRequest
	if err := jobapi.Decode(body, &req); err != nil {
		return "", err
	}
	id := req.SessionID
	if id == "" {
		id = "s-" + strings.ToLower(nuid.Next())
	} else if err := jobapi.ValidID(id); err != nil {
		return "", err
	}
	nb, path, err := d.loadNotebook(req)
	if err != nil {
		return "", err
	}
	if err := checkKeys(nb); err != nil {
		return "", err
	}
	mode, err := jobapi.ParseMode(req.Mode)
	if err != nil {
		return "", err
	}
	s := &session{id: id, path: path, title: notebookTitle(nb, path), openedAt: time.Now().UTC()}
	for _, c := range nb.Cells {
		if c.Type == cells.TypeSQL {
			s.cells++
		}
	}
	if err := d.reserve(s); err != nil {
		return "", err
	}
	ok := false
	defer func() {
		if !ok {
			d.unreserve(s)
			s.close()
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if s.claim, err = d.claim(ctx, s); err != nil {
		return "", err
	}
	// Before the first event of this incarnation: the events of an earlier
	// one in this daemon are stored, then seq continues from the last one
	// and the bucket forgets the earlier keys.
	flushCtx, flushCancel := context.WithTimeout(ctx, 10*time.Second)
	err = d.pub.Flush(flushCtx)
	flushCancel()
	if err != nil {
		return "", jobapi.Errorf(jobapi.CodeUnavailable, "session %q: events of an earlier incarnation not yet stored: %v", id, err)
	}
	first, err := natsbus.Begin(ctx, d.js, id)
	if err != nil {
		return "", jobapi.Errorf(jobapi.CodeUnavailable, "%v", err)
	}
	obs := d.pub.Observer()
	es, err := engine.OpenSession(ctx, engine.Config{DBPath: d.cfg.DBPath, ReadOnlyDB: true, Connections: d.cfg.Connections, Sources: d.sources, Sandbox: d.sandbox, Logger: d.cfg.Logger},
		nb, engine.SessionOptions{ID: id, Mode: mode, Concurrency: d.cfg.Concurrency, FirstSeq: first, Observe: func(ev engine.Event) {
			d.metrics.observe(ev)
			obs(ev)
		}})
	if err != nil {
		return "", jobapi.Errorf(jobapi.CodeLoad, "%v", err)
	}
	s.s.Store(es)
	s.onClose = func() { d.endSession(id) }
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closing {
		return "", jobapi.Errorf(jobapi.CodeUnavailable, "daemon is shutting down")
	}
	if d.opening[id] == s {
		delete(d.opening, id)
	}
	d.sessions[id] = s
	d.metrics.sessions.Inc()
	ok = true
	d.tokens.issue(id)
	return id, nil
}

// reserve refuses an id this daemon serves or is opening, and marks it
// opening.
func (d *Daemon) reserve(s *session) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closing {
		return jobapi.Errorf(jobapi.CodeUnavailable, "daemon is shutting down")
	}
	if _, mine := d.sessions[s.id]; mine {
		return jobapi.Errorf(jobapi.CodeConflict, "session %q is open on this daemon (%s)", s.id, d.name)
	}
	if _, mine := d.opening[s.id]; mine {
		return jobapi.Errorf(jobapi.CodeConflict, "session %q is being opened on this daemon (%s)", s.id, d.name)
	}
	d.opening[s.id] = s
	return nil
}

func (d *Daemon) unreserve(s *session) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.opening[s.id] == s {
		delete(d.opening, s.id)
	}
}

// claim takes the session id on NATS (natsbus.Acquire): while it holds
// the claim, the session's subjects answer (unavailable until it is
// open), which is how every other daemon and batch run learns the id is
// live.
func (d *Daemon) claim(ctx context.Context, s *session) (*natsbus.Holder, error) {
	h, err := natsbus.Acquire(ctx, d.js, natsbus.Claim{SessionID: s.id, Owner: d.name, HTTP: d.httpURL(), OpenedAt: s.openedAt},
		func() error {
			var err error
			if s.sub, err = d.nc.Subscribe(jobapi.SessionSubject(s.id, "*"), func(m *nats.Msg) { d.handleSession(s, m) }); err != nil {
				return jobapi.Errorf(jobapi.CodeInternal, "subscribe: %v", err)
			}
			if err := d.nc.FlushTimeout(10 * time.Second); err != nil {
				return jobapi.Errorf(jobapi.CodeUnavailable, "subscribe: %v", err)
			}
			return nil
		})
	var ce *natsbus.ConflictError
	var ae *jobapi.Error
	switch {
	case errors.As(err, &ce):
		return nil, jobapi.Errorf(jobapi.CodeConflict, "%v", ce)
	case errors.As(err, &ae):
		return nil, ae
	case err != nil:
		return nil, jobapi.Errorf(jobapi.CodeUnavailable, "%v", err)
	}
	return h, nil
}

// maxKeyBytes bounds a bucket key (the longest part of an event's
// subject): a subject over the server's control line (4 KiB) would get the
// daemon's connection closed.
const maxKeyBytes = 1024

// checkKeys refuses a notebook whose artifact and cell ids make keys
// longer than maxKeyBytes.
func checkKeys(nb *cells.Notebook) error {
	for _, a := range nb.Artifacts {
		for _, c := range a.CellIDs {
			if n := len(natsbus.Token(a.ID)) + len(natsbus.Token(c)); n > maxKeyBytes-natsbus.MaxIDBytes*3-2 {
				return jobapi.Errorf(jobapi.CodeLoad, "%s: artifact %q, cell %q: ids too long for NATS subjects (%d bytes escaped)", nb.Path, a.ID, c, n)
			}
		}
	}
	return nil
}

// notebookTitle is what the sessions list shows: the title a saved UI
// state gives its room, else the file's name.
func notebookTitle(nb *cells.Notebook, path string) string {
	if nb.Title != "" {
		return nb.Title
	}
	if path != "" {
		return fileTitle(path)
	}
	return ""
}

func (d *Daemon) loadNotebook(req jobapi.OpenRequest) (*cells.Notebook, string, error) {
	raw := bytes.TrimSpace(req.Notebook)
	var nb *cells.Notebook
	var path string
	var err error
	switch {
	case len(raw) == 0:
		return nil, "", jobapi.Errorf(jobapi.CodeBadRequest, "open: missing notebook")
	case raw[0] == '"':
		if err := json.Unmarshal(raw, &path); err != nil {
			return nil, "", jobapi.Errorf(jobapi.CodeBadRequest, "open: notebook: %v", err)
		}
		nb, err = d.readNotebook(path) // only under --notebooks
	default:
		nb, err = cells.Parse("notebook", raw)
	}
	var ae *jobapi.Error
	if errors.As(err, &ae) {
		return nil, "", ae
	} else if err != nil {
		return nil, "", jobapi.Errorf(jobapi.CodeLoad, "%v", err)
	}
	for _, name := range slices.Sorted(maps.Keys(req.Params)) {
		v, err := cells.DecodeValue(req.Params[name])
		if err != nil {
			return nil, "", jobapi.Errorf(jobapi.CodeBadRequest, "param %s: %v", name, err)
		}
		if err := nb.SetParam(name, v); err != nil {
			return nil, "", jobapi.Errorf(jobapi.CodeBadRequest, "param %s: %v", name, err)
		}
	}
	return nb, path, nil
}

// handleSession answers one operation on a session. A session's requests
// are answered one at a time, in the order they arrive.
func (d *Daemon) handleSession(s *session, m *nats.Msg) {
	op := m.Subject[strings.LastIndexByte(m.Subject, '.')+1:]
	var v any
	var err error
	if es := s.s.Load(); es == nil {
		err = jobapi.Errorf(jobapi.CodeUnavailable, "session %q is opening", s.id)
	} else {
		v, err = d.sessionOp(s, es, op, m.Data)
	}
	d.respond(m, op, v, err)
}

func (d *Daemon) sessionOp(s *session, es *engine.Session, op string, body []byte) (any, error) {
	switch op {
	case "run":
		var req jobapi.RunRequest
		if err := jobapi.Decode(body, &req); err != nil {
			return nil, err
		}
		mode, err := jobapi.ParseMode(req.Mode)
		if err != nil {
			return nil, err
		}
		r, err := es.Run(engine.RunRequest{CellID: req.CellID, Artifact: req.Artifact, Mode: mode})
		if err != nil {
			return nil, jobapi.SessionError(err)
		}
		d.log.Info("run started", "session", s.id, "run", r.ID, "cell", req.CellID, "artifact", req.Artifact, "mode", req.Mode)
		return map[string]string{"run": r.ID}, nil
	case "update":
		var req jobapi.UpdateRequest
		if err := jobapi.Decode(body, &req); err != nil {
			return nil, err
		}
		p := engine.CellPatch{CellID: req.CellID, SQL: req.SQL, Title: req.Title, ResultName: req.ResultName, ConnectorID: req.ConnectorID}
		if len(req.Value) > 0 {
			v, err := cells.DecodeValue(req.Value)
			if err != nil {
				return nil, jobapi.Errorf(jobapi.CodeBadRequest, "update: value: %v", err)
			}
			p.Value, p.SetValue = v, true
		}
		r, err := es.Update(context.Background(), p)
		if err != nil {
			return nil, jobapi.SessionError(err)
		}
		var run *string
		if r != nil {
			run = &r.ID
		}
		return map[string]*string{"run": run}, nil
	case "cancel":
		var req jobapi.CancelRequest
		if err := jobapi.Decode(body, &req); err != nil {
			return nil, err
		}
		if err := es.Cancel(req.CellID); err != nil {
			return nil, jobapi.SessionError(err)
		}
		return map[string]bool{"cancelled": true}, nil
	case "status":
		var req jobapi.PageRequest
		if err := jobapi.DecodePage(body, &req); err != nil {
			return nil, err
		}
		return jobapi.Status(s.id, es, req, d.nc.MaxPayload(), d.jobsStatus())
	case "graph":
		var req jobapi.PageRequest
		if err := jobapi.DecodePage(body, &req); err != nil {
			return nil, err
		}
		return jobapi.Graph(es, req, d.nc.MaxPayload())
	case "notebook":
		if err := jobapi.Decode(body, &struct{}{}); err != nil {
			return nil, err
		}
		data, err := es.Notebook()
		if err != nil {
			return nil, jobapi.Errorf(jobapi.CodeInternal, "%v", err)
		}
		return json.RawMessage(data), nil
	case "query":
		return jobapi.Query(es, body)
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
	return nil, jobapi.Errorf(jobapi.CodeNotFound, "unknown operation %q (want run, update, cancel, status, graph, notebook, query or close)", op)
}

func (d *Daemon) count(op string, err error) {
	outcome := "ok"
	var ae *jobapi.Error
	if errors.As(err, &ae) {
		outcome = ae.Code
	} else if err != nil {
		outcome = jobapi.CodeInternal
	}
	d.metrics.apiRequests.WithLabelValues(op, outcome).Inc()
	if err != nil {
		d.log.Info("request refused", "op", op, "code", outcome, "reason", err.Error())
	}
}

// respond answers a request with v, or with err as
// {"error":{code,message}}, and counts it. A reply the server would refuse
// (over its max payload) is answered with an error that says so instead,
// and counted as one.
func (d *Daemon) respond(m *nats.Msg, op string, v any, err error) {
	var data []byte
	if err == nil {
		var merr error
		if data, merr = json.Marshal(v); merr != nil {
			err = jobapi.Errorf(jobapi.CodeInternal, "encode reply: %v", merr)
		} else if max := d.nc.MaxPayload(); max > 0 && int64(len(data)) > max {
			err = jobapi.Errorf(jobapi.CodeInternal, "reply of %d bytes exceeds the NATS server's max payload of %d bytes", len(data), max)
		}
	}
	if err != nil {
		var ae *jobapi.Error
		if !errors.As(err, &ae) {
			ae = &jobapi.Error{Code: jobapi.CodeInternal, Message: err.Error()}
		}
		data, _ = json.Marshal(map[string]*jobapi.Error{"error": ae})
	}
	if err != nil && op != "" {
		d.log.Debug("job api error", "op", op, "err", err)
	}
	// Counted before the reply goes out, so a client that reads the
	// metrics once it has its answer sees the request counted.
	d.count(op, err)
	if m.Reply != "" {
		if rerr := m.Respond(data); rerr != nil {
			d.log.Warn("reply not sent", "op", op, "bytes", len(data), "err", rerr)
		}
	}
}
