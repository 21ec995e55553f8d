package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"strings"
)

// Event stream credentials. EventSource cannot send an Authorization header,
// so the stream URL carries sig = HMAC-SHA256(httpapi.MACKey(token), context)
// made with the bearer token of the bulk request that handed the URL out. It is not the
// token (a leaked URL opens one context's change notices, nothing else), it is
// deterministic (the bulk body, whose hash is the ETag, stays the same across
// fetches), and any flagd reading the same tokens file verifies it by trying
// its evaluate and admin tokens' keys (httpapi.Tokens.MACKeys): no shared
// state between instances.

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
