package jobapi

import (
	"encoding/json"
	"strconv"

	"github.com/cellsd/cellsd/cells"
	"github.com/cellsd/cellsd/engine"
	"github.com/cellsd/cellsd/engine/format"
	"github.com/cellsd/cellsd/engine/natsbus"
)

// PageRequest is the body of status and graph: which cells to answer, in
// the order the reply lists them. Limit 0 means as many as fit.
type PageRequest struct {
	Offset int `json:"offset"`
	Limit  int `json:"limit"`
}

// DecodePage reads the body of status and graph.
func DecodePage(body []byte, req *PageRequest) error {
	if err := Decode(body, req); err != nil {
		return err
	}
	if req.Offset < 0 || req.Limit < 0 {
		return Errorf(CodeBadRequest, "offset %d, limit %d: want numbers of 0 or more", req.Offset, req.Limit)
	}
	return nil
}

// StatusReply answers status: the SQL cells' current states from Offset
// on, each with what a frontend needs to draw it, and the input cells'
// values. Seq is the session's latest event at the time, so the states
// include every event up to it. Next is the offset of the next page, nil
// on the last.
type StatusReply struct {
	SessionID string        `json:"sessionId"`
	Seq       int64         `json:"seq"`
	Cells     []StatusCell  `json:"cells"`
	Inputs    []StatusInput `json:"inputs"`
	Next      *int          `json:"next"`
	Jobs      *JobsStatus   `json:"jobs,omitempty"`
}

// JobsStatus is how the daemon's external cells' jobs stand: how many no
// worker has taken yet, per connector, and the workers alive.
type JobsStatus struct {
	Waiting map[string]int `json:"waiting"`
	Workers []WorkerStatus `json:"workers"`
}

// WorkerStatus is a worker alive: its name, the connectors it takes jobs
// for and how many it runs now.
type WorkerStatus struct {
	Name       string   `json:"name"`
	Connectors []string `json:"connectors"`
	Running    int      `json:"running"`
}

// StatusCell is a cell's latest event and the cell itself.
type StatusCell struct {
	natsbus.Payload
	Title       string `json:"title"`
	Type        string `json:"type"`
	SQL         string `json:"sql"`
	ResultName  string `json:"resultName"`
	ConnectorID string `json:"connectorId"`
	// Refresh is an external cell's refresh policy ("ttl:10m"); FetchedAt
	// and AgeMs say when its current result was fetched and how long ago.
	// Absent for core cells, and the last two before a first fetch.
	Refresh   string             `json:"refresh,omitempty"`
	FetchedAt *natsbus.Timestamp `json:"fetchedAt,omitempty"`
	AgeMs     *float64           `json:"ageMs,omitempty"`
}

// InputValue is an input cell's kind, variable and current value, with
// its bounds or options when it has them.
type InputValue struct {
	Kind    string      `json:"kind"`
	VarName string      `json:"varName"`
	Value   any         `json:"value"`
	Options []any       `json:"options,omitempty"`
	Min     json.Number `json:"min,omitempty"`
	Max     json.Number `json:"max,omitempty"`
	Step    json.Number `json:"step,omitempty"`
}

// StatusInput is one input cell of a status reply.
type StatusInput struct {
	CellID   string `json:"cellId"`
	Artifact string `json:"artifact"`
	Title    string `json:"title"`
	InputValue
}

// GraphCell is a cell of the graph op's reply: the graph document's cell
// plus its title, its SQL (null unless a SQL cell) and its input (null
// unless an input cell).
type GraphCell struct {
	format.GraphCell
	Title string      `json:"title"`
	SQL   *string     `json:"sql"`
	Input *InputValue `json:"input"`
}

func inputValue(in *cells.Input) InputValue {
	return InputValue{Kind: in.Kind, VarName: in.VarName, Value: in.Value, Options: in.Options, Min: in.Min, Max: in.Max, Step: in.Step}
}

// replyMargin is kept free of a page's budget: the reply's subject and
// headers do not count against the max payload, but rounding does.
const replyMargin = 256

// room is the room left for a page's items once its envelope is
// encoded.
func room(maxPayload int64, envelope any) (int, error) {
	data, err := json.Marshal(envelope)
	if err != nil {
		return 0, Errorf(CodeInternal, "encode reply: %v", err)
	}
	max := int(maxPayload)
	if max <= 0 {
		max = 1 << 20
	}
	return max - len(data) - replyMargin, nil
}

// tooBig is the error for one item larger than a whole reply.
func tooBig(what string, n, budget int) error {
	return Errorf(CodeInternal, "%s alone is %d bytes: no reply within the NATS server's max payload (room for %d) can hold it", what, n, budget)
}

// Status answers the status op of session id: a page of its cells that
// fits, with the room left in a reply of maxPayload bytes; jobs, when not
// nil, is the daemon's jobs.
func Status(id string, es *engine.Session, req PageRequest, maxPayload int64, jobs *JobsStatus) (any, error) {
	seq, evs := es.Snapshot()
	views := map[[2]string]engine.CellView{}
	var inputs []StatusInput
	for _, v := range es.Cells() {
		views[[2]string{v.Artifact, v.Cell.ID}] = v
		if v.Cell.Type == cells.TypeInput && v.Cell.Input != nil {
			inputs = append(inputs, StatusInput{CellID: v.Cell.ID, Artifact: v.Artifact, Title: v.Cell.Title, InputValue: inputValue(v.Cell.Input)})
		}
	}
	if inputs == nil || req.Offset > 0 {
		inputs = []StatusInput{} // the inputs come with the first page
	}
	type page struct {
		SessionID string            `json:"sessionId"`
		Seq       int64             `json:"seq"`
		Cells     []json.RawMessage `json:"cells"`
		Inputs    []StatusInput     `json:"inputs"`
		Next      *int              `json:"next"`
		Jobs      *JobsStatus       `json:"jobs,omitempty"`
	}
	n := len(evs)
	out := page{SessionID: id, Seq: seq, Cells: []json.RawMessage{}, Inputs: inputs, Next: &n, Jobs: jobs}
	budget, err := room(maxPayload, out)
	if err != nil {
		return nil, err
	}
	end := n
	if req.Limit > 0 {
		end = min(n, req.Offset+req.Limit)
	}
	i := req.Offset
	for ; i < end; i++ {
		ev := evs[i]
		v := views[[2]string{ev.Artifact, ev.Cell}]
		sc := StatusCell{Payload: natsbus.PayloadOf(ev), Title: v.Cell.Title, Type: v.Cell.Type,
			SQL: v.Cell.SQL, ResultName: v.ResultName, ConnectorID: v.Cell.Connector(), Refresh: v.Refresh}
		if !v.FetchedAt.IsZero() {
			age := engine.Milliseconds(v.Age)
			sc.FetchedAt, sc.AgeMs = &natsbus.Timestamp{Time: v.FetchedAt}, &age
		}
		data, err := json.Marshal(sc)
		if err != nil {
			return nil, Errorf(CodeInternal, "encode cell %s: %v", ev.Cell, err)
		}
		if len(data)+1 > budget {
			if len(out.Cells) == 0 {
				return nil, tooBig("the status of cell "+strconv.Quote(ev.Cell), len(data), budget)
			}
			break
		}
		budget -= len(data) + 1
		out.Cells = append(out.Cells, data)
	}
	out.Next = nil
	if i < n {
		out.Next = &i
	}
	return out, nil
}

// Graph answers the graph op: a page of the graph document's cells that
// fits in a reply of maxPayload bytes.
func Graph(es *engine.Session, req PageRequest, maxPayload int64) (any, error) {
	g := format.NewGraph(es.Plan())
	views := map[[2]string]engine.CellView{}
	total := 0
	for _, v := range es.Cells() {
		views[[2]string{v.Artifact, v.Cell.ID}] = v
	}
	for _, a := range g.Artifacts {
		total += len(a.Cells)
	}
	type artifact struct {
		ID     string              `json:"id"`
		Schema string              `json:"schema"`
		Cells  []json.RawMessage   `json:"cells"`
		Order  []string            `json:"order"`
		Errors []format.GraphError `json:"errors"`
	}
	type page struct {
		Artifacts []*artifact `json:"artifacts"`
		Next      *int        `json:"next"`
	}
	out := page{Artifacts: []*artifact{}, Next: &total}
	budget, err := room(maxPayload, out)
	if err != nil {
		return nil, err
	}
	end := total
	if req.Limit > 0 {
		end = min(total, req.Offset+req.Limit)
	}
	// Cells are numbered across artifacts; an artifact's order and errors
	// come with the page that holds its first cell (an artifact with no
	// cells, with the first page), its id and schema with every page that
	// holds one of its cells.
	next, pos := req.Offset, 0
	for _, a := range g.Artifacts {
		n := len(a.Cells)
		start, stop := max(req.Offset, pos), min(end, pos+n)
		if start >= stop && !(n == 0 && req.Offset == 0) {
			pos += n
			continue
		}
		pa := &artifact{ID: a.ID, Schema: a.Schema, Cells: []json.RawMessage{}, Order: []string{}, Errors: []format.GraphError{}}
		if pos >= req.Offset {
			pa.Order, pa.Errors = a.Order, a.Errors
		}
		head, err := json.Marshal(pa)
		if err != nil {
			return nil, Errorf(CodeInternal, "encode artifact %s: %v", a.ID, err)
		}
		if len(head)+1 > budget {
			if len(out.Artifacts) == 0 {
				return nil, tooBig("the order and errors of artifact "+strconv.Quote(a.ID), len(head), budget)
			}
			break
		}
		budget -= len(head) + 1
		out.Artifacts = append(out.Artifacts, pa)
		full := false
		for k := start; k < stop; k++ {
			gc := a.Cells[k-pos]
			v := views[[2]string{a.ID, gc.ID}]
			c := GraphCell{GraphCell: gc, Title: v.Cell.Title}
			if v.Cell.Type == cells.TypeSQL {
				sql := v.Cell.SQL
				c.SQL = &sql
			}
			if v.Cell.Input != nil {
				in := inputValue(v.Cell.Input)
				c.Input = &in
			}
			data, err := json.Marshal(c)
			if err != nil {
				return nil, Errorf(CodeInternal, "encode cell %s: %v", gc.ID, err)
			}
			if len(data)+1 > budget {
				if k == req.Offset {
					return nil, tooBig("the graph of cell "+strconv.Quote(gc.ID), len(data), budget)
				}
				full = true
				break
			}
			budget -= len(data) + 1
			pa.Cells = append(pa.Cells, data)
			next = k + 1
		}
		if full {
			if len(pa.Cells) == 0 { // it all comes with the next page
				out.Artifacts = out.Artifacts[:len(out.Artifacts)-1]
			}
			break
		}
		pos += n
	}
	out.Next = nil
	if next < total {
		out.Next = &next
	}
	return out, nil
}
