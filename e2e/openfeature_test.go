package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/open-feature/go-sdk-contrib/providers/ofrep"
	"github.com/open-feature/go-sdk/openfeature"

	"github.com/flagstream/flagstream/internal/report"
	"github.com/flagstream/flagstream/internal/testenv/procs"
	"github.com/flagstream/flagstream/internal/testenv/streams"
	"github.com/flagstream/flagstream/pkg/events"
	"github.com/flagstream/flagstream/pkg/ofhook"
)

// A Go app on the OpenFeature SDK with the OFREP provider and ofhook, the
// way the README tells Go apps to run (the provider's requests carry
// ExposureOnUse, the hook reports what the app evaluated; flagd keeps its
// default of exposing single evaluations for other apps): three experiments exist, every user's
// page fetches all of them in bulk, and the app evaluates only one through
// the SDK. The raw stream holds exactly one exposure per SDK evaluation,
// with the variant the SDK got and the flag's version, and none for the
// flags the app did not use. client.Track then reaches the report as
// conversions of the right users, variants and values.
func TestOpenFeatureGoSDKExposesOnUseAndTracks(t *testing.T) {
	// flagd alone first: the raw stream keeps every message until ingest's
	// durable consumer acknowledges it, so what flagd published can be read
	// back whole before ingest starts.
	// flagd publishes evaluation exposures, as it does for server-side apps
	// without the hook; the SDK's requests ask it not to (ExposureOnUse), so
	// the hook's reports are the only exposures of these users.
	s := startStack(t, 0, 0, nil, nil, nil)
	env := s.flagd.Env
	names := events.NewNames(env["FLAGSTREAM_NATS_NAMESPACE"])
	const used = "of_checkout"
	unused := []string{"of_banner", "of_search"}
	for _, key := range append([]string{used}, unused...) {
		s.flagd.Expect(t, http.StatusOK, http.MethodPut, "/v1/flags/"+key,
			`{"status":"enabled","variants":[{"name":"control","weight":50},{"name":"treatment","weight":50}]}`)
	}
	flag := s.flagd.Expect(t, http.StatusOK, http.MethodGet, "/v1/flags/"+used, nil)
	version := int64(flag["version"].(float64))

	hook, err := ofhook.NewHook(ofhook.Options{URL: s.flagd.URL, BatchSize: 50, FlushInterval: 20 * time.Millisecond,
		OnError: func(err error) { t.Errorf("hook: %v", err) }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = hook.Close(context.Background()) })
	tracker, err := ofhook.NewTracker(ofhook.Options{URL: s.flagd.URL, OnError: func(err error) { t.Errorf("tracker: %v", err) }})
	if err != nil {
		t.Fatal(err)
	}
	// A domain of this test's own: the SDK's provider registry is global.
	if err := openfeature.SetNamedProviderAndWait(t.Name(), ofhook.WithTracking(ofrep.NewProvider(s.flagd.URL, ofrep.WithHeaderProvider(ofhook.ExposureOnUse)), tracker)); err != nil {
		t.Fatal(err)
	}
	client := openfeature.NewClient(t.Name())
	client.AddHooks(hook)

	const users = 300
	ctx := context.Background()
	variantOf := map[string]string{}
	evaluations := map[string]int{} // per user
	for i := range users {
		user := fmt.Sprintf("of-user-%04d", i)
		ec := openfeature.NewEvaluationContext(user, map[string]any{"country": "NZ", "groups": []any{"beta"}})
		// The page fetches every flag at once (bulk exposes nobody)...
		bulk := s.flagd.Expect(t, http.StatusOK, http.MethodPost, "/ofrep/v1/evaluate/flags",
			map[string]any{"context": map[string]any{"targetingKey": user}})
		if n := len(bulk["flags"].([]any)); n != 3 {
			t.Fatalf("bulk answered %d flags, want 3", n)
		}
		// ...and the app uses one, every fifth user twice.
		for range 1 + i%5/4 {
			d, err := client.StringValueDetails(ctx, used, "off", ec)
			if err != nil || d.Variant == "" || d.Value != d.Variant {
				t.Fatalf("%s: %+v, %v", user, d, err)
			}
			if prev, ok := variantOf[user]; ok && prev != d.Variant {
				t.Fatalf("%s moved from %s to %s", user, prev, d.Variant)
			}
			variantOf[user] = d.Variant
			evaluations[user]++
		}
	}
	total := 0
	for _, n := range evaluations {
		total += n
	}
	closeCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := hook.Close(closeCtx); err != nil {
		t.Fatal(err)
	}
	if st := hook.Stats(); st != (ofhook.Stats{Queued: uint64(total), Published: uint64(total)}) {
		t.Fatalf("hook stats %+v, want %d queued and published", st, total)
	}

	// The hook's answers were "published": queued in flagd's publisher.
	// Barrier: JetStream has acknowledged that many, so all are on the
	// stream; none more (from the bulk fetches, say) came before or after.
	s.flagd.WaitMetric(t, "flagstream_flagd_exposures_published_total", 30*time.Second, func(v float64) bool { return v >= float64(total) })
	got, seen := streams.StreamEvents(t, env["FLAGSTREAM_NATS_URL"], names.RawStream)
	if n := s.flagd.Metric(t, "flagstream_flagd_exposures_published_total"); n != float64(total) {
		t.Errorf("flagd published %.0f exposures for %d SDK evaluations", n, total)
	}
	exposedTimes := map[string]int{}
	for id, e := range got {
		if seen[id] != 1 {
			t.Errorf("event %s stored %d times", id, seen[id])
		}
		if e.Type != events.TypeExposure || e.Experiment != used {
			t.Errorf("unexpected event %+v: only %s was used", e, used)
			continue
		}
		if e.Variant != variantOf[e.UserID] || e.FlagVersion != version {
			t.Errorf("exposure %+v: want variant %s (the SDK's) at version %d", e, variantOf[e.UserID], version)
		}
		exposedTimes[e.UserID]++
	}
	if len(got) != total {
		t.Errorf("%d events in the raw stream for %d SDK evaluations", len(got), total)
	}
	for user, n := range evaluations {
		if exposedTimes[user] != n {
			t.Errorf("%s evaluated %d times, exposed %d times", user, n, exposedTimes[user])
		}
	}

	// Conversions through client.Track for every fourth user, the first of
	// each two named after the experiment; stored before Track returns.
	wants := map[string]*sentCounts{}
	for _, v := range variantOf {
		if wants[v] == nil {
			wants[v] = &sentCounts{}
		}
		wants[v].users++
	}
	tracked := 0
	for i := 0; i < users; i += 4 {
		user := fmt.Sprintf("of-user-%04d", i)
		w := wants[variantOf[user]]
		w.converters++
		for k := range 2 {
			cents := int64(1000 + 37*i + k)
			d := openfeature.NewTrackingEventDetails(float64(cents) / 100)
			if k == 0 {
				d = d.Add("experiment", used)
			}
			client.Track(ctx, "purchase", openfeature.NewEvaluationContext(user, nil), d)
			w.conversions++
			w.cents += cents
			tracked++
		}
	}
	if st := tracker.Stats(); st != (ofhook.TrackerStats{Sent: uint64(tracked)}) {
		t.Fatalf("tracker stats %+v, want %d sent", st, tracked)
	}
	_, carried := streams.StreamEvents(t, env["FLAGSTREAM_NATS_URL"], names.RawStream)
	n := 0
	for _, times := range carried {
		n += times
	}
	if n != total+tracked {
		t.Errorf("the raw stream carries %d events, want %d exposures and %d conversions", n, total, tracked)
	}

	// Now ingest and the aggregator: the report counts exactly that.
	procs.StartProcess(t, procs.Build(t, "./cmd/ingest"), env)
	aggregate := procs.StartProcess(t, procs.Build(t, "./cmd/aggregate"), env, "serve")
	streams.WaitAcked(t, env["FLAGSTREAM_NATS_URL"], names.RawStream, events.RawConsumer, 2*time.Minute)
	streams.WaitAcked(t, env["FLAGSTREAM_NATS_URL"], names.AnalyticsStream, events.AnalyticsConsumer, 2*time.Minute)
	// Both consumers are done: the aggregator's answer is final.
	q := url.Values{"metric": {"purchase"}}
	deadline := time.Now().Add(time.Minute)
	for {
		_, diff := reportDiff(t, aggregate, used, q, func(v string) *sentCounts { return wants[v] }, len(wants))
		if diff == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("report differs from what the app did:%s", diff)
		}
		time.Sleep(300 * time.Millisecond)
	}
	for _, key := range unused {
		r := aggregate.Do(t, http.MethodGet, "/v1/experiments/"+key+"/report?"+q.Encode(), nil)
		var rep report.Report
		if r.Status == http.StatusOK && json.Unmarshal(r.Body, &rep) == nil {
			for _, v := range rep.Variants {
				if v.Users != 0 {
					t.Errorf("%s, never used, reports %d users in %s", key, v.Users, v.Variant)
				}
			}
		}
	}
}
