package simulate

import (
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/flagstream/flagstream/pkg/events"
)

var day0 = time.Date(2026, 11, 11, 0, 0, 0, 0, time.UTC)

// A user's events depend only on the seed, the run tag and the user: the
// same inputs give the same events (ids included), another seed others.
func TestBehaveIsDeterministic(t *testing.T) {
	arm := DefaultArms()[2]
	for i := range 200 {
		u := newUser("t", i, 0)
		a, b := u.behave(1, "exp", arm, nil, "", day0), u.behave(1, "exp", arm, nil, "", day0)
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("user %d: two calls differ:\n%+v\n%+v", i, a, b)
		}
	}
	differ := 0
	for i := range 200 {
		u := newUser("t", i, 0)
		if !reflect.DeepEqual(u.behave(1, "exp", arm, nil, "", day0), u.behave(2, "exp", arm, nil, "", day0)) {
			differ++
		}
	}
	if differ < 150 {
		t.Errorf("only %d of 200 users behave differently under another seed", differ)
	}
}

// Every event is valid as ingest checks it, ids are unique, exposures come
// first on the user's day, conversions after them and within the day, and
// the conversion rate and purchase mix are the arm's.
func TestBehaveEvents(t *testing.T) {
	const n = 40_000
	now := day0.AddDate(0, 0, 2)
	for _, arm := range DefaultArms() {
		var tally Tally
		ids := map[string]bool{}
		for i := range n {
			u := newUser("t", i, 0)
			evs := u.behave(7, "exp", arm, Weights(DefaultArms()), DefaultArms()[0].Name, day0)
			if evs[0].Type != events.TypeExposure {
				t.Fatalf("user %d: first event %+v", i, evs[0])
			}
			for _, e := range evs {
				if err := e.Validate(now, events.Window{}); err != nil {
					t.Fatalf("user %d: %+v: %v", i, e, err)
				}
				if ids[e.ID] {
					t.Fatalf("id %s twice", e.ID)
				}
				ids[e.ID] = true
				if e.TS.Before(day0) || !e.TS.Before(day0.AddDate(0, 0, 1)) {
					t.Fatalf("user %d: %s outside the user's day", i, e.TS)
				}
				if e.Type == events.TypeConversion && !e.TS.After(evs[0].TS) {
					t.Fatalf("user %d: conversion at %s before the exposure at %s", i, e.TS, evs[0].TS)
				}
				if e.Variant != "" && e.Variant != arm.Name {
					t.Fatalf("user %d: exposure to %s in arm %s", i, e.Variant, arm.Name)
				}
			}
			tally.add(evs)
		}
		rate := float64(tally.Converters) / n
		if se := math.Sqrt(arm.Rate * (1 - arm.Rate) / n); math.Abs(rate-arm.Rate) > 5*se {
			t.Errorf("%s: converted %.4f, true rate %.2f", arm.Name, rate, arm.Rate)
		}
		if per := float64(tally.Conversions) / float64(tally.Converters); per < 1.1 || per > 1.2 {
			t.Errorf("%s: %.3f purchases per converter, want about 1.15", arm.Name, per)
		}
		if ex := float64(tally.Exposures) / n; ex < 1.28 || ex > 1.32 {
			t.Errorf("%s: %.3f exposures per user, want about 1.3", arm.Name, ex)
		}
	}
}

func TestConfigErrors(t *testing.T) {
	c := Config{FlagdURL: "ftp://x", IngestURL: "http://127.0.0.1:1", AggregateURL: "http://127.0.0.1:2", Users: -1,
		Arms: []Arm{{Name: "control", Weight: 50, Rate: 0.1}, {Name: "b", Weight: 40, Rate: 1.5}}}
	err := c.defaults()
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"flagd-url", "users: -1", "rate 1.5", "weights sum to 90"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
	}
}
