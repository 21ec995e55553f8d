package simulate

import (
	"fmt"

	"github.com/flagstream/flagstream/pkg/stats"
)

// Finding is what the report concluded about one treatment, next to the
// truth the simulation planted.
type Finding struct {
	Variant     string
	TrueRelLift float64 // planted: rate / control rate − 1
	RelLift     stats.Number
	RelCI       stats.Interval
	PValueHolm  stats.Number
	Significant bool
	Correct     bool // significant with the right sign when there is an effect; not significant when there is none
}

// Findings compares the report's rate tests with the arms' true rates. The
// first arm is the control.
func (r *Result) Findings() ([]Finding, error) {
	arms := r.Arms
	if len(arms) < 2 {
		return nil, fmt.Errorf("an experiment needs a control and a treatment")
	}
	control := arms[0]
	var out []Finding
	for _, a := range arms[1:] {
		f := Finding{Variant: a.Name, TrueRelLift: a.Rate/control.Rate - 1}
		var vr *stats.VariantResult
		for i := range r.Report.Variants {
			if r.Report.Variants[i].Variant == a.Name {
				vr = &r.Report.Variants[i]
			}
		}
		if vr == nil || vr.VsControl == nil {
			return nil, fmt.Errorf("the report has no comparison for %s", a.Name)
		}
		t := vr.VsControl.Rate
		f.RelLift, f.RelCI, f.PValueHolm = t.RelLift, t.RelCI, t.PValueHolm
		f.Significant = t.Significant != nil && *t.Significant
		switch {
		case a.Rate == control.Rate:
			f.Correct = !f.Significant
		case a.Rate > control.Rate:
			f.Correct = f.Significant && t.RelLift.Valid && t.RelLift.Value > 0
		default:
			f.Correct = f.Significant && t.RelLift.Valid && t.RelLift.Value < 0
		}
		out = append(out, f)
	}
	return out, nil
}

// String is one line for a terminal.
func (f Finding) String() string {
	verdict := "correct"
	if !f.Correct {
		verdict = "WRONG"
	}
	call := "no significant difference"
	if f.Significant {
		call = "significant"
	}
	return fmt.Sprintf("%-10s planted %+5.1f%%  found %s (CI %s), Holm p %s: %s — %s",
		f.Variant, 100*f.TrueRelLift, pct(f.RelLift), ciPct(f.RelCI), pval(f.PValueHolm), call, verdict)
}

func pct(n stats.Number) string {
	if !n.Valid {
		return "—"
	}
	return fmt.Sprintf("%+.1f%%", 100*n.Value)
}

func ciPct(iv stats.Interval) string {
	if !iv.Valid {
		return "—"
	}
	return fmt.Sprintf("%+.1f%% .. %+.1f%%", 100*iv.Lo, 100*iv.Hi)
}

func pval(n stats.Number) string {
	if !n.Valid {
		return "—"
	}
	return fmt.Sprintf("%.3g", n.Value)
}
