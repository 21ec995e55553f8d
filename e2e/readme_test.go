package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/flagstream/flagstream/internal/testenv/procs"
	"github.com/flagstream/flagstream/internal/testenv/streams"
	"github.com/flagstream/flagstream/pkg/events"
)

// sessionMarker precedes the README's curl session: the next ```sh block.
const sessionMarker = "<!-- readme-session -->"

// readmeSession returns the shell block that follows sessionMarker in
// README.md, so that the test runs exactly what a reader would paste.
func readmeSession(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(b), sessionMarker)
	if !ok {
		t.Fatalf("README.md has no %s marker before its curl session", sessionMarker)
	}
	_, block, ok := strings.Cut(after, "```sh\n")
	if !ok {
		t.Fatalf("README.md: no ```sh block after %s", sessionMarker)
	}
	block, _, ok = strings.Cut(block, "\n```")
	if !ok {
		t.Fatalf("README.md: the session's ```sh block is not closed")
	}
	return block
}

// The prelude wraps curl so that each answer is followed by a line giving its
// status, and makes every command that reads results (live counters, reports)
// first wait on the test's barrier: a reader typing the session is slower than
// the pipeline, a script is not. It changes nothing the session sends.
const sessionPrelude = `set -euo pipefail
barrier() { command curl -sSf "$README_BARRIER" >/dev/null; }
curl() {
  case "$*" in *"/live"*|*"/report"*) barrier ;; esac
  command curl -sS -w '\n@@status %{http_code}\n' "$@"
}
aggregate_cli() { barrier; "$README_AGGREGATE" "$@"; echo; echo "@@status cli"; }
`

// answer is one command's output in the session and its HTTP status ("cli"
// for the aggregate command).
type answer struct{ status, body string }

// The README's curl session, taken from README.md, run by bash against the
// real binaries: every command succeeds, the OFREP answer for user_789 is the
// variant flagd reports publishing for the exposure and the one native
// evaluation gives, ingest answers 202, and the live counters and both
// reports show the purchase in that variant.
func TestReadmeSession(t *testing.T) {
	env := stackEnv(t, nil)
	flagd := procs.StartProcess(t, procs.Build(t, "./cmd/flagd"), env)
	ingest := procs.StartProcess(t, procs.Build(t, "./cmd/ingest"), env)
	aggregate := procs.StartProcess(t, procs.Build(t, "./cmd/aggregate"), env, "serve")

	session := readmeSession(t)
	for _, r := range []struct{ from, to string }{
		{"localhost:8080", strings.TrimPrefix(flagd.URL, "http://")},
		{"localhost:8081", strings.TrimPrefix(ingest.URL, "http://")},
		{"localhost:8082", strings.TrimPrefix(aggregate.URL, "http://")},
		{"bin/aggregate ", "aggregate_cli "},
	} {
		if !strings.Contains(session, r.from) {
			t.Fatalf("the README's session no longer uses %q:\n%s", r.from, session)
		}
		session = strings.ReplaceAll(session, r.from, r.to)
	}

	out := &procs.Logs{}
	// The barrier: every exposure flagd said it published is in the raw
	// stream, and ingest and the aggregator have taken everything there is.
	barrier := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		published := float64(strings.Count(out.String(), `"status":"published"`))
		flagd.WaitMetric(t, "flagstream_flagd_exposures_published_total", 30*time.Second, func(v float64) bool { return v >= published })
		names := events.NewNames(env["FLAGSTREAM_NATS_NAMESPACE"])
		streams.WaitAcked(t, env["FLAGSTREAM_NATS_URL"], names.RawStream, events.RawConsumer, 30*time.Second)
		streams.WaitAcked(t, env["FLAGSTREAM_NATS_URL"], names.AnalyticsStream, events.AnalyticsConsumer, 30*time.Second)
	}))
	defer barrier.Close()

	cmd := exec.Command("bash", "-c", sessionPrelude+session)
	cmd.Env = os.Environ()
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Env = append(cmd.Env, "README_BARRIER="+barrier.URL, "README_AGGREGATE="+procs.Build(t, "./cmd/aggregate"))
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = out, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("the README's session failed: %v\nstderr:\n%s\nstdout:\n%s", err, stderr.String(), out.String())
	}
	t.Logf("the session's output:\n%s", out.String())

	var answers []answer
	body := ""
	for _, line := range strings.SplitAfter(out.String(), "\n") {
		if s, ok := strings.CutPrefix(line, "@@status "); ok {
			answers = append(answers, answer{status: strings.TrimSpace(s), body: strings.TrimSpace(body)})
			body = ""
			continue
		}
		body += line
	}
	for i, a := range answers {
		if a.status != "cli" && (a.status < "200" || a.status > "299") {
			t.Errorf("command %d answered %s: %s", i+1, a.status, a.body)
		}
	}
	find := func(what string, match func(answer) bool) answer {
		t.Helper()
		for _, a := range answers {
			if match(a) {
				return a
			}
		}
		t.Fatalf("the session has no %s; its answers: %+v", what, answers)
		return answer{}
	}

	// OFREP's answer for user_789 against flagd's own native evaluation.
	ofrep := find("OFREP evaluation", func(a answer) bool { return strings.Contains(a.body, `"reason":"SPLIT"`) })
	var of struct{ Key, Variant, Value string }
	if err := json.Unmarshal([]byte(ofrep.body), &of); err != nil {
		t.Fatalf("OFREP answer %q: %v", ofrep.body, err)
	}
	var native struct{ Variant string }
	r := flagd.Do(t, http.MethodPost, "/v1/evaluate", map[string]any{"flag": of.Key, "context": map[string]any{"user_id": "user_789", "plan": "pro"}})
	if r.Status != http.StatusOK || json.Unmarshal(r.Body, &native) != nil {
		t.Fatalf("POST /v1/evaluate: %d %s", r.Status, r.Body)
	}
	if of.Variant == "" || of.Variant != native.Variant || of.Value != of.Variant {
		t.Errorf("OFREP answered variant %q value %q for user_789; flagd's native evaluation says %q", of.Variant, of.Value, native.Variant)
	}
	exposed := find("exposure report", func(a answer) bool { return strings.Contains(a.body, `"results":[`) })
	if want := fmt.Sprintf(`"status":"published","variant":%q`, of.Variant); !strings.Contains(exposed.body, want) {
		t.Errorf("POST /v1/exposures answered %s, want %s for user_789", exposed.body, want)
	}
	sent := find("ingest answer", func(a answer) bool { return strings.Contains(a.body, `"accepted":`) })
	if sent.status != "202" || !strings.Contains(sent.body, `"accepted":1,"invalid":[]`) {
		t.Errorf("POST /v1/events answered %s %s, want 202 with one event accepted", sent.status, sent.body)
	}

	// The purchase of user_789 (99.99) is in its variant, live and reported.
	liveAns := find("live counters", func(a answer) bool { return strings.Contains(a.body, `"note":`) })
	var live struct {
		Results map[string]struct {
			Conversions map[string]struct {
				Count int
				Value float64
			}
		}
	}
	if err := json.Unmarshal([]byte(liveAns.body), &live); err != nil {
		t.Fatalf("live answer %q: %v", liveAns.body, err)
	}
	if p := live.Results[of.Variant].Conversions["purchase"]; p.Count != 1 || p.Value != 99.99 {
		t.Errorf("live counters for %s: purchase %+v, want 1 worth 99.99", of.Variant, p)
	}
	rep := find("JSON report", func(a answer) bool { return strings.Contains(a.body, `"metric":"purchase"`) })
	var report struct {
		Variants []struct {
			Variant     string
			Converters  int
			Conversions int
			ValueSum    float64 `json:"value_sum"`
		}
	}
	if err := json.Unmarshal([]byte(rep.body), &report); err != nil {
		t.Fatalf("report %q: %v", rep.body, err)
	}
	found := false
	for _, v := range report.Variants {
		if v.Variant == of.Variant {
			found = v.Conversions == 1 && v.Converters == 1 && v.ValueSum == 99.99
		}
	}
	if !found {
		t.Errorf("the report does not show user_789's purchase in %s: %s", of.Variant, rep.body)
	}
	table := find("report table", func(a answer) bool { return a.status == "cli" })
	row := regexp.MustCompile(`(?m)^\s*` + regexp.QuoteMeta(of.Variant) + `\s+1\s+1\s+1\s+99\.99\s`)
	if !row.MatchString(table.body) {
		t.Errorf("the CLI's table has no row \"%s 1 user, 1 converter, 1 conversion, 99.99\":\n%s", of.Variant, table.body)
	}
}
