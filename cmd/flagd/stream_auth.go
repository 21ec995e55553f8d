package main

import (
	"bufio"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"net/http"
	"os"
	"strings"
)

// Event stream credentials. EventSource cannot send an Authorization header,
// so the stream URL carries sig = HMAC-SHA256(key(token), context) made with
// the bearer token of the bulk request that handed the URL out. It is not the
// token (a leaked URL opens one context's change notices, nothing else), it is
// deterministic (the bulk body, whose hash is the ETag, stays the same across
// fetches), and any flagd reading the same tokens file verifies it by trying
// its evaluate and admin tokens: no shared state between instances.

// streamKeyDomain separates these MAC keys from any other use of a token.
const streamKeyDomain = "flagstream ofrep event stream v1\x00"

// streamKey derives the MAC key of a token; only derived keys are kept in
// memory, as httpapi keeps only token hashes.
func streamKey(token string) []byte {
	k := sha256.Sum256([]byte(streamKeyDomain + token))
	return k[:]
}

func streamSign(key []byte, ctx string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(ctx))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// streamVerify reports whether sig was made for ctx by one of keys. It
// computes every MAC and compares in constant time without stopping early, so
// timing tells nothing about which token (if any) matched.
func streamVerify(keys [][]byte, ctx, sig string) bool {
	ok := 0
	for _, k := range keys {
		ok |= subtle.ConstantTimeCompare([]byte(streamSign(k, ctx)), []byte(sig))
	}
	return ok == 1
}

// requestToken is the token the request authenticated with, read as
// httpapi's bearer does (Authorization: Bearer, or OFREP's X-API-Key).
func requestToken(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return r.Header.Get("X-API-Key")
}

// loadStreamKeys derives the MAC keys of the tokens file's evaluate and admin
// tokens (admin implies evaluate). httpapi.LoadTokens has validated the file
// already; this reads it again because httpapi keeps only hashes it does not
// export. Errors never echo a token.
func loadStreamKeys(path string) ([][]byte, error) {
	if path == "" {
		return nil, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("tokens file: %w", err)
	}
	defer f.Close()
	var keys [][]byte
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) != 2 || strings.HasPrefix(fields[0], "#") {
			continue
		}
		if fields[0] == "evaluate" || fields[0] == "admin" {
			keys = append(keys, streamKey(fields[1]))
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("tokens file %s: %w", path, err)
	}
	return keys, nil
}
