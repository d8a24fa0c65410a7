package bridgeserver

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"io"
	"net/http"
	"strings"

	"github.com/cellsd/cellsd/connectors/bridge"
)

// Access is what a request may reach: every connection (All), or only
// the connections Only names.
type Access struct {
	All  bool
	Only []string // connection ids, when not All
}

// allows says whether a connection id is within reach.
func (a Access) allows(id string) bool {
	if a.All {
		return true
	}
	for _, o := range a.Only {
		if o == id {
			return true
		}
	}
	return false
}

// Authorizer decides what a request's bearer token ("" when it carries
// none) may reach; ok false refuses the request (401).
type Authorizer func(token string) (a Access, ok bool)

// TokenAuthorizer lets the requests carrying token reach everything and
// asks next (when not nil) about another bearer token; with an empty
// token, a request next does not know reaches everything too. The
// comparison takes the same time whatever the tokens hold (they are hashed
// first, so not even their lengths show).
func TokenAuthorizer(token string, next Authorizer) Authorizer {
	want := sha256.Sum256([]byte(token))
	return func(got string) (Access, bool) {
		sum := sha256.Sum256([]byte(got))
		if token != "" && subtle.ConstantTimeCompare(sum[:], want[:]) == 1 {
			return Access{All: true}, true
		}
		if next != nil && got != "" {
			if a, ok := next(got); ok {
				return a, true
			}
		}
		return Access{All: true}, token == ""
	}
}

// RequireToken passes on the requests that carry "Authorization: Bearer
// <token>" and answers the others 401 with a JSON {error}. An empty token
// checks nothing.
func RequireToken(token string, next http.Handler) http.Handler {
	if token == "" {
		return next
	}
	return RequireAuth(TokenAuthorizer(token, nil), next)
}

// RequireAuth asks auth about every request's bearer token: a refused
// one is answered 401; one that may reach only some connections is
// answered 403 for anything but a request naming one of them in its
// connectionId (so: no ad hoc test-connection, no list-connections;
// cancel-query, which names a query, passes).
func RequireAuth(auth Authorizer, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		a, ok := auth(got)
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="cellsd"`)
			writeJSON(w, http.StatusUnauthorized, bridge.ErrorResponse{Error: "missing or wrong bearer token"})
			return
		}
		if !a.All {
			if err := scoped(r, a); err != "" {
				writeJSON(w, http.StatusForbidden, bridge.ErrorResponse{Error: err})
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// scoped says why a request with a limited Access is refused, or "". It
// reads the body (at most the bridge's own limit) and puts it back.
func scoped(r *http.Request, a Access) string {
	name, ok := strings.CutPrefix(r.URL.Path, "/api/db/")
	if !ok {
		return "this token reaches the bridge's session connection only"
	}
	if name == "cancel-query" {
		return ""
	}
	if r.Method != http.MethodPost || r.Body == nil {
		return "this token may not " + name
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, DefaultMaxBody+1))
	r.Body.Close()
	if err != nil {
		return "read body: " + err.Error()
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	var req struct {
		ConnectionID string `json:"connectionId"`
	}
	json.Unmarshal(body, &req) // malformed: the handler says so, if allowed
	if !a.allows(req.ConnectionID) {
		return "this token may not reach connection " + quote(req.ConnectionID)
	}
	return ""
}

func quote(s string) string { b, _ := json.Marshal(s); return string(b) }
