package materialize

import (
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// TestCheckRecord feeds checkRecord arrays whose buffers break their
// promises, as a remote could send them, and a healthy one.
func TestCheckRecord(t *testing.T) {
	i32 := func(v ...int32) *memory.Buffer { return memory.NewBufferBytes(arrow.Int32Traits.CastToBytes(v)) }
	for _, tc := range []struct {
		name string
		data arrow.ArrayData
		want string
	}{
		{"Healthy", array.NewData(arrow.BinaryTypes.String, 2, []*memory.Buffer{nil, i32(0, 2, 5), memory.NewBufferBytes([]byte("hello"))}, nil, 0, 0), ""},
		{"OffsetsDecrease", array.NewData(arrow.BinaryTypes.String, 2, []*memory.Buffer{nil, i32(0, 4, 3), memory.NewBufferBytes([]byte("hello"))}, nil, 0, 0), "offsets decrease"},
		{"OffsetsBeyondData", array.NewData(arrow.BinaryTypes.String, 2, []*memory.Buffer{nil, i32(0, 2, 9), memory.NewBufferBytes([]byte("hello"))}, nil, 0, 0), "offsets beyond the data"},
		{"OffsetsShort", array.NewData(arrow.BinaryTypes.String, 3, []*memory.Buffer{nil, i32(0, 2), memory.NewBufferBytes([]byte("hello"))}, nil, 0, 0), "offsets buffer too short"},
		{"FixedShort", array.NewData(arrow.PrimitiveTypes.Int64, 3, []*memory.Buffer{nil, i32(1, 2)}, nil, 0, 0), "data buffer too short"},
		{"ValidityShort", array.NewData(arrow.PrimitiveTypes.Int32, 9, []*memory.Buffer{memory.NewBufferBytes([]byte{0xff}), i32(1, 2, 3, 4, 5, 6, 7, 8, 9)}, nil, 1, 0), "validity bitmap too short"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				// arrow-go refuses some arrays when it builds them; the
				// IPC reader turns that panic into an error, so these
				// never reach checkRecord.
				if p := recover(); p != nil && tc.want == "" {
					t.Errorf("healthy array refused: %v", p)
				}
			}()
			arr := array.MakeFromData(tc.data)
			schema := arrow.NewSchema([]arrow.Field{{Name: "c", Type: arr.DataType(), Nullable: true}}, nil)
			rec := array.NewRecordBatch(schema, []arrow.Array{arr}, int64(arr.Len()))
			err := checkRecord(rec)
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("healthy record: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), "column c: malformed Arrow data: "+tc.want)):
				t.Errorf("error %v, want %q", err, tc.want)
			}
		})
	}
}
