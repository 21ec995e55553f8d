// Package httpapitest reads the answers of httpapi's handlers in handler
// tests: JSON decoded into the concrete type the contract names, refusing
// fields it does not have, and the error shape of DESIGN.md.
package httpapitest

import (
	"bytes"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/flagstream/flagstream/internal/httpapi"
)

// Decode checks the JSON content type and decodes the body into T, refusing
// fields T does not have: the shape is the contract. It leaves the body to
// be read again.
func Decode[T any](t testing.TB, w *httptest.ResponseRecorder) T {
	t.Helper()
	var v T
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type %q, want application/json; body %s", ct, w.Body)
	}
	dec := json.NewDecoder(bytes.NewReader(w.Body.Bytes()))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("body %s does not decode into %T: %v", w.Body, v, err)
	}
	return v
}

// DecodeAnswer is Decode of an answer that must have the status.
func DecodeAnswer[T any](t testing.TB, w *httptest.ResponseRecorder, status int) T {
	t.Helper()
	if w.Code != status {
		t.Fatalf("status %d, want %d; body %s", w.Code, status, w.Body)
	}
	return Decode[T](t, w)
}

// CheckError checks an answer in the error shape of DESIGN.md: the status,
// the error code, and a message naming each of messageHas.
func CheckError(t testing.TB, w *httptest.ResponseRecorder, status int, code string, messageHas ...string) httpapi.ErrorBody {
	t.Helper()
	e := DecodeAnswer[httpapi.ErrorBody](t, w, status)
	if e.Error != code {
		t.Errorf("error %q, want %q; body %s", e.Error, code, w.Body)
	}
	for _, part := range messageHas {
		if !strings.Contains(e.Message, part) {
			t.Errorf("message %q does not name %q", e.Message, part)
		}
	}
	return e
}
