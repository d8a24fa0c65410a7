package bridge_test

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/cellsd/cellsd/connectors/bridge"
)

// TestWriteFrame_Header checks a frame's bytes as DESIGN.md gives them: a
// 4-byte big-endian header length, the JSON header with every field of
// the contract (queryId even when the request named none), the payload.
func TestWriteFrame_Header(t *testing.T) {
	for _, tt := range []struct {
		name    string
		h       bridge.FrameHeader
		payload string
		header  string
	}{
		{"Batch", bridge.FrameHeader{Type: bridge.FrameBatch, QueryID: "q1"}, "arrow", `{"type":"batch","queryId":"q1","payloadLength":5}`},
		{"NoQueryID", bridge.FrameHeader{Type: bridge.FrameEnd}, "", `{"type":"end","queryId":"","payloadLength":0}`},
		{"Error", bridge.FrameHeader{Type: bridge.FrameError, QueryID: "q1", Error: "boom"}, "", `{"type":"error","queryId":"q1","payloadLength":0,"error":"boom"}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := bridge.WriteFrame(&buf, tt.h, []byte(tt.payload)); err != nil {
				t.Fatal(err)
			}
			b := buf.Bytes()
			n := binary.BigEndian.Uint32(b[:4])
			if got := string(b[4 : 4+n]); got != tt.header {
				t.Errorf("header %s, want %s", got, tt.header)
			}
			if got := string(b[4+n:]); got != tt.payload {
				t.Errorf("payload %q, want %q", got, tt.payload)
			}
		})
	}
}
