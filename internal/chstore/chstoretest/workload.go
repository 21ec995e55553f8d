package chstoretest

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/flagstream/flagstream/pkg/events"
)

// Workload makes events for users over the six days from day0, in two
// experiments (exp_a for every user, exp_b for a third of them): first
// exposures, repeated exposures, one user in twenty also exposed to the other
// variant later (a flag change), conversions of two types (purchase, signup)
// naming the experiment or, one in three, none; some before the exposure;
// values with cents or none (1.0); and conversions of users never exposed.
// Ids start with prefix and are unique within a call.
func Workload(rng *rand.Rand, users int, day0 time.Time, prefix string) []events.Event {
	var evs []events.Event
	n := 0
	id := func() string { n++; return fmt.Sprintf("%s%07d", prefix, n) }
	at := func(ms int64) time.Time { return time.UnixMilli(ms).UTC() }
	span := int64(6 * 24 * time.Hour / time.Millisecond)
	for u := range users {
		user := fmt.Sprintf("u%05d", u)
		for _, exp := range []string{"exp_a", "exp_b"} {
			if exp == "exp_b" && u%3 != 0 {
				continue
			}
			variant := []string{"control", "treatment"}[rng.IntN(2)]
			first := day0.UnixMilli() + rng.Int64N(span)
			evs = append(evs, events.Event{ID: id(), Type: events.TypeExposure, Experiment: exp, Variant: variant, UserID: user, TS: at(first), FlagVersion: 1})
			for range rng.IntN(3) { // repeats, same variant
				evs = append(evs, events.Event{ID: id(), Type: events.TypeExposure, Experiment: exp, Variant: variant, UserID: user,
					TS: at(first + 1 + rng.Int64N(span/2)), FlagVersion: 1})
			}
			if rng.IntN(20) == 0 { // a flag change moved this user
				other := map[string]string{"control": "treatment", "treatment": "control"}[variant]
				evs = append(evs, events.Event{ID: id(), Type: events.TypeExposure, Experiment: exp, Variant: other, UserID: user,
					TS: at(first + 1 + rng.Int64N(span/2)), FlagVersion: 2})
			}
			for range rng.IntN(4) {
				e := events.Event{ID: id(), Type: events.TypeConversion, Experiment: exp, UserID: user,
					ConversionType: []string{"purchase", "signup"}[rng.IntN(2)], TS: at(first - span/10 + rng.Int64N(span/2))}
				if rng.IntN(3) == 0 {
					e.Experiment = ""
				}
				if rng.IntN(4) != 0 {
					v := float64(rng.IntN(20000)) / 100
					e.Value = &v
				}
				evs = append(evs, e)
			}
		}
	}
	for u := range max(1, users/40) { // never exposed: counted nowhere
		evs = append(evs, events.Event{ID: id(), Type: events.TypeConversion, UserID: fmt.Sprintf("ghost%d", u),
			ConversionType: "purchase", TS: at(day0.UnixMilli() + rng.Int64N(span))})
	}
	return evs
}
