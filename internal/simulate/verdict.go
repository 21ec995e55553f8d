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

// Dilution is, for one treatment, the rate lift the report found (exposure
// on use) next to the lift a report would have found had bulk evaluation
// exposed every user who fetched the flags (bystanders included).
type Dilution struct {
	Variant     string
	TrueRelLift float64
	OnUse       stats.Number // the report's
	Diluted     stats.Number
	DilutedCI   stats.Interval
	DilutedP    stats.Number
}

// Dilutions computes the diluted comparison from what was sent
// (Result.Diluted) with the report's own statistics.
func (r *Result) Dilutions() ([]Dilution, error) {
	findings, err := r.Findings()
	if err != nil {
		return nil, err
	}
	in := stats.Input{}
	for _, a := range r.Arms {
		t := r.Diluted[a.Name]
		if t == nil {
			t = &Tally{}
		}
		in.Variants = append(in.Variants, stats.Counts{Variant: a.Name, Users: t.Users, Converters: t.Converters, Conversions: t.Conversions})
	}
	res := stats.Compare(in)
	var out []Dilution
	for i, f := range findings {
		vs := res.Variants[i+1].VsControl
		if vs == nil {
			return nil, fmt.Errorf("no diluted comparison for %s", f.Variant)
		}
		out = append(out, Dilution{Variant: f.Variant, TrueRelLift: f.TrueRelLift, OnUse: f.RelLift,
			Diluted: vs.Rate.RelLift, DilutedCI: vs.Rate.RelCI, DilutedP: vs.Rate.PValue})
	}
	return out, nil
}

// String is one line for a terminal.
func (d Dilution) String() string {
	return fmt.Sprintf("%-10s planted %+5.1f%%  exposure on use (the report) %s;  bulk exposes everyone who fetched %s (CI %s), p %s",
		d.Variant, 100*d.TrueRelLift, pct(d.OnUse), pct(d.Diluted), ciPct(d.DilutedCI), pval(d.DilutedP))
}
