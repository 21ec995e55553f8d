package browser

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/chromedp"
)

// faultyPage throws, calls console.error and loads two images that are not
// there (404s, which Chromium logs as network errors).
const faultyPage = `<!doctype html><title>faults</title>
<img src="/missing.png"><img src="/ignored.png">
<script>console.error("told", "twice"); throw new Error("thrown");</script>`

func serveFaultyPage(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(faultyPage))
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// waitErrors waits until the tab has collected an error containing each of
// want, and returns what it collected.
func waitErrors(t *testing.T, tab *Tab, want ...string) []string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		errs := tab.Errors()
		missing := slices.DeleteFunc(slices.Clone(want), func(w string) bool {
			return slices.ContainsFunc(errs, func(e string) bool { return strings.Contains(e, w) })
		})
		if len(missing) == 0 {
			return errs
		}
		if time.Now().After(deadline) {
			t.Fatalf("no page error with %q within 10 s; have %q", missing, errs)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Exceptions and console.error count as the page's errors.
func TestTabCollectsExceptionsAndConsoleErrors(t *testing.T) {
	url := serveFaultyPage(t)
	ctx, tab := Start(t, Options{Within: time.Minute})
	if err := chromedp.Do(ctx, chromedp.Navigate(url)); err != nil {
		t.Fatal(err)
	}
	waitErrors(t, tab, "exception: Uncaught", "thrown", `console.error: "told" "twice"`)
}

// Of the browser's error-level log entries, only those Options.LogErrors
// accepts count; the window has the size asked for.
func TestTabCountsLogEntriesLogErrorsAccepts(t *testing.T) {
	url := serveFaultyPage(t)
	var mu sync.Mutex
	var offered []string
	ctx, tab := Start(t, Options{Within: time.Minute, Width: 800, Height: 600, LogErrors: func(e *log.Entry) bool {
		mu.Lock()
		defer mu.Unlock()
		offered = append(offered, e.URL)
		return e.Source == log.EntrySourceNetwork && strings.HasSuffix(e.URL, "/missing.png")
	}})
	if err := chromedp.Do(ctx, chromedp.Navigate(url)); err != nil {
		t.Fatal(err)
	}
	errs := waitErrors(t, tab, "thrown", "network: ", "/missing.png")
	// Both 404s reached LogErrors before the check: the rejected one had its
	// chance to count.
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		seen := slices.ContainsFunc(offered, func(u string) bool { return strings.HasSuffix(u, "/ignored.png") })
		mu.Unlock()
		if seen {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the 404 of /ignored.png never reached LogErrors")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if errs = tab.Errors(); slices.ContainsFunc(errs, func(e string) bool { return strings.Contains(e, "ignored.png") }) {
		t.Errorf("an entry LogErrors rejected counted: %q", errs)
	}
	if width, err := chromedp.Run(ctx, chromedp.Evaluate[int](`window.innerWidth`)); err != nil || width != 800 {
		t.Errorf("window width %d, %v; want 800", width, err)
	}
}
