package flags_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/flagstream/flagstream/pkg/flags"
)

// A static client serves its flags as a loaded client does (evaluation,
// exposures, problems, a sorted view) and, having no Redis, answers Reload
// with ErrClosed at once instead of waiting for an update goroutine.
func TestStaticClientServesItsFlags(t *testing.T) {
	var exposed []flags.Exposure
	var problems []string
	c := flags.NewStaticClient([]*flags.Flag{
		{Key: "split", Status: flags.StatusEnabled, Version: 3,
			Variants: flags.Variants{{Name: "control", Weight: 50}, {Name: "treatment", Weight: 50}}},
		{Key: "odd", Status: "sometimes", Version: 1},
		{Key: "off", Status: flags.StatusDisabled, Version: 2},
	}, flags.ClientOptions{
		OnExposure: func(e flags.Exposure) { exposed = append(exposed, e) },
		OnProblem:  func(key string, _ error) { problems = append(problems, key) },
	})

	if got := c.View().Keys(); !slices.Equal(got, []string{"odd", "off", "split"}) {
		t.Errorf("keys = %v, want odd, off, split", got)
	}
	f, r := c.EvaluateFlag("split", flags.EvalContext{UserID: "user_1"})
	if f == nil || f.Key != "split" || r.Reason != flags.ReasonSplit || r.Version != 3 || r.Variant == "" {
		t.Errorf("split for user_1 = %+v %+v, want a SPLIT variant of version 3", f, r)
	}
	if len(exposed) != 1 || exposed[0].Variant != r.Variant || exposed[0].Control != "control" || exposed[0].Weights["treatment"] != 50 {
		t.Errorf("exposures = %+v, want one for %s with control and weights", exposed, r.Variant)
	}
	if r := c.Evaluate("off", flags.EvalContext{UserID: "user_1"}); r.Enabled || r.Reason != flags.ReasonDisabled {
		t.Errorf("off = %+v, want DISABLED", r)
	}
	if r := c.Evaluate("ghost", flags.EvalContext{}); r.ErrorCode != flags.ErrorFlagNotFound {
		t.Errorf("ghost = %+v, want FLAG_NOT_FOUND", r)
	}
	if !slices.Equal(problems, []string{"odd"}) {
		t.Errorf("problems reported for %v, want odd only", problems)
	}
	if err := c.Reload(context.Background(), "split"); !errors.Is(err, flags.ErrClosed) {
		t.Errorf("Reload = %v, want ErrClosed", err)
	}
	if err := c.Close(); err != nil {
		t.Errorf("Close = %v", err)
	}
}
