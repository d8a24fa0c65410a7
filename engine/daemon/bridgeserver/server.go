package bridgeserver

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"

	"github.com/cellsd/cellsd/connectors"
	"github.com/cellsd/cellsd/connectors/bridge"
	"github.com/cellsd/cellsd/connectors/mysql"
	"github.com/cellsd/cellsd/connectors/postgres"
)

// Defaults of ServerConfig.
const (
	// DefaultMaxBody caps a request body: a 16 MiB body is refused with 413.
	DefaultMaxBody = 8 << 20
	// DefaultChunkRows is the rows per fetch-arrow-stream frame when the
	// request names none.
	DefaultChunkRows = 10_000
	// MaxChunkRows bounds a requested chunkRows, so one frame (which is
	// held in memory until its length is known) stays small.
	MaxChunkRows = 1_000_000
	// DefaultBridgeID is the bridgeId list-connections reports.
	DefaultBridgeID = "cellsd"
)

// maxFrameBytes ends a frame early, whatever chunkRows says, once its Arrow
// IPC stream reaches this size: frames are buffered until sent.
const maxFrameBytes = 64 << 20

// ServerConfig is what a Server serves.
type ServerConfig struct {
	// Connections names the connections the bridge serves; nil serves the
	// core DuckDB only.
	Connections *connectors.Registry
	// Core is the daemon's core DuckDB, connection id connectors.CoreID.
	Core *sql.DB
	// Sessions serves the connections "session:<id>"; nil serves none.
	Sessions Sessions
	// Logger receives one record per failed request; nil discards.
	Logger *slog.Logger
	// MaxBody caps request bodies; 0 means DefaultMaxBody.
	MaxBody int64
	// BridgeID is the bridgeId of list-connections; "" means
	// DefaultBridgeID.
	BridgeID string
}

// Server serves the SQLRooms DB bridge contract (DESIGN.md "HTTP") under
// /api/db/. It opens a Postgres pool per connection on first use and
// closes them in Close. It is safe for concurrent use.
type Server struct {
	cfg      ServerConfig
	registry *connectors.Registry
	log      *slog.Logger

	// ctx is cancelled by Close; every query's context follows it.
	ctx    context.Context
	cancel context.CancelCauseFunc
	wg     sync.WaitGroup // requests in flight

	mu      sync.Mutex
	closed  bool
	sources *connectors.Clients[*postgres.Source] // by connection id
	queries map[string]context.CancelCauseFunc    // by queryId
	mysqls  *connectors.Clients[*mysql.Source]    // by connection id
}

// Causes of a query's cancellation.
var (
	// ErrServerClosed is the answer to requests after Close, and the
	// cause of queries Close interrupts.
	ErrServerClosed = errors.New("bridge server closed")
	// ErrQueryCancelled is the cause of a query cancel-query stopped.
	ErrQueryCancelled = errors.New("query cancelled")
)

// NewServer returns a Server for cfg. It starts nothing and connects to
// nothing.
func NewServer(cfg ServerConfig) *Server {
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = DefaultMaxBody
	}
	if cfg.BridgeID == "" {
		cfg.BridgeID = DefaultBridgeID
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	registry := cfg.Connections
	if registry == nil {
		registry, _ = connectors.NewRegistry() // the core alone never fails
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	return &Server{
		cfg:      cfg,
		registry: registry,
		log:      log.With("component", "bridge"),
		ctx:      ctx,
		cancel:   cancel,
		sources:  connectors.NewClients(postgres.Connect, (*postgres.Source).Close),
		queries:  map[string]context.CancelCauseFunc{},
		mysqls:   connectors.NewClients(mysql.Connect, (*mysql.Source).Close),
	}
}

// Close refuses new requests, cancels the queries in flight, waits for
// their requests to end and closes the Postgres pools. It is idempotent.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	s.cancel(ErrServerClosed)
	s.wg.Wait()
	s.sources.Close()
	s.mysqls.Close()
	return nil
}

// enter admits a request unless the server is closed; the caller must call
// s.wg.Done when it ends.
func (s *Server) enter() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.wg.Add(1)
	return true
}

type route struct {
	methods []string
	handle  func(s *Server, w http.ResponseWriter, r *http.Request) error
}

var routes = map[string]route{
	"test-connection":    {[]string{http.MethodPost}, (*Server).testConnection},
	"list-catalog":       {[]string{http.MethodPost}, (*Server).listCatalog},
	"execute-query":      {[]string{http.MethodPost}, (*Server).executeQuery},
	"fetch-arrow":        {[]string{http.MethodPost}, (*Server).fetchArrow},
	"fetch-arrow-stream": {[]string{http.MethodPost}, (*Server).fetchArrowStream},
	"cancel-query":       {[]string{http.MethodPost}, (*Server).cancelQuery},
	"list-connections":   {[]string{http.MethodGet, http.MethodPost}, (*Server).listConnections},
}

// ServeHTTP serves /api/db/<endpoint>. Mount the Server at "/api/db/"
// without stripping the prefix.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	name, ok := strings.CutPrefix(r.URL.Path, "/api/db/")
	rt, known := routes[name]
	if !ok || !known {
		s.fail(w, r, errorf(http.StatusNotFound, "no bridge endpoint %s", r.URL.Path))
		return
	}
	allowed := false
	for _, m := range rt.methods {
		allowed = allowed || r.Method == m
	}
	if !allowed {
		w.Header().Set("Allow", strings.Join(rt.methods, ", "))
		s.fail(w, r, errorf(http.StatusMethodNotAllowed, "%s %s: method not allowed (allowed: %s)", r.Method, r.URL.Path, strings.Join(rt.methods, ", ")))
		return
	}
	if !s.enter() {
		s.fail(w, r, &httpError{status: http.StatusServiceUnavailable, err: ErrServerClosed})
		return
	}
	defer s.wg.Done()
	if err := rt.handle(s, w, r); err != nil {
		s.fail(w, r, err)
	}
}

// httpError is an error with the HTTP status it answers with.
type httpError struct {
	status int
	err    error
}

func (e *httpError) Error() string { return e.err.Error() }
func (e *httpError) Unwrap() error { return e.err }

func errorf(status int, format string, args ...any) error {
	return &httpError{status: status, err: fmt.Errorf(format, args...)}
}

// fail answers with err's status and {"error": message}.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	status := statusOf(err)
	level := slog.LevelInfo
	if status >= 500 {
		level = slog.LevelWarn
	}
	s.log.Log(r.Context(), level, "request failed", "path", r.URL.Path, "status", status, "err", err)
	writeJSON(w, status, bridge.ErrorResponse{Error: err.Error()})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		body, _ = json.Marshal(bridge.ErrorResponse{Error: "encode response: " + err.Error()})
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}

// decode reads a JSON request body of at most cfg.MaxBody bytes into v.
func (s *Server) decode(w http.ResponseWriter, r *http.Request, v any) error {
	if r.ContentLength > s.cfg.MaxBody {
		return errorf(http.StatusRequestEntityTooLarge, "request body of %d bytes exceeds the limit of %d", r.ContentLength, s.cfg.MaxBody)
	}
	body := http.MaxBytesReader(w, r.Body, s.cfg.MaxBody)
	dec := json.NewDecoder(body)
	err := dec.Decode(v)
	if err == nil {
		// Read to the end: trailing data is an error, and a body read to
		// EOF lets net/http notice a client that goes away.
		var rest json.RawMessage
		if err = dec.Decode(&rest); err == io.EOF {
			return nil
		} else if err == nil {
			err = errors.New("more than one JSON value")
		}
	}
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return errorf(http.StatusRequestEntityTooLarge, "request body exceeds the limit of %d bytes", s.cfg.MaxBody)
	}
	if err == io.EOF {
		return errorf(http.StatusBadRequest, "empty request body: want a JSON object")
	}
	return errorf(http.StatusBadRequest, "malformed JSON body: %v", err)
}
