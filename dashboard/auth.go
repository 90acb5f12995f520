package dashboard

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/sitetwin/sitetwin/twin"
)

// Role is what a token may see.
type Role string

// Roles.
const (
	// RoleRegulator sees everything.
	RoleRegulator Role = "regulator"
	// RoleContractor sees the projects where its unit is a party (owner,
	// contractor or supervisor), in full, and nothing of the others.
	RoleContractor Role = "contractor"
	// RolePublic sees of every project its name, district, type, status,
	// filing and progress, and disturbance (dust and noise) only: no funds,
	// no hazards, no people or firms.
	RolePublic Role = "public"
)

// Principal is who made a request: a role and, for a contractor, its unit.
type Principal struct {
	Role Role   `json:"role"`
	Unit string `json:"unit,omitempty"`
}

// sees reports whether p may see the project in full (regulator, or a
// contractor whose unit is a party).
func (p Principal) sees(info *twin.ProjectInfo) bool {
	switch p.Role {
	case RoleRegulator:
		return true
	case RoleContractor:
		return p.Unit != "" && (info.Contractor == p.Unit || info.Owner == p.Unit || info.Supervisor == p.Unit)
	}
	return false
}

// Tokens maps bearer tokens to principals. Build it with ParseTokens.
type Tokens struct {
	byHash map[[32]byte]Principal
}

// TokenError is a bad line of a tokens file.
type TokenError struct {
	Line int    // 1-based line number
	Msg  string // what is wrong with it
}

// Error says which line is bad and why.
func (e *TokenError) Error() string { return fmt.Sprintf("tokens line %d: %s", e.Line, e.Msg) }

// MinTokenLength is the shortest token ParseTokens accepts.
const MinTokenLength = 16

// ParseTokens reads a tokens file: one token per line, `TOKEN ROLE [UNIT]`,
// ROLE one of regulator, contractor (UNIT required: the party id it acts
// for, as in project.registered) or public; blank lines and lines starting
// with # are ignored. A token is at least MinTokenLength characters of
// letters, digits and . _ ~ - (so that a browser can carry it in the
// websocket subprotocol). It returns a *TokenError naming the first bad
// line.
func ParseTokens(b []byte) (*Tokens, error) {
	t := &Tokens{byHash: map[[32]byte]Principal{}}
	sc := bufio.NewScanner(bytes.NewReader(b))
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 2 || len(f) > 3 {
			return nil, &TokenError{n, "want TOKEN ROLE [UNIT]"}
		}
		if msg := checkToken(f[0]); msg != "" {
			return nil, &TokenError{n, msg}
		}
		p := Principal{Role: Role(f[1])}
		switch p.Role {
		case RoleContractor:
			if len(f) != 3 {
				return nil, &TokenError{n, "a contractor token needs the UNIT it acts for"}
			}
			p.Unit = f[2]
		case RoleRegulator, RolePublic:
			if len(f) == 3 {
				return nil, &TokenError{n, fmt.Sprintf("a %s token takes no unit", p.Role)}
			}
		default:
			return nil, &TokenError{n, fmt.Sprintf("role %q: must be regulator, contractor or public", f[1])}
		}
		h := sha256.Sum256([]byte(f[0]))
		if _, dup := t.byHash[h]; dup {
			return nil, &TokenError{n, "the same token appears twice"}
		}
		t.byHash[h] = p
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read tokens: %w", err)
	}
	if len(t.byHash) == 0 {
		return nil, &TokenError{n, "no tokens"}
	}
	return t, nil
}

func checkToken(tok string) string {
	if len(tok) < MinTokenLength {
		return fmt.Sprintf("token is shorter than %d characters", MinTokenLength)
	}
	for _, r := range tok {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("._~-", r)) {
			return fmt.Sprintf("token contains %q: use letters, digits and . _ ~ - only", r)
		}
	}
	return ""
}

// Len returns the number of tokens.
func (t *Tokens) Len() int { return len(t.byHash) }

// lookup returns the principal of a token. The token is hashed first, so
// the map lookup does not time the token's bytes.
func (t *Tokens) lookup(tok string) (Principal, bool) {
	p, ok := t.byHash[sha256.Sum256([]byte(tok))]
	return p, ok
}

// Websocket subprotocols: browsers cannot set an Authorization header on a
// websocket, so a page offers [WSProtocol, "bearer." + token] instead; the
// server answers with WSProtocol.
const (
	WSProtocol     = "sitetwin.v1"
	wsBearerPrefix = "bearer."
)

type principalKey struct{}

// principalOf returns the principal the auth middleware put in the context.
func principalOf(ctx context.Context) Principal {
	p, _ := ctx.Value(principalKey{}).(Principal)
	return p
}

// authenticate finds the principal of a request: everyone is a regulator
// when the server is open; otherwise the bearer token of the Authorization
// header or, on a websocket handshake, of the subprotocol.
func (s *Server) authenticate(r *http.Request) (Principal, int, string) {
	if s.cfg.Open {
		return Principal{Role: RoleRegulator}, 0, ""
	}
	var tok string
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, rest, _ := strings.Cut(h, " ")
		if !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(rest) == "" {
			return Principal{}, http.StatusUnauthorized, "the Authorization header must be `Bearer TOKEN`"
		}
		tok = strings.TrimSpace(rest)
	} else {
		for _, proto := range wsProtocols(r) {
			if t, ok := strings.CutPrefix(proto, wsBearerPrefix); ok {
				tok = t
			}
		}
	}
	if tok == "" {
		return Principal{}, http.StatusUnauthorized, "authentication required: send `Authorization: Bearer TOKEN` (tokens come from the --tokens file)"
	}
	p, ok := s.cfg.Tokens.lookup(tok)
	if !ok {
		return Principal{}, http.StatusUnauthorized, "unknown token"
	}
	return p, 0, ""
}

func wsProtocols(r *http.Request) []string {
	var out []string
	for _, h := range r.Header.Values("Sec-WebSocket-Protocol") {
		for _, p := range strings.Split(h, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

// authed wraps a handler that needs one of the roles (any role when none
// are given).
func (s *Server) authed(h http.HandlerFunc, roles ...Role) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p, status, msg := s.authenticate(r)
		if status != 0 {
			s.rejected(w, r, "unauthorized")
			w.Header().Set("WWW-Authenticate", `Bearer realm="sitetwin"`)
			writeError(w, status, msg)
			return
		}
		if len(roles) > 0 && !slices.Contains(roles, p.Role) {
			s.rejected(w, r, "forbidden")
			writeError(w, http.StatusForbidden, fmt.Sprintf("a %s token may not use %s", p.Role, r.URL.Path))
			return
		}
		h(w, r.WithContext(context.WithValue(r.Context(), principalKey{}, p)))
	}
}
