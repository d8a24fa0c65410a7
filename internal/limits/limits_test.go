package limits_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cellsd/cellsd/internal/limits"
)

func TestReadAll_Limit(t *testing.T) {
	if _, err := limits.ReadAll(strings.NewReader("12345"), 4); !errors.Is(err, limits.ErrTooLarge) {
		t.Errorf("5 bytes over a limit of 4: %v, want ErrTooLarge", err)
	}
	if data, err := limits.ReadAll(strings.NewReader("1234"), 4); err != nil || string(data) != "1234" {
		t.Errorf("4 bytes at a limit of 4: %q %v", data, err)
	}
}

func TestDepth(t *testing.T) {
	cases := []struct {
		name, data string
		toml       bool
		want       string // "" for no error
	}{
		{"JSONShallow", `{"a":[[1]],"s":"[[[["}`, false, ""},
		{"JSONAt64", strings.Repeat("[", 64) + strings.Repeat("]", 64), false, ""},
		{"JSON65", strings.Repeat("[", 65), false, "line 1, column 65"},
		{"JSONStringsSkipped", `{"s":"\"` + strings.Repeat("[", 100) + `"}`, false, ""},
		{"JSONLine", "{\n\n" + strings.Repeat("[", 70), false, "line 3, column 64"},
		{"TOMLHeaders", "[[db.connectors]]\nid = \"a\"\n[[db.connectors]]\n", true, ""},
		{"TOMLInline", "x = " + strings.Repeat("{a = ", 10000) + "1" + strings.Repeat("}", 10000), true, "line 1, column 325"},
		{"TOMLStringsAndComments", "# [[[[[[\nx = '[[[[' \ny = \"\\\"{{{{\"\nz = '''\n[[[[[[\n'''\n", true, ""},
		{"TOMLArrays", "\n\nx = " + strings.Repeat("[", 65), true, "line 3, column 69"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			start := time.Now()
			var err error
			if c.toml {
				err = limits.TOMLDepth([]byte(c.data))
			} else {
				err = limits.JSONDepth([]byte(c.data))
			}
			if el := time.Since(start); el > 50*time.Millisecond {
				t.Errorf("took %v", el)
			}
			switch {
			case c.want == "" && err != nil:
				t.Errorf("%v, want none", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Errorf("%v, want %q", err, c.want)
			}
		})
	}
}
