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
