package jobapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/cellsd/cellsd/engine"
	"github.com/cellsd/cellsd/engine/natsbus"
	"github.com/cellsd/cellsd/internal/limits"
)

// Subjects every daemon answers (DESIGN.md "Job API over NATS").
const (
	// OpenSubject opens a session (queue group: one daemon answers).
	OpenSubject = "cellsd.v1.api.open"
	// SessionsSubject lists the sessions (every daemon answers).
	SessionsSubject = "cellsd.v1.api.sessions"
	// NotebooksSubject lists the notebooks under --notebooks.
	NotebooksSubject = "cellsd.v1.api.notebooks"
)

// SessionSubject is the subject of an operation on a session.
func SessionSubject(id, op string) string {
	return natsbus.APISubject(id) + "." + op
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

// Error is the job API's error reply, {"error": Error} on the wire.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Errorf is the error reply of the given code.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ValidID checks a session id (natsbus.CheckID) before anything uses it
// in a subject: a subject longer than the server's control line would get
// the daemon's connection closed.
func ValidID(id string) error {
	if err := natsbus.CheckID(id); err != nil {
		return Errorf(CodeBadRequest, "%v", err)
	}
	return nil
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

// OpenReply answers open: the session's id and, already escaped, the
// subjects and the bucket keys a client uses (DESIGN.md "Sessions:
// identity").
type OpenReply struct {
	SessionID string       `json:"sessionId"`
	Subjects  OpenSubjects `json:"subjects"`
	KV        string       `json:"kv"`
	// Token lets a NATS client in with this session's permissions only
	// (and the bridge's session:<id>); see the README's "Running it for a team".
	Token string `json:"token"`
}

// OpenSubjects are a session's subjects: the job API's prefix (append
// ".<op>") and the filter of its events.
type OpenSubjects struct {
	API    string `json:"api"`
	Events string `json:"events"`
}

// NewOpenReply is open's reply for session id, without its token.
func NewOpenReply(id string) OpenReply {
	return OpenReply{SessionID: id, Subjects: OpenSubjects{API: natsbus.APISubject(id), Events: natsbus.SessionSubject(id)}, KV: natsbus.KVPrefix(id)}
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

// SessionsReply is one daemon's answer to cellsd.v1.api.sessions.
type SessionsReply struct {
	Sessions []SessionInfo `json:"sessions"`
}

// SessionInfo describes one open session.
type SessionInfo struct {
	SessionID string     `json:"sessionId"`
	Title     string     `json:"title"`
	Path      *string    `json:"path"`
	Daemon    DaemonInfo `json:"daemon"`
	OpenedAt  string     `json:"openedAt"`
	Cells     int        `json:"cells"`
}

// DaemonInfo names the daemon that owns a session and where its HTTP is.
type DaemonInfo struct {
	Name string `json:"name"`
	HTTP string `json:"http"`
}

// NotebookEntry is one notebook cellsd.v1.api.notebooks lists.
type NotebookEntry struct {
	Path  string `json:"path"`  // relative to --notebooks, with forward slashes
	Title string `json:"title"` // its file name, see fileTitle
}

// SessionError maps an engine error to the job API's codes.
func SessionError(err error) *Error {
	switch {
	case errors.Is(err, engine.ErrClosed):
		return Errorf(CodeUnavailable, "%v", err)
	case errors.Is(err, engine.ErrUnknownArtifact), errors.Is(err, engine.ErrUnknownCell):
		return Errorf(CodeNotFound, "%v", err)
	}
	return Errorf(CodeBadRequest, "%v", err) // a bad patch: not an input cell, a value the input refuses
}

// Decode reads a JSON request body; an empty body is an empty request.
func Decode(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	if err := limits.JSONDepth(body); err != nil { // before a decoder that may be slower
		return Errorf(CodeBadRequest, "request body: %v", err)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return Errorf(CodeBadRequest, "request body: %v", err)
	}
	return nil
}

// ParseMode reads a request's mode: autorun, lazy, or empty for the
// session's own.
func ParseMode(s string) (engine.Mode, error) {
	switch mode := engine.Mode(s); mode {
	case "", engine.Autorun, engine.Lazy:
		return mode, nil
	}
	return "", Errorf(CodeBadRequest, "mode %q: want autorun or lazy", s)
}
