package events

import (
	"encoding/json"
	"math"
	"slices"
	"strconv"
	"time"
)

// AppendJSON appends e's JSON to b: the bytes json.Marshal(e) gives, without
// its reflection and allocations (the publisher and ingest's forwarding
// encode every event). It fails only where json.Marshal fails: a NaN or
// infinite value, a year outside 0–9999.
func (e *Event) AppendJSON(b []byte) ([]byte, error) {
	b = append(b, `{"id":`...)
	b = appendString(b, e.ID)
	b = append(b, `,"type":`...)
	b = appendString(b, string(e.Type))
	if e.Experiment != "" {
		b = append(b, `,"experiment":`...)
		b = appendString(b, e.Experiment)
	}
	if e.Variant != "" {
		b = append(b, `,"variant":`...)
		b = appendString(b, e.Variant)
	}
	b = append(b, `,"user_id":`...)
	b = appendString(b, e.UserID)
	if e.ConversionType != "" {
		b = append(b, `,"conversion_type":`...)
		b = appendString(b, e.ConversionType)
	}
	if e.Value != nil {
		b = append(b, `,"value":`...)
		var err error
		if b, err = appendFloat(b, *e.Value); err != nil {
			return b, err
		}
	}
	b = append(b, `,"ts":`...)
	if y := e.TS.Year(); y < 0 || y > 9999 {
		_, err := json.Marshal(e.TS) // the same error json.Marshal(e) gives
		return b, err
	}
	b = append(b, '"')
	b = e.TS.AppendFormat(b, time.RFC3339Nano)
	b = append(b, '"')
	if e.FlagVersion != 0 {
		b = append(b, `,"flag_version":`...)
		b = strconv.AppendInt(b, e.FlagVersion, 10)
	}
	if len(e.Weights) > 0 {
		b = append(b, `,"weights":{`...)
		var small [8]string // a flag's few variants: sorted without an allocation
		names := small[:0]
		for n := range e.Weights {
			names = append(names, n)
		}
		slices.Sort(names) // the same event encodes to the same bytes
		for i, n := range names {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, n)
			b = append(b, ':')
			var err error
			if b, err = appendFloat(b, e.Weights[n]); err != nil {
				return b, err
			}
		}
		b = append(b, '}')
	}
	if e.Control != "" {
		b = append(b, `,"control":`...)
		b = appendString(b, e.Control)
	}
	return append(b, '}'), nil
}

// appendString quotes s as encoding/json does: plain ASCII directly, anything
// else (escapes, HTML characters, non-ASCII) through encoding/json itself.
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s) // a string always encodes
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// appendFloat formats f as encoding/json does.
func appendFloat(b []byte, f float64) ([]byte, error) {
	if a := math.Abs(f); a != 0 && (a < 1e-6 || a >= 1e21) || math.IsNaN(f) || math.IsInf(f, 0) {
		q, err := json.Marshal(f) // exponent form, or the error for NaN and Inf
		return append(b, q...), err
	}
	return strconv.AppendFloat(b, f, 'f', -1, 64), nil
}
