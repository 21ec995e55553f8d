package main

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// Pages on the listed origins may call the evaluation routes from a browser
// (preflight answered, origin echoed, ETag readable); other origins, and the
// admin API from any origin, get no CORS headers, so the browser blocks them.
func TestCORS(t *testing.T) {
	c, err := parseCORSOrigins("https://shop.example.com, http://localhost:3000")
	if err != nil {
		t.Fatal(err)
	}
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) })
	h := c.wrap(inner)
	do := func(method, path, origin string, preflight bool) *httptest.ResponseRecorder {
		r := httptest.NewRequest(method, path, nil)
		if origin != "" {
			r.Header.Set("Origin", origin)
		}
		if preflight {
			r.Header.Set("Access-Control-Request-Method", "POST")
			r.Header.Set("Access-Control-Request-Headers", "authorization, content-type")
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	for _, path := range []string{"/ofrep/v1/evaluate/flags", "/ofrep/v1/event-stream", "/v1/exposures", "/v1/track", "/v1/evaluate"} {
		pre := do(http.MethodOptions, path, "https://shop.example.com", true)
		if pre.Code != http.StatusNoContent || pre.Header().Get("Access-Control-Allow-Origin") != "https://shop.example.com" ||
			pre.Header().Get("Access-Control-Allow-Headers") == "" {
			t.Errorf("preflight %s: %d %v", path, pre.Code, pre.Header())
		}
		got := do(http.MethodPost, path, "http://localhost:3000", false)
		if got.Code != http.StatusTeapot || got.Header().Get("Access-Control-Allow-Origin") != "http://localhost:3000" ||
			got.Header().Get("Access-Control-Expose-Headers") == "" || got.Header().Get("Vary") != "Origin" {
			t.Errorf("POST %s from an allowed origin: %d %v", path, got.Code, got.Header())
		}
	}
	for _, tc := range []struct{ method, path, origin string }{
		{http.MethodPost, "/ofrep/v1/evaluate/flags", "https://evil.example.com"}, // not listed
		{http.MethodPut, "/v1/flags/x", "https://shop.example.com"},               // admin: never cross-origin
		{http.MethodOptions, "/v1/flags/x", "https://shop.example.com"},
		{http.MethodPost, "/ofrep/v1/evaluate/flags", ""}, // same origin: nothing to add
	} {
		if got := do(tc.method, tc.path, tc.origin, tc.method == http.MethodOptions); got.Header().Get("Access-Control-Allow-Origin") != "" || got.Code != http.StatusTeapot {
			t.Errorf("%s %s from %q: %d %v, want no CORS headers and the route's own answer", tc.method, tc.path, tc.origin, got.Code, got.Header())
		}
	}
	for _, bad := range []string{"shop.example.com", "https://shop.example.com/path", "ftp://x", "https://x?y=1"} {
		if _, err := parseCORSOrigins(bad); err == nil {
			t.Errorf("cors-origins %q accepted", bad)
		}
	}
	if all, _ := parseCORSOrigins("*"); !all.allows("https://anything.example") || all.allows("") {
		t.Error("* must allow every origin, and a request without one needs nothing")
	}
}
