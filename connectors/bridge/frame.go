// Package bridge speaks the SQLRooms DB bridge contract (createHttpDbBridge in
// @sqlrooms/db 0.29, DESIGN.md "HTTP"): the wire types and the framed Arrow
// stream shared by cellsd's bridge server and its bridge client connector.
//
// Server serves the contract under /api/db/ for the connections of a
// registry: the core DuckDB (database/sql rows turned into Arrow) and
// Postgres (postgres.Source: READ ONLY transactions unless the connection
// says otherwise, rows decoded from the binary wire format straight into
// Arrow). Streams are sent frame by frame as the rows arrive, one frame
// held in memory at a time; cancel-query, a client going away and Close
// cancel the query on its server (Postgres gets a cancel request).
// RequireToken guards any handler with a bearer token.
//
// Answers: 200 with the endpoint's JSON (test-connection reports a
// connection it cannot reach as {ok: false, error}, not as an HTTP error),
// and for failures {"error": "..."} with 400 (malformed JSON, missing or
// invalid fields), 401 (token), 404 (unknown endpoint or connection), 405
// (method), 409 (queryId already running; query stopped by cancel-query),
// 413 (body over ServerConfig.MaxBody, 8 MiB by default), 422 (the SQL
// failed: Postgres's or DuckDB's error), 502 (Postgres unreachable), 503
// (server closed) and 500 otherwise. fetch-arrow-stream answers 200 before
// the query runs, so a failing query there ends in an error frame; the
// other endpoints hold the first MiB of an answer back, so an error before
// then is a status and one after it cuts the connection.
//
// Server and RequireToken are safe for concurrent use.
package bridge

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// Frame types of /api/db/fetch-arrow-stream.
const (
	FrameBatch = "batch"
	FrameEnd   = "end"
	FrameError = "error"
)

// MaxFrameHeader bounds a frame's JSON header; a longer one is malformed.
const MaxFrameHeader = 1 << 20

// FrameHeader is the JSON header that precedes every frame's payload.
type FrameHeader struct {
	Type          string `json:"type"`
	QueryID       string `json:"queryId"`
	PayloadLength int    `json:"payloadLength"`
	Error         string `json:"error,omitempty"`
}

// WriteFrame writes one frame: a 4-byte big-endian header length, the JSON
// header, then payload. It sets h.PayloadLength from payload.
func WriteFrame(w io.Writer, h FrameHeader, payload []byte) error {
	h.PayloadLength = len(payload)
	head, err := json.Marshal(h)
	if err != nil {
		return fmt.Errorf("encode frame header: %w", err)
	}
	buf := make([]byte, 4, 4+len(head))
	binary.BigEndian.PutUint32(buf, uint32(len(head)))
	if _, err := w.Write(append(buf, head...)); err != nil {
		return err
	}
	if len(payload) == 0 {
		return nil
	}
	_, err = w.Write(payload)
	return err
}

// ErrMalformedFrame reports a stream that does not follow the frame format.
var ErrMalformedFrame = errors.New("malformed bridge frame")

// ReadFrame reads one frame. At a clean end of stream (no byte of a next
// frame) it returns io.EOF; a stream cut inside a frame, an oversized or
// unparsable header, or a negative payload length is ErrMalformedFrame.
// maxPayload bounds the payload (0 means no bound).
func ReadFrame(r io.Reader, maxPayload int) (FrameHeader, []byte, error) {
	var h FrameHeader
	var n [4]byte
	if _, err := io.ReadFull(r, n[:]); err != nil {
		if err == io.EOF {
			return h, nil, io.EOF
		}
		return h, nil, fmt.Errorf("%w: header length: %v", ErrMalformedFrame, err)
	}
	size := binary.BigEndian.Uint32(n[:])
	if size == 0 || size > MaxFrameHeader {
		return h, nil, fmt.Errorf("%w: header of %d bytes", ErrMalformedFrame, size)
	}
	head := make([]byte, size)
	if _, err := io.ReadFull(r, head); err != nil {
		return h, nil, fmt.Errorf("%w: header: %v", ErrMalformedFrame, err)
	}
	if err := json.Unmarshal(head, &h); err != nil {
		return h, nil, fmt.Errorf("%w: header: %v", ErrMalformedFrame, err)
	}
	if h.PayloadLength < 0 || (maxPayload > 0 && h.PayloadLength > maxPayload) {
		return h, nil, fmt.Errorf("%w: payload of %d bytes", ErrMalformedFrame, h.PayloadLength)
	}
	payload := make([]byte, h.PayloadLength)
	if _, err := io.ReadFull(r, payload); err != nil {
		return h, nil, fmt.Errorf("%w: payload: %v", ErrMalformedFrame, err)
	}
	return h, payload, nil
}
