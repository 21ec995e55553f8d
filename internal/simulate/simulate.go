package simulate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/flagstream/flagstream/internal/connect"
	"github.com/flagstream/flagstream/internal/report"
	"github.com/flagstream/flagstream/pkg/events"
	"github.com/flagstream/flagstream/pkg/stats"
)

// The flags a simulation creates beside the experiment.
const (
	BooleanFlag = "new_checkout_button" // on for everyone
	RolloutFlag = "search_v2"           // a percentage rollout advanced during the run
)

// RolloutStages is the rollout plan of RolloutFlag, one stage every
// Days/len(RolloutStages) simulated days.
var RolloutStages = []float64{10, 25, 50, 100}

// Config is one simulation.
type Config struct {
	FlagdURL, IngestURL, AggregateURL string
	// Token is sent as a bearer token to every service (an admin token: flagd
	// needs admin for flags, ingest needs ingest, aggregate read).
	Token string
	// Experiment is the experiment flag's key (default checkout_redesign).
	Experiment string
	Arms       []Arm // default DefaultArms
	Users      int   // simulated users who see the experiment, arriving evenly over the days (default 100,000)
	// Bystanders are users who fetch every flag (OFREP bulk) but never see
	// the experiment's page, as a share of Users (default 0.4). As a web app
	// does, the simulator reports an exposure only where the page is seen
	// (flagd's POST /v1/exposures); bystanders buy at the control's rate
	// whatever their variant. Result.Diluted is what the report would hold
	// had bulk evaluation exposed them too.
	Bystanders float64
	// Days is the simulated period, ending the day before Now (default 6:
	// ingest accepts events up to 7 days old unless started with a larger
	// --max-event-age, and its live counters take them only within its
	// --dedup-window, 2 days by default).
	Days int
	Seed uint64 // default 1
	// RunTag names the run's users and events (default: the run's start
	// time and seed, so every run has users of its own and adds to what the
	// experiment already holds). Variants depend on user ids: a fixed RunTag
	// and Seed give the same outcome on every day (the tests use that).
	RunTag  string
	Workers int // concurrent simulated clients (default 16)
	Now     time.Time
	// Wait bounds how long to wait for aggregate to report every event sent
	// (default 2 minutes).
	Wait time.Duration
	// Progress receives a line per simulated day and while waiting; may be nil.
	Progress io.Writer
}

func (c *Config) defaults() error {
	if c.Experiment == "" {
		c.Experiment = "checkout_redesign"
	}
	if len(c.Arms) == 0 {
		c.Arms = DefaultArms()
	}
	if c.Users == 0 {
		c.Users = 100_000
	}
	if c.Bystanders == 0 {
		c.Bystanders = 0.4
	}
	if c.Days == 0 {
		c.Days = 6
	}
	if c.Seed == 0 {
		c.Seed = 1
	}
	if c.Workers == 0 {
		c.Workers = 16
	}
	if c.Now.IsZero() {
		c.Now = time.Now()
	}
	if c.Wait == 0 {
		c.Wait = 2 * time.Minute
	}
	if c.Progress == nil {
		c.Progress = io.Discard
	}
	var errs []error
	for name, u := range map[string]string{"flagd-url": c.FlagdURL, "ingest-url": c.IngestURL, "aggregate-url": c.AggregateURL} {
		if p, err := url.Parse(u); err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			errs = append(errs, fmt.Errorf("%s: %q is not an http(s) URL", name, u))
		}
	}
	if c.Users < 1 || c.Users > 10_000_000 {
		errs = append(errs, fmt.Errorf("users: %d is outside 1..10,000,000", c.Users))
	}
	if !(c.Bystanders > 0 && c.Bystanders <= 10) {
		errs = append(errs, fmt.Errorf("bystanders: %v is outside (0, 10]", c.Bystanders))
	}
	if c.Days < 1 || c.Days > 365 {
		errs = append(errs, fmt.Errorf("days: %d is outside 1..365", c.Days))
	}
	if c.Workers < 1 || c.Workers > 256 {
		errs = append(errs, fmt.Errorf("workers: %d is outside 1..256", c.Workers))
	}
	sum := 0.0
	for _, a := range c.Arms {
		sum += a.Weight
		if !(a.Rate >= 0 && a.Rate <= 1) {
			errs = append(errs, fmt.Errorf("arm %s: rate %v is outside 0..1", a.Name, a.Rate))
		}
	}
	if sum != 100 {
		errs = append(errs, fmt.Errorf("arms: weights sum to %v, they must sum to 100", sum))
	}
	return errors.Join(errs...)
}

// Result is what a simulation sent and what aggregate reported for it.
type Result struct {
	Arms     []Arm
	From, To time.Time         // the simulated days (UTC midnights)
	Sent     map[string]*Tally // by variant
	// Diluted is, by variant, every user who fetched the flags (bystanders
	// included) and their conversions: the report bulk exposures would give.
	Diluted map[string]*Tally
	Events  int64 // events accepted by flagd (exposures) and ingest
	Rollout []RolloutDay
	Report  report.Report
	// Live is ingest's live counters (Redis) summed over the simulated days,
	// by variant; LiveChecked says they were compared with Sent (only when the
	// experiment held nothing before the run: live counters are per day, not
	// per run).
	Live        map[string]LiveTotals
	LiveChecked bool
	Elapsed     time.Duration
}

// RolloutDay is the rollout stage in force on one simulated day and the
// share of that day's users flagd turned RolloutFlag on for.
type RolloutDay struct {
	Day        string
	Percentage float64
	Enabled    float64
}

// Run creates the flags, simulates cfg.Users users over cfg.Days days through
// flagd (OFREP bulk evaluation) and ingest, waits until aggregate's report
// holds exactly what was sent, and returns both.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	start := time.Now()
	c := &client{http: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: cfg.Workers * 2}},
		token: cfg.Token, retryFor: 60 * time.Second}
	s := &sim{cfg: cfg, c: c, res: &Result{Arms: cfg.Arms, Sent: map[string]*Tally{}, Diluted: map[string]*Tally{}}}
	today := cfg.Now.UTC().Truncate(24 * time.Hour)
	s.res.From = today.AddDate(0, 0, -cfg.Days)
	s.res.To = today.AddDate(0, 0, -1)
	s.runTag = cfg.RunTag
	if s.runTag == "" {
		s.runTag = fmt.Sprintf("r%d-s%d", cfg.Now.Unix(), cfg.Seed)
	}
	for _, a := range cfg.Arms {
		s.res.Sent[a.Name], s.res.Diluted[a.Name] = &Tally{}, &Tally{}
	}

	s.progress("simulating %d users over %d days (%s .. %s) against flagd %s, ingest %s, aggregate %s",
		cfg.Users, cfg.Days, s.res.From.Format(time.DateOnly), s.res.To.Format(time.DateOnly), cfg.FlagdURL, cfg.IngestURL, cfg.AggregateURL)
	if err := s.waitReady(ctx); err != nil {
		return nil, err
	}
	if err := s.createFlags(ctx); err != nil {
		return nil, err
	}
	if err := s.readBaseline(ctx); err != nil {
		return nil, err
	}
	for day := range cfg.Days {
		if err := s.simulateDay(ctx, day); err != nil {
			return nil, err
		}
	}
	if err := s.awaitReport(ctx); err != nil {
		return s.res, err
	}
	// ingest counts an event in Redis before it forwards it to aggregate: once
	// the report is complete, so are the live counters.
	if err := s.readLive(ctx); err != nil {
		return s.res, err
	}
	s.res.Elapsed = time.Since(start)
	return s.res, nil
}

type sim struct {
	cfg    Config
	c      *client
	runTag string
	// baseline is the report before this run (other runs' users), by
	// variant; nil when the experiment had no data.
	baseline map[string]Tally

	mu  sync.Mutex
	res *Result
}

func (s *sim) progress(format string, args ...any) {
	fmt.Fprintf(s.cfg.Progress, format+"\n", args...)
}

func (s *sim) waitReady(ctx context.Context) error {
	for _, base := range []string{s.cfg.FlagdURL, s.cfg.IngestURL, s.cfg.AggregateURL} {
		if err := s.c.do(ctx, http.MethodGet, base+"/readyz", nil, nil); err != nil {
			return fmt.Errorf("%s is not ready: %w", base, err)
		}
	}
	return nil
}

// createFlags writes the three flags (replacing earlier ones of the same key)
// and starts the rollout plan at its first stage.
func (s *sim) createFlags(ctx context.Context) error {
	variants := make([]map[string]any, len(s.cfg.Arms))
	for i, a := range s.cfg.Arms {
		variants[i] = map[string]any{"name": a.Name, "weight": a.Weight}
	}
	put := []struct {
		key  string
		body map[string]any
	}{
		{BooleanFlag, map[string]any{"status": "enabled", "description": "simulated: the new checkout button, on for everyone"}},
		{RolloutFlag, map[string]any{"status": "percentage", "percentage": 0, "description": "simulated: search v2, rolled out in stages"}},
		{s.cfg.Experiment, map[string]any{"status": "enabled", "variants": variants,
			"description": "simulated experiment: variant_b converts 10% better than control"}},
	}
	for _, f := range put {
		if err := s.c.do(ctx, http.MethodPut, s.cfg.FlagdURL+"/v1/flags/"+f.key, f.body, nil); err != nil {
			return fmt.Errorf("creating flag %s: %w", f.key, err)
		}
	}
	stages := make([]map[string]any, len(RolloutStages))
	for i, p := range RolloutStages {
		stages[i] = map[string]any{"percentage": p}
	}
	if err := s.c.do(ctx, http.MethodPut, s.cfg.FlagdURL+"/v1/flags/"+RolloutFlag+"/rollout", map[string]any{"stages": stages}, nil); err != nil {
		return fmt.Errorf("creating the rollout plan of %s: %w", RolloutFlag, err)
	}
	s.progress("flags: %s (boolean), %s (rollout %v%%), %s (%d variants)", BooleanFlag, RolloutFlag, RolloutStages, s.cfg.Experiment, len(s.cfg.Arms))
	return nil
}

// stageFor is the rollout stage index in force on a simulated day.
func (s *sim) stageFor(day int) int {
	per := max(1, s.cfg.Days/len(RolloutStages))
	return min(day/per, len(RolloutStages)-1)
}

// simulateDay advances the rollout if its day has come, then runs the day's
// users through flagd and ingest with cfg.Workers concurrent clients.
func (s *sim) simulateDay(ctx context.Context, day int) error {
	dayStart := s.res.From.AddDate(0, 0, day)
	if day > 0 && s.stageFor(day) != s.stageFor(day-1) {
		if err := s.c.do(ctx, http.MethodPost, s.cfg.FlagdURL+"/v1/flags/"+RolloutFlag+"/rollout/advance", nil, nil); err != nil {
			return fmt.Errorf("advancing the rollout of %s: %w", RolloutFlag, err)
		}
	}
	first, last := day*s.cfg.Users/s.cfg.Days, (day+1)*s.cfg.Users/s.cfg.Days
	bystanders := int(math.Round(float64(s.cfg.Users) * s.cfg.Bystanders))
	firstB, lastB := day*bystanders/s.cfg.Days, (day+1)*bystanders/s.cfg.Days
	dayStarted := time.Now()
	jobs := make(chan user)
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	var rolloutOn, evaluated int64
	for range s.cfg.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := worker{sim: s, dayStart: dayStart, weights: Weights(s.cfg.Arms)}
			for u := range jobs {
				if err := w.handle(ctx, u); err != nil {
					cancel(err)
					return
				}
			}
			if err := w.flush(ctx); err != nil {
				cancel(err)
			}
			s.mu.Lock()
			rolloutOn += w.rolloutOn
			evaluated += w.evaluated
			s.mu.Unlock()
		}()
	}
feed:
	for i := first; i < last; i++ {
		// Viewers and bystanders interleaved, as they arrive.
		for j := firstB + (i-first)*(lastB-firstB)/max(1, last-first); j < firstB+(i-first+1)*(lastB-firstB)/max(1, last-first); j++ {
			select {
			case jobs <- newBystander(s.runTag, j, day):
			case <-ctx.Done():
				break feed
			}
		}
		select {
		case jobs <- newUser(s.runTag, i, day):
		case <-ctx.Done():
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return err
	}
	rd := RolloutDay{Day: dayStart.Format(time.DateOnly), Percentage: RolloutStages[s.stageFor(day)]}
	if evaluated > 0 {
		rd.Enabled = float64(rolloutOn) / float64(evaluated)
	}
	s.res.Rollout = append(s.res.Rollout, rd)
	took := time.Since(dayStarted).Seconds()
	s.progress("day %d/%d %s: %d users (%.0f evaluations/s), %s at %v%% → on for %.1f%%, events sent %d",
		day+1, s.cfg.Days, rd.Day, last-first+lastB-firstB, float64(evaluated)/max(took, 1e-9), RolloutFlag, rd.Percentage, 100*rd.Enabled, s.res.Events)
	return nil
}

// worker is one simulated client: it evaluates, then batches the events it
// would report, as an app's event SDK does.
type worker struct {
	*sim
	dayStart             time.Time
	weights              map[string]float64 // the flag's, for the exposures
	batch                []events.Event     // for ingest: conversions
	exposures            []exposureReport   // for flagd: the page was seen
	exposed              int                // flags in exposures
	tallies, diluted     map[string]*Tally
	rolloutOn, evaluated int64
}

const eventBatch = 500

// ofrepBulk is the part of OFREP's bulk answer the simulator reads.
type ofrepBulk struct {
	Flags []struct {
		Key       string `json:"key"`
		Value     any    `json:"value"`
		Variant   string `json:"variant"`
		ErrorCode string `json:"errorCode"`
		Metadata  struct {
			Version int64 `json:"version"`
		} `json:"metadata"`
	} `json:"flags"`
}

// exposureReport is one item of flagd's POST /v1/exposures: the context and
// the flags a page used with it.
type exposureReport struct {
	Context map[string]any `json:"context"`
	Flags   []usedFlag     `json:"flags"`
}

type usedFlag struct {
	Key     string `json:"key"`
	Version int64  `json:"version"`
	TS      string `json:"ts"`
	ID      string `json:"id"`
}

func (w *worker) handle(ctx context.Context, u user) error {
	body := map[string]any{"context": map[string]any{"targetingKey": u.id, "plan": u.plan}}
	var ans ofrepBulk
	if err := w.c.do(ctx, http.MethodPost, w.cfg.FlagdURL+"/ofrep/v1/evaluate/flags", body, &ans); err != nil {
		return fmt.Errorf("evaluating for %s: %w", u.id, err)
	}
	variant, version, rolloutOn, found := "", int64(0), false, 0
	for _, f := range ans.Flags {
		switch f.Key {
		case w.cfg.Experiment:
			variant, _ = f.Value.(string)
			version = f.Metadata.Version
			found++
		case RolloutFlag:
			rolloutOn, _ = f.Value.(bool)
			found++
		case BooleanFlag:
			if on, _ := f.Value.(bool); !on {
				return fmt.Errorf("flagd answered %s = %v (%s) for %s; the flag is on for everyone", BooleanFlag, f.Value, f.ErrorCode, u.id)
			}
			found++
		}
	}
	if found != 3 {
		return fmt.Errorf("flagd's bulk answer for %s lacks one of %s, %s, %s (%d flags in it)", u.id, w.cfg.Experiment, RolloutFlag, BooleanFlag, len(ans.Flags))
	}
	arm, ok := w.arm(variant)
	if !ok {
		return fmt.Errorf("flagd put %s into variant %q, which the experiment does not have", u.id, variant)
	}
	w.evaluated++
	if rolloutOn {
		w.rolloutOn++
	}
	if u.bystander {
		// Never sees the page: no exposure; buys at the control's rate,
		// telling ingest no experiment (the app knows of none).
		evs := u.behave(w.cfg.Seed, "", w.cfg.Arms[0], nil, "", w.dayStart)
		for len(evs) > 0 && evs[0].Type == events.TypeExposure { // exposures come first
			evs = evs[1:]
		}
		tally(&w.diluted, arm.Name).add(evs)
		w.batch = append(w.batch, evs...)
		return w.flushIfFull(ctx)
	}
	evs := u.behave(w.cfg.Seed, w.cfg.Experiment, arm, w.weights, w.cfg.Arms[0].Name, w.dayStart)
	tally(&w.tallies, arm.Name).add(evs)
	tally(&w.diluted, arm.Name).add(evs)
	// The page shows the experiment: report each view's exposure to flagd,
	// on use, as the browser snippet does; conversions go to ingest.
	rep := exposureReport{Context: map[string]any{"targetingKey": u.id, "plan": u.plan}}
	for _, e := range evs {
		if e.Type == events.TypeExposure {
			rep.Flags = append(rep.Flags, usedFlag{Key: w.cfg.Experiment, Version: version, TS: e.TS.Format(time.RFC3339Nano), ID: e.ID})
		} else {
			w.batch = append(w.batch, e)
		}
	}
	w.exposures = append(w.exposures, rep)
	w.exposed += len(rep.Flags)
	return w.flushIfFull(ctx)
}

func tally(m *map[string]*Tally, arm string) *Tally {
	if *m == nil {
		*m = map[string]*Tally{}
	}
	if (*m)[arm] == nil {
		(*m)[arm] = &Tally{}
	}
	return (*m)[arm]
}

func (w *worker) flushIfFull(ctx context.Context) error {
	if len(w.batch)+w.exposed >= eventBatch {
		return w.flush(ctx)
	}
	return nil
}

func (w *worker) arm(variant string) (Arm, bool) {
	for _, a := range w.cfg.Arms {
		if a.Name == variant {
			return a, true
		}
	}
	return Arm{}, false
}

// ingestAnswer is POST /v1/events's answer.
type ingestAnswer struct {
	Accepted int `json:"accepted"`
	Invalid  []struct {
		Index  int    `json:"index"`
		Field  string `json:"field"`
		Reason string `json:"reason"`
	} `json:"invalid"`
}

// flush reports the exposures to flagd, then sends the conversions to
// ingest. Only events flagd published and ingest accepted count as sent; a
// refused one ends the run with the service's reason.
func (w *worker) flush(ctx context.Context) error {
	if err := w.flushExposures(ctx); err != nil {
		return err
	}
	if len(w.batch) > 0 {
		if err := w.flushConversions(ctx); err != nil {
			return err
		}
	}
	w.mu.Lock()
	for name, t := range w.tallies {
		w.res.Sent[name].merge(t)
	}
	for name, t := range w.diluted {
		w.res.Diluted[name].merge(t)
	}
	w.mu.Unlock()
	w.tallies, w.diluted = nil, nil
	return nil
}

// exposureAnswer is flagd's answer to POST /v1/exposures.
type exposureAnswer struct {
	Results []struct {
		Key    string `json:"key"`
		Status string `json:"status"`
	} `json:"results"`
}

func (w *worker) flushExposures(ctx context.Context) error {
	if len(w.exposures) == 0 {
		return nil
	}
	var ans exposureAnswer
	if err := w.c.do(ctx, http.MethodPost, w.cfg.FlagdURL+"/v1/exposures", w.exposures, &ans); err != nil {
		return fmt.Errorf("reporting exposures: %w", err)
	}
	for _, r := range ans.Results {
		if r.Status != "published" {
			return fmt.Errorf("flagd did not publish an exposure of %s: %s", r.Key, r.Status)
		}
	}
	w.mu.Lock()
	w.res.Events += int64(len(ans.Results))
	w.mu.Unlock()
	w.exposures, w.exposed = w.exposures[:0], 0
	return nil
}

func (w *worker) flushConversions(ctx context.Context) error {
	var ans ingestAnswer
	if err := w.c.do(ctx, http.MethodPost, w.cfg.IngestURL+"/v1/events", w.batch, &ans); err != nil {
		return fmt.Errorf("sending events: %w", err)
	}
	if len(ans.Invalid) > 0 || ans.Accepted != len(w.batch) {
		msg := ""
		if len(ans.Invalid) > 0 {
			iv := ans.Invalid[0]
			msg = fmt.Sprintf(": event %d (%s): %s %s", iv.Index, w.batch[iv.Index].ID, iv.Field, iv.Reason)
			if iv.Field == "ts" {
				msg += fmt.Sprintf(" (simulating %d days needs ingest's --max-event-age above %d days)", w.cfg.Days, w.cfg.Days)
			}
		}
		return fmt.Errorf("ingest accepted %d of %d events%s", ans.Accepted, len(w.batch), msg)
	}
	w.mu.Lock()
	w.res.Events += int64(len(w.batch))
	w.mu.Unlock()
	w.batch = w.batch[:0]
	return nil
}

// ReportQuery is the report request for the simulated period: the metric
// and the days (the weights come from the exposures).
func (r *Result) ReportQuery() url.Values {
	return url.Values{"metric": {Metric}, "from": {r.From.Format(time.DateOnly)}, "to": {r.To.Format(time.DateOnly)}}
}

func (s *sim) reportURL() string {
	return s.cfg.AggregateURL + "/v1/experiments/" + s.cfg.Experiment + "/report?" + s.res.ReportQuery().Encode()
}

// readReport returns the report, or ok false if the experiment has no data yet.
func (s *sim) readReport(ctx context.Context) (rep report.Report, ok bool, err error) {
	err = s.c.do(ctx, http.MethodGet, s.reportURL(), nil, &rep)
	var se *statusError
	if errors.As(err, &se) && se.Status == http.StatusNotFound {
		return rep, false, nil
	}
	if err != nil {
		return rep, false, fmt.Errorf("reading the report: %w", err)
	}
	return rep, true, nil
}

// readBaseline keeps what the report holds before this run: earlier runs of
// other configurations on the same days.
func (s *sim) readBaseline(ctx context.Context) error {
	rep, ok, err := s.readReport(ctx)
	if err != nil || !ok {
		return err
	}
	s.baseline = map[string]Tally{}
	for _, v := range rep.Variants {
		s.baseline[v.Variant] = Tally{Users: v.Users, Converters: v.Converters, Conversions: v.Conversions, ValueCents: cents(v.ValueSum)}
	}
	s.progress("the experiment already holds %d users from earlier runs", sumUsers(s.baseline))
	return nil
}

func cents(n stats.Number) int64 {
	if !n.Valid {
		return -1
	}
	return int64(math.Round(n.Value * 100))
}

func sumUsers(m map[string]Tally) int64 {
	var n int64
	for _, t := range m {
		n += t.Users
	}
	return n
}

// awaitReport polls aggregate's report until every variant's users,
// converters, conversions and value sum equal what the experiment held before
// the run plus what the run sent, or cfg.Wait passes.
func (s *sim) awaitReport(ctx context.Context) error {
	want := map[string]Tally{}
	for name, t := range s.res.Sent {
		b := s.baseline[name]
		want[name] = Tally{Users: b.Users + t.Users, Converters: b.Converters + t.Converters,
			Conversions: b.Conversions + t.Conversions, ValueCents: b.ValueCents + t.ValueCents}
	}
	deadline := time.Now().Add(s.cfg.Wait)
	lastPrint := time.Time{}
	for {
		rep, ok, err := s.readReport(ctx)
		if err != nil {
			return err
		}
		diff := "no event has reached aggregate yet"
		if ok {
			diff = differs(rep, want)
		}
		if diff == "" {
			s.res.Report = rep
			s.progress("aggregate reports every event sent")
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("aggregate's report still differs from what was sent after %s: %s", s.cfg.Wait, diff)
		}
		if time.Since(lastPrint) >= 2*time.Second {
			s.progress("waiting for aggregate: %s", diff)
			lastPrint = time.Now()
		}
		if !connect.Sleep(ctx, 500*time.Millisecond) {
			return ctx.Err()
		}
	}
}

// differs says how the report differs from want ("" if it does not).
func differs(rep report.Report, want map[string]Tally) string {
	var users, total int64
	var diffs []string
	got := map[string]bool{}
	for _, v := range rep.Variants {
		got[v.Variant] = true
		users += v.Users
		t, ok := want[v.Variant]
		if !ok {
			diffs = append(diffs, fmt.Sprintf("variant %s was never sent", v.Variant))
			continue
		}
		if v.Users != t.Users || v.Converters != t.Converters || v.Conversions != t.Conversions || cents(v.ValueSum) != t.ValueCents {
			diffs = append(diffs, fmt.Sprintf("%s %d/%d users, %d/%d conversions", v.Variant, v.Users, t.Users, v.Conversions, t.Conversions))
		}
	}
	for name, t := range want {
		total += t.Users
		if !got[name] && t.Users > 0 {
			diffs = append(diffs, fmt.Sprintf("%s not in the report yet", name))
		}
	}
	if rep.MultipleExposures != 0 {
		diffs = append(diffs, fmt.Sprintf("%d users with two variants", rep.MultipleExposures))
	}
	if len(diffs) == 0 {
		return ""
	}
	return fmt.Sprintf("%d of %d users so far (%s)", users, total, strings.Join(diffs, "; "))
}

// LiveTotals are one variant's live counters summed over days. Exposures,
// conversions and values are exact; UniqueUsers is a sum of daily
// HyperLogLog estimates (each user arrives on one day only here).
type LiveTotals struct {
	Exposures, UniqueUsers, Conversions, ValueCents int64
}

// liveAnswer is the part of ingest's GET /live answer read here.
type liveAnswer struct {
	Results map[string]struct {
		Exposures   int64 `json:"exposures"`
		UniqueUsers int64 `json:"unique_users"`
		Conversions map[string]struct {
			Count int64   `json:"count"`
			Value float64 `json:"value"`
		} `json:"conversions"`
	} `json:"results"`
}

// readLive sums the live counters over the simulated days and, on an
// experiment that held nothing before, checks the exact ones against what
// was sent.
func (s *sim) readLive(ctx context.Context) error {
	live := map[string]LiveTotals{}
	for d := s.res.From; !d.After(s.res.To); d = d.AddDate(0, 0, 1) {
		var ans liveAnswer
		u := s.cfg.IngestURL + "/v1/experiments/" + s.cfg.Experiment + "/live?date=" + d.Format(time.DateOnly)
		if err := s.c.do(ctx, http.MethodGet, u, nil, &ans); err != nil {
			return fmt.Errorf("reading the live counters: %w", err)
		}
		for v, st := range ans.Results {
			t := live[v]
			t.Exposures += st.Exposures
			t.UniqueUsers += st.UniqueUsers
			t.Conversions += st.Conversions[Metric].Count
			t.ValueCents += int64(math.Round(st.Conversions[Metric].Value * 100))
			live[v] = t
		}
	}
	s.res.Live = live
	if s.baseline != nil {
		return nil
	}
	s.res.LiveChecked = true
	for name, sent := range s.res.Sent {
		got := live[name]
		if got.Exposures != sent.Exposures || got.Conversions != sent.Conversions || got.ValueCents != sent.ValueCents {
			return fmt.Errorf("live counters of %s: %d exposures, %d purchases, %d cents; sent %d, %d, %d",
				name, got.Exposures, got.Conversions, got.ValueCents, sent.Exposures, sent.Conversions, sent.ValueCents)
		}
	}
	s.progress("ingest's live counters (Redis) hold exactly the exposures, purchases and values sent")
	return nil
}
