package httpapi

import (
	"bufio"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"

	"github.com/flagstream/flagstream/internal/config"
)

// Scope is what a token may do.
type Scope string

// The scopes of DESIGN.md. admin implies every other scope.
const (
	ScopeAdmin    Scope = "admin"
	ScopeEvaluate Scope = "evaluate"
	ScopeIngest   Scope = "ingest"
	ScopeRead     Scope = "read"
)

var knownScopes = map[Scope]bool{ScopeAdmin: true, ScopeEvaluate: true, ScopeIngest: true, ScopeRead: true}

type tokenEntry struct {
	hash  [sha256.Size]byte
	scope Scope
	mac   []byte // the token's URL-signing key (MACKey)
}

// macKeyDomain separates the URL-signing keys from the stored hashes and
// from any other use of a token.
const macKeyDomain = "flagstream signed url v1\x00"

// MACKey derives a token's key for signing URLs that cannot carry an
// Authorization header (an OFREP event stream opened by a browser's
// EventSource): the URL holds a MAC made with it, never the token, and any
// instance reading the same tokens file can verify it (MACKeys).
func MACKey(token string) []byte {
	k := sha256.Sum256([]byte(macKeyDomain + token))
	return k[:]
}

// MACKeys are the URL-signing keys of the tokens that have scope need (admin
// has every scope). Only derived keys are kept, as only hashes are.
func (t Tokens) MACKeys(need Scope) [][]byte {
	var keys [][]byte
	for _, e := range t.entries {
		if e.scope == need || e.scope == ScopeAdmin {
			keys = append(keys, e.mac)
		}
	}
	return keys
}

// Tokens is the set of accepted bearer tokens. The zero value (no tokens)
// admits everyone; a service then listens on loopback only (see CheckListen).
type Tokens struct {
	entries []tokenEntry
	// example describes the first token that is one of the committed
	// examples (deploy/tokens.example), "" when none is: CheckListen
	// refuses such a file beyond loopback.
	example string
}

// LoadTokens reads a tokens file: one `scope token` pair a line; blank lines
// and lines starting with # are ignored. A token may appear on several lines
// to hold several scopes. Errors name the line but never echo a token.
func LoadTokens(path string) (Tokens, error) {
	var t Tokens
	if path == "" {
		return t, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return t, fmt.Errorf("tokens file: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		fields := strings.Fields(text)
		if len(fields) != 2 {
			return Tokens{}, fmt.Errorf("tokens file %s line %d: want `scope token`, got %d fields", path, line, len(fields))
		}
		scope := Scope(fields[0])
		if !knownScopes[scope] {
			return Tokens{}, fmt.Errorf("tokens file %s line %d: unknown scope %q (admin, evaluate, ingest, read)", path, line, fields[0])
		}
		if len(fields[1]) < 16 {
			return Tokens{}, fmt.Errorf("tokens file %s line %d: token shorter than 16 characters", path, line)
		}
		if file, ok := config.ExampleSecret(fields[1]); ok && t.example == "" {
			t.example = fmt.Sprintf("tokens file %s line %d (scope %s) holds an example token, committed in %s", path, line, scope, file)
		}
		t.entries = append(t.entries, tokenEntry{hash: sha256.Sum256([]byte(fields[1])), scope: scope, mac: MACKey(fields[1])})
	}
	if err := sc.Err(); err != nil {
		return Tokens{}, fmt.Errorf("tokens file %s: %w", path, err)
	}
	if len(t.entries) == 0 {
		return Tokens{}, fmt.Errorf("tokens file %s holds no tokens", path)
	}
	return t, nil
}

// Enabled reports whether any token is configured.
func (t Tokens) Enabled() bool { return len(t.entries) > 0 }

// check returns nil, ErrUnauthorized or ErrForbidden. It compares the hash of
// the presented token with every entry in constant time and without stopping
// early, so timing reveals neither the token nor how much of it matched.
func (t Tokens) check(token string, need Scope) error {
	if !t.Enabled() {
		return nil
	}
	if token == "" {
		return ErrUnauthorized
	}
	h := sha256.Sum256([]byte(token))
	known, allowed := 0, 0
	for i := range t.entries {
		m := subtle.ConstantTimeCompare(h[:], t.entries[i].hash[:])
		known |= m
		if t.entries[i].scope == need || t.entries[i].scope == ScopeAdmin {
			allowed |= m
		}
	}
	switch {
	case known == 0:
		return ErrUnauthorized
	case allowed == 0:
		return ErrForbidden
	}
	return nil
}

// Require wraps next so it runs only for a bearer token with the scope.
func (t Tokens) Require(need Scope, next http.Handler) http.Handler {
	if !t.Enabled() {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := t.check(bearer(r), need); err != nil {
			WriteError(w, r, err)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// Check is the scope test for handlers with their own error shape (OFREP).
func (t Tokens) Check(r *http.Request, need Scope) error { return t.check(bearer(r), need) }

func bearer(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return r.Header.Get("X-API-Key") // OFREP's alternative scheme
}

// CheckListen refuses a non-loopback listen address when no tokens are
// configured (an open flag admin API must not face the network), or when a
// token is one of the committed examples (anyone can read those). Loopback
// stays allowed for both: the demo and the tests.
func CheckListen(addr string, t Tokens) error {
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return fmt.Errorf("http-addr %q: %w", addr, err)
	}
	if config.IsLoopback(addr) {
		return nil
	}
	if !t.Enabled() {
		return fmt.Errorf("refusing to listen on %q without a tokens file: every route would be open to the network; "+
			"set --tokens-file (FLAGSTREAM_TOKENS_FILE) or listen on 127.0.0.1", addr)
	}
	if t.example != "" {
		return fmt.Errorf("refusing to listen on %q: %s; replace it with a token of your own "+
			"(e.g. `openssl rand -hex 32`), or listen on 127.0.0.1", addr, t.example)
	}
	return nil
}

// LoadAndCheck loads the tokens file (if any) and refuses a listen address
// that CheckListen refuses: what every service does before it listens.
func LoadAndCheck(tokensFile, addr string) (Tokens, error) {
	t, err := LoadTokens(tokensFile)
	if err != nil {
		return t, err
	}
	return t, CheckListen(addr, t)
}
