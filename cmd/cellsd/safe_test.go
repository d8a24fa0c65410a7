package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestServe_RefusesExposure: without --nats-config the embedded server
// stays on loopback, and HTTP off loopback needs --auth-token: each
// refusal exits 2 saying why, before anything listens.
func TestServe_RefusesExposure(t *testing.T) {
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"NATSListen", []string{"--nats-listen", "0.0.0.0:0"}, "--nats-listen 0.0.0.0 is not a loopback address: without --nats-config"},
		{"NATSWebsocket", []string{"--nats-listen", "127.0.0.1:0", "--nats-websocket", "0.0.0.0:0"}, "--nats-websocket 0.0.0.0 is not a loopback address"},
		{"HTTPNoToken", []string{"--nats-listen", "127.0.0.1:0", "--http", "0.0.0.0:0"}, "--http 0.0.0.0:0 is not a loopback address and there is no --auth-token"},
		{"ConfigWithNATS", []string{"--nats", "nats://127.0.0.1:1", "--nats-config", "../../fixtures/nats-team.conf"}, "--nats-config configures the embedded NATS server"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, _, stderr := cellsd(t, append([]string{"serve", "--data", t.TempDir(), "--http", "127.0.0.1:0"}, c.args...)...)
			if code != exitUsage || !strings.Contains(stderr, c.want) {
				t.Errorf("exit %d, stderr:\n%s\nwant exit %d saying %q", code, stderr, exitUsage, c.want)
			}
		})
	}
}

// TestRun_Sandbox: cellsd run reads any file unless --sandbox.
func TestRun_Sandbox(t *testing.T) {
	dir := t.TempDir()
	csv := filepath.Join(dir, "d.csv")
	if err := os.WriteFile(csv, []byte("x\n1\n2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	nb := filepath.Join(t.TempDir(), "nb.json")
	os.WriteFile(nb, []byte(`{"data":{"c":{"id":"c","type":"sql","data":{"title":"c","sql":"SELECT * FROM read_csv('`+csv+`')","resultName":"c"}}},
		"artifacts":{"a":{"id":"a","schemaName":"artifact_a","cellIds":["c"],"edges":[]}}}`), 0o644)
	if code, _, stderr := cellsd(t, "run", nb); code != exitOK {
		t.Errorf("unsandboxed: exit %d\n%s", code, stderr)
	}
	if code, _, stderr := cellsd(t, "run", nb, "--sandbox"); code != exitFailed || !strings.Contains(stderr, "Permission Error") {
		t.Errorf("--sandbox: exit %d\n%s\nwant the cell refused", code, stderr)
	}
	if code, _, stderr := cellsd(t, "run", nb, "--sandbox", "--allow-dir", dir); code != exitOK {
		t.Errorf("--sandbox --allow-dir: exit %d\n%s", code, stderr)
	}
}
