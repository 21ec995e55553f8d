package httpapi_test

import (
	"bytes"
	"crypto/sha256"
	"os"
	"path/filepath"
	"testing"

	"github.com/flagstream/flagstream/internal/httpapi"
)

// MACKeys are the signing keys of the tokens with the scope (admin has them
// all), derived apart from the token and from its stored hash.
func TestMACKeys(t *testing.T) {
	const eval, read, admin = "evaluate-token-0123456789", "read-token-0123456789", "admin-token-0123456789"
	path := filepath.Join(t.TempDir(), "tokens")
	if err := os.WriteFile(path, []byte("evaluate "+eval+"\nread "+read+"\nadmin "+admin+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tokens, err := httpapi.LoadTokens(path)
	if err != nil {
		t.Fatal(err)
	}
	keys := tokens.MACKeys(httpapi.ScopeEvaluate)
	if len(keys) != 2 || !bytes.Equal(keys[0], httpapi.MACKey(eval)) || !bytes.Equal(keys[1], httpapi.MACKey(admin)) {
		t.Errorf("evaluate keys %x, want the evaluate and the admin token's", keys)
	}
	h := sha256.Sum256([]byte(eval))
	if bytes.Equal(httpapi.MACKey(eval), h[:]) || bytes.Equal(httpapi.MACKey(eval), httpapi.MACKey(read)) {
		t.Error("a MAC key must differ from the token's hash and from other tokens' keys")
	}
	if keys := (httpapi.Tokens{}).MACKeys(httpapi.ScopeEvaluate); len(keys) != 0 {
		t.Errorf("no tokens: %d keys", len(keys))
	}
}
