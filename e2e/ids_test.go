package e2e

import (
	"encoding/json"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/flagstream/flagstream/internal/testenv/procs"
	"github.com/flagstream/flagstream/internal/testenv/streams"
	"github.com/flagstream/flagstream/pkg/events"
)

// Events without ids get one from their content, the same in ingest and the
// aggregator, before anything counts them: a publisher not ours that puts
// id-less events straight on the raw stream has each counted once (and two
// different ones are two, not one empty id); a client that resends the tail
// of an id-less batch in another batch, in another order, past JetStream's
// dedup window, gets the same ids back and counts nothing twice, in the
// live counters and in the report alike.
func TestEventsWithoutIDsCountOnce(t *testing.T) {
	env := stackEnv(t, map[string]string{"FLAGSTREAM_STREAM_DEDUP_WINDOW": "1s"})
	ingest := procs.StartProcess(t, procs.Build(t, "./cmd/ingest"), env)
	aggregate := procs.StartProcess(t, procs.Build(t, "./cmd/aggregate"), env, "serve")

	now := time.Now().UTC().Truncate(time.Millisecond)
	day := now.Format(time.DateOnly)
	ts := now.Format(time.RFC3339Nano)
	// A third-party publisher: raw NATS, no id, no Nats-Msg-Id; u1's
	// exposure twice (the same event), u2's once, and two different
	// purchases of u1 (two events, though neither has an id).
	nc, err := nats.Connect(env["FLAGSTREAM_NATS_URL"])
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	names := events.NewNames(env["FLAGSTREAM_NATS_NAMESPACE"])
	for _, body := range []string{
		`{"type":"exposure","experiment":"ids","variant":"control","user_id":"u1","ts":"` + ts + `"}`,
		`{"type":"exposure","experiment":"ids","variant":"treatment","user_id":"u2","ts":"` + ts + `"}`,
		`{"type":"exposure","experiment":"ids","variant":"control","user_id":"u1","ts":"` + ts + `"}`,
		`{"type":"conversion","experiment":"ids","user_id":"u1","conversion_type":"purchase","value":3,"ts":"` + ts + `"}`,
		`{"type":"conversion","experiment":"ids","user_id":"u1","conversion_type":"purchase","value":4,"ts":"` + ts + `"}`,
	} {
		if err := nc.Publish(names.RawSubject(events.TypeExposure), []byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}

	// A client without ids: three events, then the last two again, reversed.
	a := `{"type":"exposure","experiment":"ids","variant":"control","user_id":"u3","ts":"` + ts + `"}`
	b := `{"type":"exposure","experiment":"ids","variant":"treatment","user_id":"u4","ts":"` + ts + `"}`
	c := `{"type":"conversion","experiment":"ids","user_id":"u3","conversion_type":"purchase","value":2,"ts":"` + ts + `"}`
	post := func(body string) []string {
		r := ingest.Do(t, http.MethodPost, "/v1/events", body)
		var ans struct {
			IDs []string `json:"ids"`
		}
		if r.Status != http.StatusAccepted || json.Unmarshal(r.Body, &ans) != nil {
			t.Fatalf("POST /v1/events: %d %s", r.Status, r.Body)
		}
		return ans.IDs
	}
	first := post("[" + a + "," + b + "," + c + "]")
	time.Sleep(1100 * time.Millisecond) // past JetStream's dedup window: the resend reaches ours
	again := post(c + "\n" + b + "\n")
	if len(first) != 3 || !slices.Equal(again, []string{first[2], first[1]}) {
		t.Fatalf("ids %v, then for the tail resent %v: want the same ids", first, again)
	}

	type counts struct{ controlExp, treatmentExp, purchases int }
	want := counts{controlExp: 2, treatmentExp: 2, purchases: 3}
	liveCounts := func() counts {
		var live struct {
			Results map[string]struct {
				Exposures   int `json:"exposures"`
				Conversions map[string]struct {
					Count int `json:"count"`
				} `json:"conversions"`
			} `json:"results"`
		}
		r := ingest.Do(t, http.MethodGet, "/v1/experiments/ids/live?date="+day, nil)
		if err := json.Unmarshal(r.Body, &live); err != nil {
			t.Fatalf("live: %d %s", r.Status, r.Body)
		}
		return counts{live.Results["control"].Exposures, live.Results["treatment"].Exposures,
			live.Results["control"].Conversions["purchase"].Count + live.Results["treatment"].Conversions["purchase"].Count}
	}
	reportCounts := func() counts {
		var rep struct {
			Variants []struct {
				Variant     string `json:"variant"`
				Users       int    `json:"users"`
				Conversions int    `json:"conversions"`
			} `json:"variants"`
		}
		r := aggregate.Do(t, http.MethodGet, "/v1/experiments/ids/report?metric=purchase", nil)
		if r.Status != http.StatusOK || json.Unmarshal(r.Body, &rep) != nil {
			return counts{}
		}
		var got counts
		for _, v := range rep.Variants {
			switch v.Variant {
			case "control":
				got.controlExp = v.Users
			case "treatment":
				got.treatmentExp = v.Users
			}
			got.purchases += v.Conversions
		}
		return got
	}
	// Both answers settle once the aggregator has acknowledged everything
	// ingest forwarded; until then they may fall short, never exceed.
	streams.WaitAcked(t, env["FLAGSTREAM_NATS_URL"], names.RawStream, events.RawConsumer, 30*time.Second)
	streams.WaitAcked(t, env["FLAGSTREAM_NATS_URL"], names.AnalyticsStream, events.AnalyticsConsumer, 30*time.Second)
	if got := liveCounts(); got != want {
		t.Errorf("live counters: %+v, want %+v (users for exposures)", got, want)
	}
	if got := reportCounts(); got != want {
		t.Errorf("report: %+v users and purchases, want %+v", got, want)
	}
}
