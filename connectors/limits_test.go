package connectors_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cellsd/cellsd/connectors"
)

// TestLoadFile_Limits refuses, in milliseconds, a connections file nested
// 10,000 deep (naming the line) and one over the size limit.
func TestLoadFile_Limits(t *testing.T) {
	dir := t.TempDir()
	deep := filepath.Join(dir, "deep.toml")
	data := "[[db.connectors]]\nid = \"pg\"\nengine = \"postgres\"\nx = " + strings.Repeat("{a = ", 10000) + "1" + strings.Repeat("}", 10000) + "\n"
	if err := os.WriteFile(deep, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err := connectors.LoadFile(deep)
	if el := time.Since(start); el > 100*time.Millisecond {
		t.Errorf("refused in %v", el)
	}
	if err == nil || !strings.Contains(err.Error(), "deep.toml: line 4, column 325: nested deeper than 64") {
		t.Errorf("10,000-deep inline table: %v", err)
	}
	big := filepath.Join(dir, "big.toml")
	if err := os.WriteFile(big, []byte("# "+strings.Repeat("x", 2000)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := connectors.LoadFileLimit(big, 1000); err == nil || !strings.Contains(err.Error(), "file too large") {
		t.Errorf("a file over the limit: %v", err)
	}
	if _, err := connectors.LoadFile("/dev/zero"); err == nil || !strings.Contains(err.Error(), "file too large") {
		t.Errorf("/dev/zero: %v", err)
	}
}
