package bridgeserver

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cellsd/cellsd/connectors"
	"github.com/cellsd/cellsd/connectors/bridge"
	"github.com/cellsd/cellsd/connectors/postgres"
)

// testTimeout bounds a test-connection.
const testTimeout = 10 * time.Second

// testConnectionRequest is bridge.ConnectionRequest with an ad hoc config whose
// values may be JSON numbers or booleans too (a port as 5432).
type testConnectionRequest struct {
	ConnectionID string         `json:"connectionId"`
	Engine       string         `json:"engine"`
	Config       map[string]any `json:"config"`
}

// testConnection answers {ok: true}, or {ok: false, error} when the
// connection cannot be used; unknown connections and malformed ad hoc
// configs are HTTP errors.
func (s *Server) testConnection(w http.ResponseWriter, r *http.Request) error {
	var req testConnectionRequest
	if err := s.decode(w, r, &req); err != nil {
		return err
	}
	ctx, done, err := s.startQuery(w, r, "")
	if err != nil {
		return err
	}
	defer done()
	ctx, cancel := context.WithTimeout(ctx, testTimeout)
	defer cancel()
	switch {
	case req.ConnectionID != "":
		t, err := s.target(ctx, req.ConnectionID)
		if err != nil {
			return err
		}
		if t.my != nil {
			if err = t.my.Ping(ctx); err != nil {
				err = fmt.Errorf("connection %s: %w", req.ConnectionID, err)
			}
		} else if t.session != nil {
			err = sessionRows(ctx, t.session, "SELECT 1", discardRows{})
		} else if t.src == nil {
			err = s.cfg.Core.PingContext(ctx)
		} else {
			if err = pgFetch(ctx, t.src, "SELECT 1", nil); err != nil {
				err = fmt.Errorf("connection %s: %w", req.ConnectionID, err)
			}
		}
		writeJSON(w, http.StatusOK, testResult(err))
	case req.Engine == connectors.EngineDuckDB:
		if s.cfg.Core == nil {
			return errorf(http.StatusServiceUnavailable, "no core DuckDB configured")
		}
		writeJSON(w, http.StatusOK, testResult(s.cfg.Core.PingContext(ctx)))
	case req.Engine == connectors.EnginePostgres:
		c, err := adHocConnection(req.Config)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, testResult(pingPostgres(ctx, c)))
	case req.Engine == connectors.EngineMySQL:
		c, err := adHocConnection(req.Config)
		if err != nil {
			return err
		}
		c.Engine = connectors.EngineMySQL
		writeJSON(w, http.StatusOK, testResult(pingMySQL(ctx, c)))
	case req.Engine != "":
		return errorf(http.StatusBadRequest, "unknown engine %q (known: %s, %s)", req.Engine, connectors.EngineDuckDB, connectors.EnginePostgres)
	default:
		return errorf(http.StatusBadRequest, "missing connectionId (or engine and config)")
	}
	return nil
}

func testResult(err error) bridge.TestConnectionResponse {
	if err != nil {
		return bridge.TestConnectionResponse{Error: err.Error()}
	}
	return bridge.TestConnectionResponse{OK: true}
}

// adHocConnection builds a Postgres connection from an ad hoc config: the
// host fields or a dsn, and a password. password_env is refused: a
// request must not read the daemon's environment.
func adHocConnection(config map[string]any) (connectors.Connection, error) {
	c := connectors.Connection{ID: "ad hoc", Engine: connectors.EnginePostgres}
	fields := map[string]*string{
		"host": &c.Host, "port": &c.Port, "database": &c.Database, "user": &c.User,
		"password": &c.Password, "dsn": &c.DSN,
	}
	for k, v := range config {
		dst, ok := fields[k]
		if !ok {
			return c, errorf(http.StatusBadRequest, "config: unknown key %q (known: database, dsn, host, password, port, user)", k)
		}
		switch v := v.(type) {
		case string:
			*dst = v
		case float64:
			*dst = strconv.FormatFloat(v, 'f', -1, 64)
		default:
			return c, errorf(http.StatusBadRequest, "config: %s: want a string", k)
		}
	}
	return c, nil
}

// pingPostgres connects once with c and pings.
func pingPostgres(ctx context.Context, c connectors.Connection) error {
	cfg, err := postgres.NewConfig(c)
	if err != nil {
		return err
	}
	conn, err := pgx.ConnectConfig(ctx, cfg.Pool.ConnConfig)
	if err == nil {
		err = conn.Ping(ctx)
		conn.Close(context.WithoutCancel(ctx))
	}
	if err != nil && c.Password != "" {
		return errors.New(strings.ReplaceAll(err.Error(), c.Password, "********"))
	}
	return err
}

func (s *Server) listCatalog(w http.ResponseWriter, r *http.Request) error {
	var req bridge.ConnectionRequest
	if err := s.decode(w, r, &req); err != nil {
		return err
	}
	t, err := s.target(r.Context(), req.ConnectionID)
	if err != nil {
		return err
	}
	ctx, done, err := s.startQuery(w, r, "")
	if err != nil {
		return err
	}
	defer done()
	cat, err := s.catalog(ctx, t)
	if err != nil {
		return queryFailed(ctx, t, fmt.Errorf("list catalog: %w", err))
	}
	writeJSON(w, http.StatusOK, cat)
	return nil
}

// queryRequest decodes and checks a bridge.QueryRequest.
func (s *Server) queryRequest(w http.ResponseWriter, r *http.Request) (bridge.QueryRequest, target, error) {
	var req bridge.QueryRequest
	if err := s.decode(w, r, &req); err != nil {
		return req, target{}, err
	}
	if strings.TrimSpace(req.SQL) == "" {
		return req, target{}, errorf(http.StatusBadRequest, "missing sql")
	}
	t, err := s.target(r.Context(), req.ConnectionID)
	if err == nil && t.session != nil {
		// Before anything is sent: fetch-arrow-stream's status line goes
		// out before its query runs.
		if err = checkQuery(r.Context(), t.session, req.SQL); err != nil {
			err = fmt.Errorf("connection %s: %w", t.conn.ID, err)
		}
	}
	return req, t, err
}

// executeQuery runs statements for their effect (queryType "exec":
// {ok: true}) or returns rows as JSON ("json": {jsonData: [...]}).
func (s *Server) executeQuery(w http.ResponseWriter, r *http.Request) error {
	req, t, err := s.queryRequest(w, r)
	if err != nil {
		return err
	}
	if req.QueryType != "exec" && req.QueryType != "json" {
		return errorf(http.StatusBadRequest, "queryType %q: want exec or json", req.QueryType)
	}
	ctx, done, err := s.startQuery(w, r, req.QueryID)
	if err != nil {
		return err
	}
	defer done()
	if req.QueryType == "exec" {
		if err := s.exec(ctx, t, req.SQL); err != nil {
			return queryFailed(ctx, t, err)
		}
		writeJSON(w, http.StatusOK, bridge.ExecuteQueryResponse{OK: true})
		return nil
	}
	out := &pendingResponse{w: w, contentType: "application/json"}
	rows := &jsonRows{w: out}
	_, err = out.Write([]byte(`{"jsonData":[`))
	if err == nil {
		err = s.queryRows(ctx, t, req.SQL, rows)
	}
	if err == nil {
		_, err = out.Write([]byte("]}\n"))
	}
	if err != nil {
		err = queryFailed(ctx, t, err)
	}
	return out.finish(err)
}

// fetchArrow answers with the result as one Arrow IPC stream.
func (s *Server) fetchArrow(w http.ResponseWriter, r *http.Request) error {
	req, t, err := s.queryRequest(w, r)
	if err != nil {
		return err
	}
	ctx, done, err := s.startQuery(w, r, req.QueryID)
	if err != nil {
		return err
	}
	defer done()
	out := &pendingResponse{w: w, contentType: ArrowStreamType}
	stream := &ipcStream{w: out}
	err = s.queryArrow(ctx, t, req.SQL, stream)
	if err == nil {
		err = stream.close()
	}
	if err != nil {
		err = queryFailed(ctx, t, err)
	}
	return out.finish(err)
}

// fetchArrowStream answers with frames (DESIGN.md "HTTP"): a batch frame
// per chunkRows rows, sent as soon as it is full, then an end frame, or an
// error frame. The status line goes out before the query starts, so a
// client can cancel it by its queryId; errors of the query are error
// frames.
func (s *Server) fetchArrowStream(w http.ResponseWriter, r *http.Request) error {
	req, t, err := s.queryRequest(w, r)
	if err != nil {
		return err
	}
	chunk := req.ChunkRows
	switch {
	case chunk < 0:
		return errorf(http.StatusBadRequest, "chunkRows %d: want a positive number", chunk)
	case chunk == 0:
		chunk = DefaultChunkRows
	case chunk > MaxChunkRows:
		chunk = MaxChunkRows
	}
	ctx, done, err := s.startQuery(w, r, req.QueryID)
	if err != nil {
		return err
	}
	defer done()
	rc := http.NewResponseController(w)
	flush := func() error {
		// A writer that cannot flush (a middleware that hides it) still
		// streams, only later.
		if err := rc.Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
			return err
		}
		return nil
	}
	w.Header().Set("Content-Type", FramedStreamType)
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	if err := flush(); err != nil {
		return nil // the client is gone
	}
	frames := &frameWriter{w: w, flush: flush, queryID: req.QueryID, chunkRows: chunk}
	err = s.queryArrow(ctx, t, req.SQL, frames)
	if err == nil {
		err = frames.end()
	}
	if err != nil {
		err = queryFailed(ctx, t, err)
		s.log.Info("stream failed", "queryId", req.QueryID, "connection", t.conn.ID, "err", err)
		_ = frames.fail(err)
	}
	return nil
}

func (s *Server) cancelQuery(w http.ResponseWriter, r *http.Request) error {
	var req bridge.CancelRequest
	if err := s.decode(w, r, &req); err != nil {
		return err
	}
	if req.QueryID == "" {
		return errorf(http.StatusBadRequest, "missing queryId")
	}
	cancelled := s.cancelByID(req.QueryID)
	if cancelled {
		s.log.Info("query cancelled", "queryId", req.QueryID)
	}
	writeJSON(w, http.StatusOK, bridge.CancelResponse{Cancelled: cancelled})
	return nil
}

// listConnections lists the connections in the SQLRooms DbConnection
// shape. config carries where a connection points, never a password.
func (s *Server) listConnections(w http.ResponseWriter, r *http.Request) error {
	ids := s.registry.IDs()
	out := bridge.ListConnectionsResponse{Connections: make([]bridge.DbConnection, 0, len(ids))}
	for _, id := range ids {
		c, _ := s.registry.Lookup(id)
		if !served(c) {
			continue // its queries would get 501
		}
		out.Connections = append(out.Connections, bridge.DbConnection{
			ID:             c.ID,
			EngineID:       c.Engine,
			Title:          cmp.Or(c.Title, c.ID),
			RuntimeSupport: "server",
			RequiresBridge: true,
			BridgeID:       s.cfg.BridgeID,
			IsCore:         c.ID == connectors.CoreID,
			Config:         publicConfig(c),
		})
	}
	sort.SliceStable(out.Connections, func(i, j int) bool {
		return out.Connections[i].IsCore && !out.Connections[j].IsCore
	})
	writeJSON(w, http.StatusOK, out)
	return nil
}

// served reports whether the bridge runs queries on c: the core DuckDB and
// Postgres connections.
func served(c connectors.Connection) bool {
	return c.ID == connectors.CoreID || c.Engine == connectors.EnginePostgres || c.Engine == connectors.EngineMySQL
}

// publicConfig is where a connection points, without secrets: host, port,
// database and user (from the dsn when there is one), readOnly and
// statementTimeout.
func publicConfig(c connectors.Connection) map[string]string {
	if c.Engine != connectors.EnginePostgres && c.Engine != connectors.EngineMySQL {
		return nil
	}
	m := map[string]string{}
	host, port, db, user := c.Host, c.Port, c.Database, c.User
	if c.DSN != "" {
		host, port, db, user = "", "", "", ""
		if u, err := url.Parse(c.DSN); err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") {
			host, port, db, user = u.Hostname(), u.Port(), strings.TrimPrefix(u.Path, "/"), u.User.Username()
		}
	}
	for k, v := range map[string]string{"host": host, "port": port, "database": db, "user": user, "statementTimeout": c.StatementTimeout} {
		if v != "" {
			m[k] = v
		}
	}
	m["readOnly"] = strconv.FormatBool(c.IsReadOnly())
	return m
}
