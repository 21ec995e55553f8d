package events_test

import (
	"bytes"
	"encoding/json"
	"math"
	"testing"
	"time"

	"github.com/flagstream/flagstream/pkg/events"
)

func TestAppendJSONMatchesMarshal(t *testing.T) {
	weird := []string{"", "plain", `quo"te`, `back\slash`, "tab\tnew\nline\r", "\x00\x1f", "<a href='x'>&amp;</a>",
		"ünïcødé", "emoji 🎉", "\u2028\u2029", "bad \xff utf8", "\x7f del"}
	values := []float64{0, 1, -1, 99.99, 0.1, 1e-6, 1e-7, 123456789.123, 1e20, 1e21, -1e300, 5e-324, math.MaxFloat64}
	times := []time.Time{
		time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC),
		time.Date(2026, 11, 24, 10, 0, 0, 123456789, time.UTC),
		time.Date(2026, 11, 24, 10, 0, 0, 120000000, time.FixedZone("x", 3600)),
		{},
	}
	n := 0
	for i, s := range weird {
		for j, v := range values {
			for k, ts := range times {
				v := v
				e := events.Event{ID: s, Type: events.Type(weird[(i+1)%len(weird)]), Experiment: weird[(i+j)%len(weird)],
					Variant: weird[(i+k)%len(weird)], UserID: s, ConversionType: weird[(j+k)%len(weird)], Value: &v, TS: ts,
					FlagVersion: int64(j*k - 7)}
				if j%3 == 0 {
					e.Value = nil
				}
				if k%2 == 1 { // keys as strings, in json.Marshal's sorted order
					e.Weights = map[string]float64{s: v, weird[(i+j)%len(weird)]: float64(j), "z": 0.5}
				}
				if j%2 == 1 {
					e.Control = weird[(i+j+k)%len(weird)]
				}
				checkAppendJSON(t, e)
				n++
			}
		}
	}
	for _, bad := range []events.Event{
		{Value: ptr(math.NaN())}, {Value: ptr(math.Inf(1))}, {Weights: map[string]float64{"a": math.NaN()}}, {TS: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)},
	} {
		if _, err := bad.AppendJSON(nil); err == nil {
			t.Errorf("AppendJSON(%+v) = nil error, want json.Marshal's", bad)
		}
	}
}

func checkAppendJSON(t *testing.T, e events.Event) {
	t.Helper()
	want, wantErr := json.Marshal(e)
	got, err := e.AppendJSON([]byte("prefix"))
	if (err != nil) != (wantErr != nil) {
		t.Fatalf("AppendJSON(%+v) error %v, json.Marshal %v", e, err, wantErr)
	}
	if err == nil && !bytes.Equal(got, append([]byte("prefix"), want...)) {
		t.Fatalf("AppendJSON =\n%s\njson.Marshal =\nprefix%s", got, want)
	}
}

func FuzzAppendJSON(f *testing.F) {
	f.Add("01J", "exposure", "exp", "control", "user_789", "", 99.99, int64(1764000000123456789), int64(3))
	f.Add("<&>", "\x00", "ü", "\u2028", "bad\xff", "buy", 1e-9, int64(-5), int64(-1))
	f.Fuzz(func(t *testing.T, id, typ, exp, variant, user, ct string, value float64, unixNano, version int64) {
		e := events.Event{ID: id, Type: events.Type(typ), Experiment: exp, Variant: variant, UserID: user, ConversionType: ct,
			Value: &value, TS: time.Unix(0, unixNano).UTC(), FlagVersion: version}
		checkAppendJSON(t, e)
		e.Value = nil
		checkAppendJSON(t, e)
	})
}
