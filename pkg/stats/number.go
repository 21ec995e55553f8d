package stats

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
)

// Number is a figure that may be undefined. The zero value is undefined and
// marshals as JSON null; a defined Number is always finite, so no NaN or Inf
// can reach JSON. Every undefined Number in a [Result] is explained by a
// [Warning].
type Number struct {
	Value float64
	Valid bool
}

// Num returns x as a defined Number, or an undefined one if x is NaN or ±Inf.
func Num(x float64) Number {
	return Number{Value: x, Valid: !math.IsNaN(x) && !math.IsInf(x, 0)}
}

// MarshalJSON writes the number as encoding/json writes a float64, or null.
func (n Number) MarshalJSON() ([]byte, error) {
	if !n.Valid || math.IsNaN(n.Value) || math.IsInf(n.Value, 0) {
		return []byte("null"), nil
	}
	return appendFloat(nil, n.Value), nil
}

// UnmarshalJSON reads a number or null.
func (n *Number) UnmarshalJSON(b []byte) error {
	if bytes.Equal(bytes.TrimSpace(b), []byte("null")) {
		*n = Number{}
		return nil
	}
	var x float64
	if err := json.Unmarshal(b, &x); err != nil {
		return err
	}
	*n = Num(x)
	return nil
}

// String formats the number like strconv's shortest form, or "null".
func (n Number) String() string {
	if !n.Valid {
		return "null"
	}
	return strconv.FormatFloat(n.Value, 'g', -1, 64)
}

// Interval is a confidence interval [Lo, Hi] that may be undefined; it
// marshals as a two-element JSON array or null.
type Interval struct {
	Lo, Hi float64
	Valid  bool
}

// Span returns [lo, hi] as a defined Interval, or an undefined one if either
// end is NaN or ±Inf.
func Span(lo, hi float64) Interval {
	return Interval{Lo: lo, Hi: hi, Valid: Num(lo).Valid && Num(hi).Valid}
}

// Contains reports whether the interval is defined and holds x.
func (iv Interval) Contains(x float64) bool {
	return iv.Valid && iv.Lo <= x && x <= iv.Hi
}

// MarshalJSON writes [lo, hi] or null.
func (iv Interval) MarshalJSON() ([]byte, error) {
	if !iv.Valid || !Num(iv.Lo).Valid || !Num(iv.Hi).Valid {
		return []byte("null"), nil
	}
	b := append(appendFloat([]byte{'['}, iv.Lo), ',')
	return append(appendFloat(b, iv.Hi), ']'), nil
}

// UnmarshalJSON reads [lo, hi] or null.
func (iv *Interval) UnmarshalJSON(b []byte) error {
	if bytes.Equal(bytes.TrimSpace(b), []byte("null")) {
		*iv = Interval{}
		return nil
	}
	var a []float64
	if err := json.Unmarshal(b, &a); err != nil {
		return err
	}
	if len(a) != 2 {
		return fmt.Errorf("interval has %d elements, want 2", len(a))
	}
	*iv = Span(a[0], a[1])
	return nil
}

// String formats the interval as "[lo, hi]" or "null".
func (iv Interval) String() string {
	if !iv.Valid {
		return "null"
	}
	return "[" + strconv.FormatFloat(iv.Lo, 'g', -1, 64) + ", " + strconv.FormatFloat(iv.Hi, 'g', -1, 64) + "]"
}

// appendFloat formats like encoding/json's float64 encoder: shortest
// round-trip digits, exponent only below 1e-6 or from 1e21.
func appendFloat(b []byte, f float64) []byte {
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' { // clean up e-09 to e-9
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}
