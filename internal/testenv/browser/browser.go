// Package browser gives browser tests a tab of a headless Chromium of their
// own (chromedp), and what the page logged as errors.
package browser

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/flagstream/flagstream/internal/testenv"
)

// ChromiumVar names the Chromium binary for browser tests;
// `scripts/chromium.sh` installs the Debian package if needed and prints it.
const ChromiumVar = "FLAGSTREAM_TEST_CHROMIUM"

// Chromium returns the path of the Chromium binary browser tests drive. Like
// the services, it skips the test when the variable is unset outside `make
// test` and fails it when unset inside (FLAGSTREAM_TEST_NOSKIP). A variable
// naming no executable fails the test: that is a broken setup, not an absent
// one.
func Chromium(t testing.TB) string {
	t.Helper()
	name := testenv.Lookup(t, ChromiumVar)
	path, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s=%s: %v (scripts/chromium.sh installs and prints it)", ChromiumVar, name, err)
	}
	return path
}

// Options shape the tab Start opens.
type Options struct {
	// Within bounds the tab's life: its context ends then.
	Within time.Duration
	// Width and Height size the window; zero keeps Chromium's default.
	Width, Height int
	// LogErrors decides which error-level entries of the browser's log (a
	// CSP violation, a failed load, an HTTP error answer) count as the
	// page's errors; nil counts none, leaving exceptions and console.error.
	LogErrors func(*log.Entry) bool
}

// Tab is a page of a headless Chromium started for one test.
type Tab struct {
	t    testing.TB
	ctx  context.Context
	mu   sync.Mutex
	errs []string
}

// Start starts a headless Chromium (see Chromium) with a profile of its own
// and returns a tab's context, which ends after o.Within, and the tab, which
// collects the page's errors from the start. Browser and tab close when the
// test ends.
func Start(t testing.TB, o Options) (context.Context, *Tab) {
	t.Helper()
	execPath := Chromium(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(execPath),
		chromedp.Headless,
		chromedp.NoSandbox, // tests run as root, where Chromium's sandbox refuses to start
		chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()),
	)
	if o.Width > 0 && o.Height > 0 {
		opts = append(opts, chromedp.WindowSize(o.Width, o.Height))
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, o.Within)
	t.Cleanup(func() {
		cancelTimeout()
		cancelTab()
		cancelAlloc()
	})
	if err := chromedp.Do(ctx); err != nil { // start the browser now, and fail clearly if it cannot
		t.Fatalf("start chromium %s: %v", execPath, err)
	}
	tab := &Tab{t: t, ctx: ctx}
	if err := chromedp.Listen(ctx, func(ev any) { tab.record(ev, o.LogErrors) }); err != nil {
		t.Fatal(err)
	}
	return ctx, tab
}

// record keeps an event that reports an error of the page.
func (tab *Tab) record(ev any, logErrors func(*log.Entry) bool) {
	tab.mu.Lock()
	defer tab.mu.Unlock()
	switch ev := ev.(type) {
	case *runtime.EventExceptionThrown:
		d := ev.ExceptionDetails.Text
		if ev.ExceptionDetails.Exception != nil {
			d += " " + ev.ExceptionDetails.Exception.Description
		}
		tab.errs = append(tab.errs, "exception: "+d)
	case *runtime.EventConsoleAPICalled:
		if ev.Type == runtime.ConsoleAPICalledTypeError {
			var parts []string
			for _, a := range ev.Args {
				parts = append(parts, string(a.Value))
			}
			tab.errs = append(tab.errs, "console.error: "+strings.Join(parts, " "))
		}
	case *log.EventEntryAdded:
		if ev.Entry.Level == log.EntryLevelError && logErrors != nil && logErrors(ev.Entry) {
			tab.errs = append(tab.errs, string(ev.Entry.Source)+": "+ev.Entry.Text+" "+ev.Entry.URL)
		}
	}
}

// Errors is what the page logged as errors so far: exceptions,
// console.error, and the log entries Options.LogErrors counts.
func (tab *Tab) Errors() []string {
	tab.mu.Lock()
	defer tab.mu.Unlock()
	return slices.Clone(tab.errs)
}

// Screenshot saves a full-page screenshot as name under .run/ at the
// repository's root, where it outlives the test for a person to look at, and
// returns its path.
func (tab *Tab) Screenshot(name string) string {
	tab.t.Helper()
	png, err := chromedp.Run(tab.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		tab.t.Fatalf("screenshot: %v", err)
	}
	root, err := testenv.ModuleRoot()
	if err != nil {
		tab.t.Fatal(err)
	}
	dir := filepath.Join(root, ".run")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		tab.t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		tab.t.Fatal(err)
	}
	return path
}
