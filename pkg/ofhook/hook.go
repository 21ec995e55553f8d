package ofhook

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/open-feature/go-sdk/openfeature"

	"github.com/flagstream/flagstream/internal/retry"
)

// Hook is an OpenFeature hook that reports an exposure to flagd for every
// successful evaluation with a variant. Register it with
// openfeature.AddHooks (every client) or a client's AddHooks; it is safe
// for concurrent use. Close it at shutdown.
type Hook struct {
	openfeature.UnimplementedHook

	s             *sender
	batchSize     int
	flushInterval time.Duration

	// mu orders After's enqueue against Close: after Close has taken it,
	// nothing more enters the queue, so the final flush sees everything.
	mu     sync.RWMutex
	closed bool

	queue   chan exposure
	flushc  chan chan struct{}
	stop    chan struct{}
	done    chan struct{}
	sendCtx context.Context // canceled when Close gives up waiting
	cancel  context.CancelFunc
	once    sync.Once

	skipped, queued, queueFull                             atomic.Uint64
	published, notExposed, stale, notFound, dropped, fails atomic.Uint64
}

// Stats are a hook's counters since it was made. After Close, every queued
// exposure is in exactly one of Published, NotExposed, Stale, NotFound,
// Dropped and Failed.
type Stats struct {
	// Skipped: evaluations with a variant but no targetingKey; flagd
	// exposes nobody for those, so they are not sent.
	Skipped uint64
	// Queued: exposures accepted for sending.
	Queued uint64
	// QueueFull: exposures dropped because the queue was full or the hook
	// was closed.
	QueueFull uint64
	// flagd's answers, one per exposure sent.
	Published, NotExposed, Stale, NotFound uint64
	// Dropped: flagd's exposure buffer was full on every attempt.
	Dropped uint64
	// Failed: not delivered (flagd unreachable or refusing the request,
	// a context that cannot be encoded as JSON, Close's deadline).
	Failed uint64
}

// exposure is one evaluation waiting to be reported.
type exposure struct {
	key     string
	version *int64
	ec      openfeature.EvaluationContext
	// at is when the app evaluated (used) the flag: sent as the exposure's
	// ts, so that batching does not move an exposure after a conversion
	// the app tracked right after showing the variant.
	at time.Time
}

// NewHook starts a hook's sending goroutine.
func NewHook(o Options) (*Hook, error) {
	o, s, err := o.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("ofhook: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := &Hook{
		s: s, batchSize: o.BatchSize, flushInterval: o.FlushInterval,
		queue: make(chan exposure, o.QueueSize), flushc: make(chan chan struct{}),
		stop: make(chan struct{}), done: make(chan struct{}),
		sendCtx: ctx, cancel: cancel,
	}
	go h.run()
	return h, nil
}

// After queues an exposure when the evaluation put the user in a variant.
// It never blocks and never fails the evaluation.
func (h *Hook) After(_ context.Context, hc openfeature.HookContext, d openfeature.InterfaceEvaluationDetails, _ openfeature.HookHints) error {
	if d.Variant == "" {
		return nil // a flag without variants, or off: no exposure to report
	}
	ec := hc.EvaluationContext()
	if ec.TargetingKey() == "" {
		h.skipped.Add(1)
		return nil
	}
	e := exposure{key: hc.FlagKey(), ec: ec, at: time.Now()}
	if v, ok := version(d.FlagMetadata); ok {
		e.version = &v
	}
	h.mu.RLock()
	defer h.mu.RUnlock()
	if h.closed {
		h.queueFull.Add(1)
		return nil
	}
	select {
	case h.queue <- e:
		h.queued.Add(1)
	default:
		h.queueFull.Add(1)
	}
	return nil
}

// version reads the flag version flagd puts in an OFREP answer's metadata
// (a JSON number, so float64 after decoding). A missing or odd version is
// sent as none: flagd then skips its staleness check rather than refusing.
func version(md openfeature.FlagMetadata) (int64, bool) {
	switch v := md["version"].(type) {
	case float64:
		if v >= 0 && v == math.Trunc(v) && v <= 1<<53 {
			return int64(v), true
		}
	case int64:
		return v, v >= 0
	case int:
		return int64(v), v >= 0
	case json.Number:
		n, err := v.Int64()
		return n, err == nil && n >= 0
	}
	return 0, false
}

// Stats returns the counters.
func (h *Hook) Stats() Stats {
	return Stats{
		Skipped: h.skipped.Load(), Queued: h.queued.Load(), QueueFull: h.queueFull.Load(),
		Published: h.published.Load(), NotExposed: h.notExposed.Load(), Stale: h.stale.Load(),
		NotFound: h.notFound.Load(), Dropped: h.dropped.Load(), Failed: h.fails.Load(),
	}
}

// Flush sends every exposure queued before the call and returns once flagd
// answered for them (or they failed), or when ctx ends.
func (h *Hook) Flush(ctx context.Context) error {
	done := make(chan struct{})
	select {
	case h.flushc <- done:
	case <-h.done:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close stops taking exposures, sends what is queued and stops the sending
// goroutine. When ctx ends first, what was not sent is counted as Failed
// and Close returns ctx's error. Later calls return nil.
func (h *Hook) Close(ctx context.Context) error {
	var err error
	h.once.Do(func() {
		h.mu.Lock()
		h.closed = true
		h.mu.Unlock()
		err = h.Flush(ctx)
		h.cancel() // a send still under way gives up now
		close(h.stop)
		<-h.done
	})
	return err
}

// run is the sending goroutine: it batches the queue by size and age, and
// answers Flush.
func (h *Hook) run() {
	defer close(h.done)
	var batch []exposure
	// Stopped until the first exposure of a batch arrives (since Go 1.23
	// a stopped timer's channel holds no stale tick).
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	send := func() {
		timer.Stop()
		if len(batch) > 0 {
			h.send(batch)
			batch = nil
		}
	}
	add := func(e exposure) {
		batch = append(batch, e)
		if len(batch) == 1 {
			timer.Reset(h.flushInterval)
		}
		if len(batch) >= h.batchSize {
			send()
		}
	}
	for {
		select {
		case e := <-h.queue:
			add(e)
		case <-timer.C:
			send()
		case done := <-h.flushc:
			// What was queued before Flush was called is in the channel
			// now; take exactly that much, so a busy app cannot keep a
			// flush going forever.
			for n := len(h.queue); n > 0; n-- {
				add(<-h.queue)
			}
			send()
			close(done)
		case <-h.stop:
			send() // empty unless Close gave up: then it fails at once
			for n := len(h.queue); n > 0; n-- {
				<-h.queue
				h.fails.Add(1)
			}
			return
		}
	}
}

// exposureItem is one element of POST /v1/exposures.
type exposureItem struct {
	Context json.RawMessage `json:"context"`
	Flags   []exposureFlag  `json:"flags"`
}

type exposureFlag struct {
	Key     string `json:"key"`
	Version *int64 `json:"version,omitempty"`
	TS      string `json:"ts"`
	// ID is made once per exposure, when it is first encoded, and every
	// attempt resends the same bytes: a retry after a lost answer is
	// deduplicated downstream instead of counting twice.
	ID string `json:"id"`
}

type exposureResult struct {
	Key    string `json:"key"`
	Status string `json:"status"`
}

// send encodes a batch and posts it in bodies within flagd's size limit.
func (h *Hook) send(batch []exposure) {
	var chunk [][]byte
	size := 2 // the array's brackets
	for _, e := range batch {
		item, err := encodeExposure(e)
		if err != nil {
			h.fails.Add(1)
			h.s.onError(err)
			continue
		}
		if len(item)+2 > maxBody {
			h.fails.Add(1)
			h.s.onError(&FieldError{"context", fmt.Sprintf("exposure of %q: %d bytes encoded, more than flagd takes in one request (%d)", e.key, len(item), maxBody)})
			continue
		}
		if size+len(item)+1 > maxBody {
			h.post(chunk)
			chunk, size = nil, 2
		}
		chunk = append(chunk, item)
		size += len(item) + 1
	}
	if len(chunk) > 0 {
		h.post(chunk)
	}
}

func encodeExposure(e exposure) ([]byte, error) {
	ctx, err := json.Marshal(flatten(e.ec.TargetingKey(), e.ec.Attributes()))
	if err != nil {
		return nil, fmt.Errorf("ofhook: exposure of %q: %w", e.key, &FieldError{"context", "cannot be encoded as JSON: " + err.Error()})
	}
	return json.Marshal(exposureItem{Context: ctx, Flags: []exposureFlag{{Key: e.key, Version: e.version, TS: e.at.UTC().Format(time.RFC3339Nano), ID: ulid.Make().String()}}})
}

// post sends encoded exposures, retrying a transient failure and those
// flagd could not buffer, up to MaxAttempts in all.
func (h *Hook) post(items [][]byte) {
	ctx := h.sendCtx
	pending := items
	for attempt := 1; ; attempt++ {
		var ans struct {
			Results []exposureResult `json:"results"`
		}
		wait, err := h.s.post(ctx, "/v1/exposures", joinArray(pending), &ans)
		if err == nil && len(ans.Results) != len(pending) {
			// Which of them were published is unknown: a retry could
			// publish some twice, so count them failed.
			h.fails.Add(uint64(len(pending)))
			h.s.onError(fmt.Errorf("ofhook: POST /v1/exposures: %d results for %d exposures", len(ans.Results), len(pending)))
			return
		}
		if err == nil {
			var again [][]byte
			for i, r := range ans.Results {
				switch r.Status {
				case "published":
					h.published.Add(1)
				case "not_exposed":
					h.notExposed.Add(1)
				case "stale":
					h.stale.Add(1)
				case "not_found":
					h.notFound.Add(1)
				case "dropped":
					again = append(again, pending[i])
				default:
					h.fails.Add(1)
					h.s.onError(fmt.Errorf("ofhook: POST /v1/exposures: status %q for %q", r.Status, r.Key))
				}
			}
			if len(again) == 0 {
				return
			}
			pending = again
			if attempt >= h.s.maxAttempts || !retry.Sleep(ctx, backoff(attempt, 0)) {
				h.dropped.Add(uint64(len(pending)))
				h.s.onError(fmt.Errorf("ofhook: POST /v1/exposures: flagd dropped %d exposures (its buffer is full) on %d attempts", len(pending), attempt))
				return
			}
			continue
		}
		if !retryable(ctx, err) || attempt >= h.s.maxAttempts || !retry.Sleep(ctx, backoff(attempt, wait)) {
			h.fails.Add(uint64(len(pending)))
			h.s.onError(fmt.Errorf("ofhook: %d exposures not delivered after %d attempts: %w", len(pending), attempt, err))
			return
		}
	}
}

// joinArray makes a JSON array of encoded values.
func joinArray(items [][]byte) []byte {
	n := 2
	for _, it := range items {
		n += len(it) + 1
	}
	b := make([]byte, 0, n)
	b = append(b, '[')
	for i, it := range items {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, it...)
	}
	return append(b, ']')
}

var _ openfeature.Hook = (*Hook)(nil)
