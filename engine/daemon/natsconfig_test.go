package daemon_test

import (
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/cellsd/cellsd/engine/daemon"
	"github.com/cellsd/cellsd/engine/daemon/jobapi"
	"github.com/cellsd/cellsd/engine/natsbus"
)

// teamConfig is the README's "Running it for a team" config, on a free
// loopback port.
const teamConfig = "../../fixtures/nats-team.conf"

// TestNATSConfig runs the embedded server from a nats-server config file:
// its users get in with their own permissions, a client with no
// credentials is refused, and session tokens still work.
func TestNATSConfig(t *testing.T) {
	d := startDaemon(t, daemon.Config{NATSConfig: teamConfig})
	url := d.NATSURL()
	if _, err := nats.Connect(url, nats.Timeout(2*time.Second)); err == nil || !strings.Contains(strings.ToLower(err.Error()), "authorization violation") {
		t.Errorf("no credentials: %v, want an authorization violation", err)
	}
	if _, err := nats.Connect(url, nats.UserInfo("operator", "wrong")); err == nil {
		t.Errorf("a wrong password got in")
	}
	op, err := nats.Connect(url, nats.UserInfo("operator", "operator-secret"))
	if err != nil {
		t.Fatalf("operator: %v", err)
	}
	defer op.Close()
	id, _ := openWithToken(t, op)
	request(t, op, jobapi.SessionSubject(id, "status"), nil, nil)

	errs := &asyncErrs{}
	fe, err := nats.Connect(url, nats.UserInfo("frontend", "frontend-secret"), nats.ErrorHandler(errs.handler))
	if err != nil {
		t.Fatalf("frontend: %v", err)
	}
	defer fe.Close()
	var r struct{ SessionID, Token string }
	request(t, fe, "cellsd.v1.api.open", jobapi.OpenRequest{Notebook: notebookPath(quickstart)}, &r)
	fe.Publish(jobapi.SessionSubject(r.SessionID, "close"), nil)
	errs.waitFor(t, "Permissions Violation for Publish", jobapi.SessionSubject(r.SessionID, "close"))

	// The browser's connection: the session's token.
	browser, err := nats.Connect(url, nats.Token(r.Token), nats.CustomInboxPrefix(natsbus.InboxPrefix(r.SessionID)))
	if err != nil {
		t.Fatalf("session token under --nats-config: %v", err)
	}
	defer browser.Close()
	request(t, browser, jobapi.SessionSubject(r.SessionID, "status"), nil, nil)
}
