package ofhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Options configure a [Hook] and a [Tracker]. Only URL is required.
type Options struct {
	// URL is flagd's base URL, the one given to the OFREP provider
	// (e.g. "http://flagd:8080").
	URL string
	// Token is a bearer token with the evaluate scope (the OFREP
	// provider's); empty sends no Authorization header.
	Token string
	// HTTPClient sends the requests; nil is a client with a 10 s timeout.
	HTTPClient *http.Client
	// BatchSize is the most exposures one request carries (default 100).
	BatchSize int
	// FlushInterval is the longest a queued exposure waits for its batch
	// to fill (default 1 s).
	FlushInterval time.Duration
	// QueueSize is how many exposures wait to be sent (default 10,000);
	// past that, exposures are dropped and counted rather than slowing
	// evaluation down.
	QueueSize int
	// MaxAttempts is how often one request is tried when flagd is
	// unreachable, answers 429 or 5xx, or (exposures) reports its
	// buffer full (default 3; 1 never retries).
	MaxAttempts int
	// OnError, when set, learns of exposures and tracking events that
	// were not delivered. The hook calls it from its sending goroutine,
	// the tracker from the goroutine that called Track.
	OnError func(error)
}

const (
	defaultBatchSize     = 100
	defaultFlushInterval = time.Second
	defaultQueueSize     = 10_000
	defaultMaxAttempts   = 3
	// maxBody is flagd's limit for a POST /v1/exposures body.
	maxBody = 256 << 10
	// maxRetryWait caps a Retry-After from flagd, so that a misconfigured
	// proxy cannot park the sender (or a Track call) for an hour.
	maxRetryWait = 5 * time.Second
)

// ErrInvalid is wrapped by every error about bad options or bad input.
var ErrInvalid = errors.New("invalid")

// errBadAnswer: flagd accepted the request (202) with a body that is not
// the answer this package expects.
var errBadAnswer = errors.New("202 answer is not the expected JSON")

// ErrClosed is returned by [Hook.Flush] after [Hook.Close].
var ErrClosed = errors.New("ofhook: hook closed")

// FieldError names what was wrong: an option or a field of the input.
type FieldError struct{ Field, Reason string }

func (e *FieldError) Error() string { return e.Field + ": " + e.Reason }
func (e *FieldError) Unwrap() error { return ErrInvalid }

// HTTPError is an answer from flagd that was not the expected 202.
type HTTPError struct {
	Route   string // e.g. "POST /v1/exposures"
	Status  int
	Message string // flagd's error message, or the start of the body
}

func (e *HTTPError) Error() string {
	return fmt.Sprintf("%s: %d %s", e.Route, e.Status, e.Message)
}

// transient reports whether the same request may succeed later: flagd is
// overloaded (429), away or failing (5xx). Anything else in 4xx is the
// request's fault and fails the same way every time.
func (e *HTTPError) transient() bool {
	return e.Status == http.StatusTooManyRequests || e.Status >= 500
}

// sender posts JSON to flagd with the options' credentials and retry policy.
type sender struct {
	base        *url.URL
	token       string
	client      *http.Client
	maxAttempts int
	onError     func(error)
}

func (o Options) withDefaults() (Options, *sender, error) {
	if o.URL == "" {
		return o, nil, &FieldError{"URL", "flagd's base URL is required"}
	}
	u, err := url.Parse(o.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return o, nil, &FieldError{"URL", fmt.Sprintf("%q is not an http(s) URL", o.URL)}
	}
	for _, c := range []struct {
		name string
		v    int64
	}{{"BatchSize", int64(o.BatchSize)}, {"FlushInterval", int64(o.FlushInterval)}, {"QueueSize", int64(o.QueueSize)}, {"MaxAttempts", int64(o.MaxAttempts)}} {
		if c.v < 0 {
			return o, nil, &FieldError{c.name, "must not be negative (0 is the default)"}
		}
	}
	if o.Token != strings.TrimSpace(o.Token) || strings.ContainsAny(o.Token, "\r\n") {
		return o, nil, &FieldError{"Token", "has spaces or line breaks around or in it"}
	}
	if o.BatchSize == 0 {
		o.BatchSize = defaultBatchSize
	}
	if o.FlushInterval == 0 {
		o.FlushInterval = defaultFlushInterval
	}
	if o.QueueSize == 0 {
		o.QueueSize = defaultQueueSize
	}
	if o.MaxAttempts == 0 {
		o.MaxAttempts = defaultMaxAttempts
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if o.OnError == nil {
		o.OnError = func(error) {}
	}
	return o, &sender{base: u, token: o.Token, client: o.HTTPClient, maxAttempts: o.MaxAttempts, onError: o.OnError}, nil
}

// post sends body to path once and decodes a 202's body into out. The
// returned wait is flagd's Retry-After (0 when absent).
func (s *sender) post(ctx context.Context, path string, body []byte, out any) (wait time.Duration, err error) {
	route := "POST " + path
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.base.JoinPath(path).String(), bytes.NewReader(body))
	if err != nil {
		return 0, fmt.Errorf("%s: %w", route, err)
	}
	req.Header.Set("Content-Type", "application/json")
	if s.token != "" {
		req.Header.Set("Authorization", "Bearer "+s.token)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", route, err)
	}
	defer resp.Body.Close()
	// flagd's answers are small; a large body is not flagd's, and reading
	// all of it would only cost memory.
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return 0, fmt.Errorf("%s: reading the answer: %w", route, err)
	}
	if resp.StatusCode != http.StatusAccepted {
		var e struct {
			Message string `json:"message"`
		}
		msg := strings.TrimSpace(string(data[:min(len(data), 200)]))
		if json.Unmarshal(data, &e) == nil && e.Message != "" {
			msg = e.Message
		}
		return retryAfter(resp.Header.Get("Retry-After")), &HTTPError{Route: route, Status: resp.StatusCode, Message: msg}
	}
	if err := json.Unmarshal(data, out); err != nil {
		return 0, fmt.Errorf("%s: %w: %w", route, errBadAnswer, err)
	}
	return 0, nil
}

// retryable reports whether an error from post may go away on its own.
func retryable(ctx context.Context, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	if he := (*HTTPError)(nil); errors.As(err, &he) {
		return he.transient()
	}
	// A 202 we cannot read was acted on: sending it again could publish
	// twice.
	if errors.Is(err, errBadAnswer) {
		return false
	}
	// A network error (connection refused, reset, timeout): flagd may be
	// restarting.
	return true
}

// retryAfter reads a Retry-After header given in seconds (flagd's form),
// capped at maxRetryWait.
func retryAfter(h string) time.Duration {
	n, err := strconv.Atoi(strings.TrimSpace(h))
	if err != nil || n <= 0 {
		return 0
	}
	return min(time.Duration(n)*time.Second, maxRetryWait)
}

// backoff is the wait before retry number n (1-based): 100 ms doubling to
// 2 s, or flagd's Retry-After when it gave one. (internal/retry has the
// services' backoff, up to 5 s: an app's exposures and conversions wait
// less.)
func backoff(n int, retryAfter time.Duration) time.Duration {
	if retryAfter > 0 {
		return retryAfter
	}
	return min(100*time.Millisecond<<min(n-1, 5), 2*time.Second)
}

// flatten is the evaluation context as OFREP sends it: the attributes plus
// the targeting key under "targetingKey" (what the OFREP provider sends, so
// flagd recomputes from the context the evaluation used).
func flatten(targetingKey string, attrs map[string]any) map[string]any {
	out := make(map[string]any, len(attrs)+1)
	for k, v := range attrs {
		out[k] = v
	}
	if targetingKey != "" {
		out["targetingKey"] = targetingKey
	}
	return out
}
