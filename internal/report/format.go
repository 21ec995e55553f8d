package report

import (
	"encoding/csv"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/flagstream/flagstream/pkg/stats"
)

// CSVHeader is the header row of WriteCSV: the report's columns, one row
// per variant. Intervals are split into _low and _high; a null is an empty
// cell; numbers are written in their shortest exact form, so each parses to
// the float64 the JSON holds. The last column, warnings, holds the codes of
// the report's warnings that concern the whole report or the row's variant,
// separated by ";" (the messages are in the JSON).
var CSVHeader = func() []string {
	h := []string{"experiment", "metric", "from", "to", "confidence", "power", "control", "variant",
		"users", "converters", "conversions", "value_sum", "rate", "rate_ci_low", "rate_ci_high",
		"value_per_user", "value_variance"}
	for _, block := range []string{"rate", "value"} {
		h = append(h, block+"_abs_lift", block+"_abs_ci_low", block+"_abs_ci_high",
			block+"_rel_lift", block+"_rel_ci_low", block+"_rel_ci_high")
		if block == "rate" {
			h = append(h, "rate_z")
		} else {
			h = append(h, "value_t", "value_df")
		}
		h = append(h, block+"_p_value", block+"_p_value_holm", block+"_significant",
			block+"_chance_to_beat_control", block+"_expected_loss", block+"_expected_loss_keep_control",
			block+"_sequential_p_value", block+"_sequential_ci_low", block+"_sequential_ci_high",
			block+"_mde_rel", block+"_mde_abs", block+"_users_per_arm_10pct")
	}
	return append(h, "srm_p_value", "multiple_exposures", "warnings")
}()

// WriteCSV writes the report as CSV: CSVHeader, then one row per variant in
// report order (control first; its comparison columns are empty).
func WriteCSV(w io.Writer, r Report) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(CSVHeader); err != nil {
		return err
	}
	for _, v := range r.Variants {
		row := []string{r.Experiment, r.Metric, r.From, r.To, float(r.Confidence), float(r.Power), r.Control, v.Variant,
			integer(v.Users), integer(v.Converters), integer(v.Conversions), num(v.ValueSum), num(v.Rate),
			lo(v.RateCI), hi(v.RateCI), num(v.ValuePerUser), num(v.ValueVariance)}
		var c stats.Comparison
		if v.VsControl != nil {
			c = *v.VsControl
		}
		cmp := v.VsControl != nil
		cell := func(s string) string {
			if !cmp {
				return ""
			}
			return s
		}
		for _, block := range []struct {
			lift stats.Lift
			inf  stats.Inference
			mid  []string
		}{
			{c.Rate.Lift, c.Rate.Inference, []string{num(c.Rate.Z)}},
			{c.Value.Lift, c.Value.Inference, []string{num(c.Value.T), num(c.Value.DF)}},
		} {
			row = append(row, cell(num(block.lift.AbsLift)), cell(lo(block.lift.AbsCI)), cell(hi(block.lift.AbsCI)),
				cell(num(block.lift.RelLift)), cell(lo(block.lift.RelCI)), cell(hi(block.lift.RelCI)))
			for _, m := range block.mid {
				row = append(row, cell(m))
			}
			in := block.inf
			row = append(row, cell(num(in.PValue)), cell(num(in.PValueHolm)), cell(boolean(in.Significant)),
				cell(num(in.ChanceToBeatControl)), cell(num(in.ExpectedLoss)), cell(num(in.ExpectedLossKeepControl)),
				cell(num(in.SequentialPValue)), cell(lo(in.SequentialCI)), cell(hi(in.SequentialCI)),
				cell(num(in.MDERel)), cell(num(in.MDEAbs)), cell(num(in.UsersPerArm10Pct)))
		}
		row = append(row, num(r.SRM.PValue), integer(r.MultipleExposures), warningCodes(r.Warnings, v.Variant))
		if err := cw.Write(row); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// warningCodes lists, once each, the codes of the warnings about the whole
// result or about variant, joined by ";".
func warningCodes(ws []stats.Warning, variant string) string {
	var codes []string
	for _, w := range ws {
		if (w.Variant == "" || w.Variant == variant) && !slices.Contains(codes, w.Code) {
			codes = append(codes, w.Code)
		}
	}
	return strings.Join(codes, ";")
}

func float(x float64) string { return strconv.FormatFloat(x, 'g', -1, 64) }
func integer(n int64) string { return strconv.FormatInt(n, 10) }

func num(n stats.Number) string {
	if !n.Valid {
		return ""
	}
	return float(n.Value)
}

func lo(iv stats.Interval) string {
	if !iv.Valid {
		return ""
	}
	return float(iv.Lo)
}

func hi(iv stats.Interval) string {
	if !iv.Valid {
		return ""
	}
	return float(iv.Hi)
}

func boolean(b *bool) string {
	if b == nil {
		return ""
	}
	return strconv.FormatBool(*b)
}

// WriteTable writes the report for a terminal: a heading, one line per
// variant, the sample-ratio check and the warnings.
func WriteTable(w io.Writer, r Report) error {
	fmt.Fprintf(w, "experiment %s   metric %s   %s .. %s   confidence %s   power %s   control %s\n",
		r.Experiment, orNone(r.Metric), r.From, r.To, float(r.Confidence), float(r.Power), orNone(r.Control))
	if err := WriteResultTable(w, r.Result); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "multiple exposures (left out): %d\n", r.MultipleExposures)
	return err
}

// WriteResultTable writes a stats.Result as WriteTable does (for aggregate
// stats, whose input has no experiment).
func WriteResultTable(w io.Writer, res stats.Result) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "variant\tusers\tconverters\tconversions\tvalue_sum\trate\trate_ci\tlift\tp\tp_holm\tsig\tP(beat)\tmde\tvalue/user\tvalue_lift\tvalue_p\tvalue_sig\t")
	for _, v := range res.Variants {
		cols := []string{v.Variant, integer(v.Users), integer(v.Converters), integer(v.Conversions), short(v.ValueSum),
			pct(v.Rate), ci(v.RateCI, true)}
		if c := v.VsControl; c != nil {
			cols = append(cols, rel(c.Rate.RelLift), short(c.Rate.PValue), short(c.Rate.PValueHolm), sig(c.Rate.Significant),
				pct(c.Rate.ChanceToBeatControl), rel(c.Rate.MDERel), short(v.ValuePerUser), rel(c.Value.RelLift), short(c.Value.PValue), sig(c.Value.Significant))
		} else {
			cols = append(cols, "(control)", "", "", "", "", "", short(v.ValuePerUser), "", "", "")
		}
		fmt.Fprintln(tw, strings.Join(cols, "\t")+"\t")
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "mde: the relative lift of the rate detectable with power %s at confidence %s\n", float(res.Power), float(res.Confidence))
	fmt.Fprintf(w, "sample ratio: chi2 %s, p %s", short(res.SRM.ChiSquare), short(res.SRM.PValue))
	if res.SRM.Warn {
		fmt.Fprint(w, "  MISMATCH: the split is not what the weights say; every comparison is suspect")
	}
	fmt.Fprintln(w)
	for _, wr := range res.Warnings {
		where := wr.Variant
		if where != "" {
			where = " [" + where + "]"
		}
		fmt.Fprintf(w, "warning %s%s: %s\n", wr.Code, where, wr.Message)
	}
	return nil
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

func short(n stats.Number) string {
	if !n.Valid {
		return "-"
	}
	return strconv.FormatFloat(n.Value, 'g', 4, 64)
}

func pct(n stats.Number) string {
	if !n.Valid {
		return "-"
	}
	return strconv.FormatFloat(100*n.Value, 'f', 2, 64) + "%"
}

func rel(n stats.Number) string {
	if !n.Valid {
		return "-"
	}
	return strconv.FormatFloat(100*n.Value, 'f', 2, 64) + "%"
}

func ci(iv stats.Interval, percent bool) string {
	if !iv.Valid {
		return "-"
	}
	if percent {
		return "[" + strconv.FormatFloat(100*iv.Lo, 'f', 2, 64) + ", " + strconv.FormatFloat(100*iv.Hi, 'f', 2, 64) + "]"
	}
	return iv.String()
}

func sig(b *bool) string {
	switch {
	case b == nil:
		return "-"
	case *b:
		return "yes"
	}
	return "no"
}
