package stats

import "testing"

func TestChiSquareTail(t *testing.T) {
	t.Parallel()
	textbook := []struct{ x, df, want float64 }{ // critical values at 5%
		{3.841458820694124, 1, 0.05},
		{5.991464547107979, 2, 0.05},
		{7.814727903251178, 3, 0.05},
		{18.307038053275146, 10, 0.05},
	}
	for _, tt := range textbook {
		if got := ChiSquareTail(tt.x, tt.df); relErr(got, tt.want) > 1e-13 {
			t.Errorf("ChiSquareTail(%v, %v) = %.17g, want %v", tt.x, tt.df, got, tt.want)
		}
	}
	// Against the closed forms summed in math/big, into far tails.
	for _, k := range []int{1, 2, 3, 4, 5, 7, 10, 31, 100} {
		for _, x := range []float64{0.001, 0.5, 1, 3, 7.5, 20, 50, 120, 400, 1200} {
			want := refChiSquareTail(x, k)
			if want < 1e-300 {
				continue
			}
			if got := ChiSquareTail(x, float64(k)); relErr(got, want) > 1e-12 {
				t.Errorf("ChiSquareTail(%v, %d) = %.17g, want %.17g (rel err %.1e)", x, k, got, want, relErr(got, want))
			}
		}
	}
	if got := ChiSquareTail(0, 3); got != 1 {
		t.Errorf("ChiSquareTail(0, 3) = %v, want 1", got)
	}
}
