// Package simulate drives a simulated product through flagstream's real HTTP
// APIs: it creates flags in flagd, evaluates them over OFREP for simulated
// users day by day, reports exposures and conversions to ingest, and reads
// the report back from aggregate. It is what `make demo` runs and what the
// end-to-end tests use to check that a planted effect is found.
package simulate

import (
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"time"

	"github.com/flagstream/flagstream/pkg/events"
)

// Arm is one variant of the simulated experiment with its true behaviour.
type Arm struct {
	Name   string  `json:"name"`
	Weight float64 `json:"weight"` // the flag's traffic weight (the weights sum to 100)
	Rate   float64 `json:"rate"`   // true probability that a user of this arm converts
}

// Weights are the arms' traffic weights by name, as exposures carry them.
func Weights(arms []Arm) map[string]float64 {
	w := make(map[string]float64, len(arms))
	for _, a := range arms {
		w[a.Name] = a.Weight
	}
	return w
}

// DefaultArms is the planted effect: variant_b converts 10% better (relative)
// than control, variant_a exactly as well.
func DefaultArms() []Arm {
	return []Arm{
		{Name: "control", Weight: 34, Rate: 0.10},
		{Name: "variant_a", Weight: 33, Rate: 0.10},
		{Name: "variant_b", Weight: 33, Rate: 0.11},
	}
}

// Metric is the conversion type the simulated users report.
const Metric = "purchase"

// user is one simulated user: who they are and, once flagd has placed them,
// what they do. Everything random about a user comes from a generator seeded
// with (seed, index), so a run's events do not depend on the order in which
// concurrent workers handle users.
type user struct {
	index int
	day   int // 0-based simulated day of the first visit
	id    string
	plan  string
	// bystander: fetches the flags, never sees the experiment's page.
	bystander bool
}

var plans = [...]string{"free", "free", "free", "pro", "team"}

func newUser(runTag string, index, day int) user {
	return user{index: index, day: day, id: fmt.Sprintf("sim-%s-%06d", runTag, index), plan: plans[index%len(plans)]}
}

func newBystander(runTag string, index, day int) user {
	return user{index: index, day: day, id: fmt.Sprintf("sim-%s-b%06d", runTag, index), plan: plans[index%len(plans)], bystander: true}
}

// rng returns the user's own generator.
func (u user) rng(seed uint64) *rand.Rand {
	h := fnv.New64a()
	fmt.Fprintf(h, "%d/%s", seed, u.id)
	return rand.New(rand.NewPCG(seed, h.Sum64()))
}

// behave returns the events of a user placed into arm of the experiment on
// the day starting at dayStart, exposures carrying the flag's weights and
// control (its first variant), as flagd's do: one or two exposures
// (returning visitors), and, with the arm's rate, one or two purchases with
// values in cents. Event ids are derived from the run tag and the user, so a
// repeated run of the same day sends the same ids and counts nothing twice.
func (u user) behave(seed uint64, experiment string, arm Arm, weights map[string]float64, control string, dayStart time.Time) []events.Event {
	r := u.rng(seed)
	first := dayStart.Add(time.Duration(r.Int64N(int64(20 * time.Hour))))
	first = first.Truncate(time.Millisecond)
	evs := []events.Event{{ID: u.id + "-x1", Type: events.TypeExposure, Experiment: experiment, Variant: arm.Name, UserID: u.id,
		TS: first, Weights: weights, Control: control}}
	if r.Float64() < 0.3 { // a returning visit later the same day sees the same variant
		evs = append(evs, events.Event{ID: u.id + "-x2", Type: events.TypeExposure, Experiment: experiment, Variant: arm.Name,
			UserID: u.id, TS: first.Add(time.Duration(r.Int64N(int64(3 * time.Hour)))), Weights: weights, Control: control})
	}
	if r.Float64() >= arm.Rate {
		return evs
	}
	purchases := 1
	if r.Float64() < 0.15 {
		purchases = 2
	}
	at := first
	for k := 1; k <= purchases; k++ {
		at = at.Add(time.Minute + time.Duration(r.Int64N(int64(90*time.Minute))))
		// Order values: 20 plus an exponential tail with mean 25, in cents.
		value := math.Round((20+r.ExpFloat64()*25)*100) / 100
		evs = append(evs, events.Event{ID: fmt.Sprintf("%s-c%d", u.id, k), Type: events.TypeConversion, Experiment: experiment,
			UserID: u.id, ConversionType: Metric, Value: &value, TS: at})
	}
	return evs
}

// Tally is what the simulator sent for one variant, in the report's terms.
type Tally struct {
	Users       int64
	Converters  int64
	Conversions int64
	ValueCents  int64 // the sum of the values, in cents (exact)
	Exposures   int64
}

func (t *Tally) merge(o *Tally) {
	t.Users += o.Users
	t.Converters += o.Converters
	t.Conversions += o.Conversions
	t.ValueCents += o.ValueCents
	t.Exposures += o.Exposures
}

func (t *Tally) add(evs []events.Event) {
	t.Users++
	converted := false
	for _, e := range evs {
		switch e.Type {
		case events.TypeExposure:
			t.Exposures++
		case events.TypeConversion:
			converted = true
			t.Conversions++
			t.ValueCents += int64(math.Round(*e.Value * 100))
		}
	}
	if converted {
		t.Converters++
	}
}
