package httpapi

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func gzipped(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// readBody reads a request's body through Body and maps the error as a
// handler would.
func readBody(t *testing.T, encoding string, body []byte, limit int64) (string, int) {
	t.Helper()
	r := httptest.NewRequest("POST", "/", bytes.NewReader(body))
	if encoding != "" {
		r.Header.Set("Content-Encoding", encoding)
	}
	w := httptest.NewRecorder()
	rd, err := Body(w, r, limit)
	var got []byte
	if err == nil {
		got, err = io.ReadAll(rd)
	}
	if err != nil {
		status, _ := Status(err)
		return err.Error(), status
	}
	return string(got), http.StatusOK
}

func TestBody(t *testing.T) {
	plain := []byte(strings.Repeat(`{"type":"exposure"}`+"\n", 50))
	bomb := gzipped(t, bytes.Repeat([]byte{' '}, 1<<20)) // 1 MiB of spaces in about 1 KiB
	for _, tc := range []struct {
		name, encoding string
		body           []byte
		limit          int64
		status         int
		want           string
	}{
		{"plain", "", plain, 4096, 200, string(plain)},
		{"identity", "identity", plain, 4096, 200, string(plain)},
		{"gzip", "gzip", gzipped(t, plain), 4096, 200, string(plain)},
		{"gzip exactly at the limit", "GZIP", gzipped(t, plain), int64(len(plain)), 200, string(plain)},
		{"gzip one byte over the limit inflated", "gzip", gzipped(t, plain), int64(len(plain)) - 1, 413, "too large"},
		{"gzip bomb", "gzip", bomb, 64 << 10, 413, "too large"},
		{"plain over the limit", "", plain, 100, 413, "too large"},
		{"not gzip", "gzip", plain, 4096, 400, "not gzip"},
		{"corrupt gzip", "gzip", gzipped(t, plain)[:40], 4096, 400, "corrupt"},
		{"brotli", "br", plain, 4096, 415, `Content-Encoding "br"`},
	} {
		got, status := readBody(t, tc.encoding, tc.body, tc.limit)
		if status != tc.status || !strings.Contains(got, tc.want) {
			t.Errorf("%s: status %d, %.80q; want %d with %q", tc.name, status, got, tc.status, tc.want)
		}
	}
}

func TestUnsupportedEncodingStatus(t *testing.T) {
	if status, code := Status(ErrUnsupportedEncoding); status != http.StatusUnsupportedMediaType || code != "unsupported_encoding" {
		t.Errorf("Status = %d %s", status, code)
	}
}
