package bridgeserver

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/ipc"

	"github.com/cellsd/cellsd/connectors/bridge"
	"github.com/cellsd/cellsd/engine/daemon/sqlvalue"
)

// ArrowStreamType is the content type of fetch-arrow's answer.
const ArrowStreamType = "application/vnd.apache.arrow.stream"

// FramedStreamType is the content type of fetch-arrow-stream's answer.
const FramedStreamType = "application/octet-stream"

// pendingThreshold is how much of a response is held back before it is
// committed: an error before then is still an HTTP status with a JSON
// body; after, the connection is cut so the client cannot take a
// truncated answer for a whole one.
const pendingThreshold = 1 << 20

// pendingResponse holds the start of a 200 response back until it is
// large enough (or complete), so that early errors keep their status.
type pendingResponse struct {
	w           http.ResponseWriter
	contentType string
	buf         bytes.Buffer
	committed   bool
}

func (p *pendingResponse) Write(b []byte) (int, error) {
	if p.committed {
		return p.w.Write(b)
	}
	p.buf.Write(b)
	if p.buf.Len() >= pendingThreshold {
		if err := p.commit(); err != nil {
			return 0, err
		}
	}
	return len(b), nil
}

func (p *pendingResponse) commit() error {
	p.committed = true
	p.w.Header().Set("Content-Type", p.contentType)
	p.w.Header().Set("Cache-Control", "no-store")
	p.w.WriteHeader(http.StatusOK)
	_, err := p.buf.WriteTo(p.w)
	return err
}

// finish sends the response, or when err is set, the error: as a status
// if nothing was sent yet, else by cutting the connection.
func (p *pendingResponse) finish(err error) error {
	if err == nil {
		if p.committed {
			return nil
		}
		return p.commit()
	}
	if !p.committed {
		return err
	}
	panic(http.ErrAbortHandler)
}

// ipcStream writes a result as one Arrow IPC stream (fetch-arrow).
type ipcStream struct {
	w  io.Writer
	iw *ipc.Writer
}

func (s *ipcStream) schema(schema *arrow.Schema) error {
	s.iw = ipc.NewWriter(s.w, ipc.WithSchema(schema))
	return nil
}

func (s *ipcStream) record(rec arrow.RecordBatch) error { return s.iw.Write(rec) }

// close ends the stream; a statement without a result is a stream with an
// empty schema.
func (s *ipcStream) close() error {
	if s.iw == nil {
		s.schema(arrow.NewSchema(nil, nil))
	}
	return s.iw.Close()
}

// frameWriter writes a result as fetch-arrow-stream frames: each batch
// frame a complete Arrow IPC stream of at most chunkRows rows, sent and
// flushed as soon as it is full. One frame is buffered at a time.
type frameWriter struct {
	w         io.Writer
	flush     func() error
	queryID   string
	chunkRows int

	sch    *arrow.Schema
	buf    bytes.Buffer
	iw     *ipc.Writer // the frame being filled, nil between frames
	rows   int         // rows in the frame being filled
	frames int         // batch frames sent
}

func (f *frameWriter) schema(schema *arrow.Schema) error {
	f.sch = schema
	return nil
}

func (f *frameWriter) record(rec arrow.RecordBatch) error {
	n := int(rec.NumRows())
	for off := 0; off < n; {
		if f.iw == nil {
			f.iw = ipc.NewWriter(&f.buf, ipc.WithSchema(f.sch))
		}
		take := min(n-off, f.chunkRows-f.rows)
		part := rec
		if take != n {
			part = rec.NewSlice(int64(off), int64(off+take))
		}
		err := f.iw.Write(part)
		if take != n {
			part.Release()
		}
		if err != nil {
			return fmt.Errorf("encode batch: %w", err)
		}
		f.rows += take
		off += take
		if f.rows >= f.chunkRows || f.buf.Len() >= maxFrameBytes {
			if err := f.send(); err != nil {
				return err
			}
		}
	}
	return nil
}

// send ends the frame being filled and writes it.
func (f *frameWriter) send() error {
	if err := f.iw.Close(); err != nil {
		return fmt.Errorf("encode batch: %w", err)
	}
	f.iw, f.rows = nil, 0
	err := bridge.WriteFrame(f.w, bridge.FrameHeader{Type: bridge.FrameBatch, QueryID: f.queryID}, f.buf.Bytes())
	f.buf.Reset()
	if err != nil {
		return fmt.Errorf("send batch: %w", err)
	}
	f.frames++
	return f.flush()
}

// end sends the last rows and the end frame. A result without rows is
// still one batch frame, with the schema and no batches, so the client
// learns its columns.
func (f *frameWriter) end() error {
	if f.iw == nil && f.frames == 0 {
		if f.sch == nil {
			f.sch = arrow.NewSchema(nil, nil)
		}
		f.iw = ipc.NewWriter(&f.buf, ipc.WithSchema(f.sch))
	}
	if f.iw != nil {
		if err := f.send(); err != nil {
			return err
		}
	}
	if err := bridge.WriteFrame(f.w, bridge.FrameHeader{Type: bridge.FrameEnd, QueryID: f.queryID}, nil); err != nil {
		return fmt.Errorf("send end: %w", err)
	}
	return f.flush()
}

// fail sends an error frame in place of the rest of the result.
func (f *frameWriter) fail(err error) error {
	if f.iw != nil {
		f.iw.Close()
		f.iw = nil
		f.buf.Reset()
	}
	if werr := bridge.WriteFrame(f.w, bridge.FrameHeader{Type: bridge.FrameError, QueryID: f.queryID, Error: err.Error()}, nil); werr != nil {
		return werr
	}
	return f.flush()
}

// jsonRows writes rows as the jsonData array of execute-query: one object
// per row, keys in column order.
type jsonRows struct {
	w     io.Writer
	keys  [][]byte // encoded column names, with the colon
	types []string
	n     int // rows written
	buf   bytes.Buffer
}

func (j *jsonRows) columns(names, dbTypes []string) error {
	j.keys = make([][]byte, len(names))
	for i, n := range names {
		k, err := json.Marshal(n)
		if err != nil {
			return err
		}
		j.keys[i] = append(k, ':')
	}
	j.types = dbTypes
	return nil
}

func (j *jsonRows) rows(rows [][]any) error {
	j.buf.Reset()
	for _, row := range rows {
		if j.n > 0 {
			j.buf.WriteByte(',')
		}
		j.n++
		j.buf.WriteByte('{')
		for i, v := range row {
			if i > 0 {
				j.buf.WriteByte(',')
			}
			j.buf.Write(j.keys[i])
			b, err := json.Marshal(sqlvalue.JSON(j.types[i], v))
			if err != nil {
				return fmt.Errorf("column %s: %w", j.keys[i], err)
			}
			j.buf.Write(b)
		}
		j.buf.WriteByte('}')
	}
	_, err := j.buf.WriteTo(j.w)
	return err
}
