package events

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// DecodeBatch reads a batch of events: a JSON array, or NDJSON (one event a
// line; blank lines are skipped and not counted), told apart by the first
// byte that is not white space. Each item is decoded and validated on its
// own: valid events come back in order, with an id ([NewID]-style, strictly
// increasing within the batch) where they had none; invalid ones come back
// as [*FieldError]s whose Index is the item's position among the batch's
// items (blank NDJSON lines excluded). A malformed item never takes its
// neighbours down; an array whose brackets or strings do not balance cannot
// be split into items and is refused whole with [ErrMalformed].
//
// The error is non-nil only when no item was taken: the reader failed (its
// error is wrapped, so an *http.MaxBytesError survives), the body is neither
// an array nor NDJSON ([ErrMalformed]), or it holds more than maxEvents items
// ([ErrTooMany]; maxEvents <= 0 means no limit). w is the window for ts (see
// [Event.Validate]).
//
// An event without an id gets one derived from its content alone
// ([ContentID]), so a sender that resends it after a lost answer or a 503,
// in the same body or another, gets the same id, and nothing counts twice.
func DecodeBatch(r io.Reader, now time.Time, w Window, maxEvents int) (valid []Event, invalid []*FieldError, err error) {
	body, err := io.ReadAll(r)
	if err != nil {
		return nil, nil, fmt.Errorf("read batch: %w", err)
	}
	items, err := splitBatch(body, maxEvents)
	if err != nil {
		return nil, nil, err
	}
	w = w.withDefaults()
	valid = make([]Event, 0, len(items))
	for i, item := range items {
		var e Event
		fe := decodeItem(item, &e)
		if fe == nil {
			fe = e.check(now, w)
		}
		if fe != nil {
			fe.Index = i
			invalid = append(invalid, fe)
			continue
		}
		EnsureID(&e)
		valid = append(valid, e)
	}
	return valid, invalid, nil
}

// jsonSpace is JSON's white space.
const jsonSpace = " \t\r\n"

var utf8BOM = []byte("\xef\xbb\xbf")

// splitBatch cuts a body into its items, without decoding them.
func splitBatch(body []byte, maxEvents int) ([][]byte, error) {
	body = bytes.TrimPrefix(body, utf8BOM)
	start := len(body) - len(bytes.TrimLeft(body, jsonSpace))
	if start == len(body) {
		return nil, fmt.Errorf("%w: the body is empty; want a JSON array or NDJSON of events", ErrMalformed)
	}
	switch body[start] {
	case '[':
		return splitArray(body[start:], maxEvents)
	case '{':
		return splitLines(body[start:], maxEvents)
	}
	return nil, fmt.Errorf("%w: the body starts with %q; want a JSON array or NDJSON of events", ErrMalformed, body[start])
}

func tooMany(maxEvents int) error {
	return fmt.Errorf("%w: the limit is %d", ErrTooMany, maxEvents)
}

// splitArray cuts "[a, b, ...]" at the commas between top-level items. It
// tracks strings and nesting only, so a malformed item (bad syntax inside
// balanced brackets) still has neighbours that decode.
func splitArray(body []byte, maxEvents int) ([][]byte, error) {
	var (
		items     [][]byte
		depth     int
		inString  bool
		escaped   bool
		itemStart = 1
	)
	add := func(end int) error {
		if maxEvents > 0 && len(items) == maxEvents {
			return tooMany(maxEvents)
		}
		items = append(items, bytes.Trim(body[itemStart:end], jsonSpace))
		itemStart = end + 1
		return nil
	}
	for i := 1; i < len(body); i++ {
		c := body[i]
		if inString {
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
			continue
		}
		switch c {
		case '"':
			inString = true
		case '{', '[':
			depth++
		case '}':
			if depth > 0 {
				depth--
			}
		case ']':
			if depth > 0 {
				depth--
				continue
			}
			if len(items) > 0 || len(bytes.Trim(body[itemStart:i], jsonSpace)) > 0 {
				if err := add(i); err != nil {
					return nil, err
				}
			}
			if rest := bytes.Trim(body[i+1:], jsonSpace); len(rest) > 0 {
				return nil, fmt.Errorf("%w: %d bytes follow the array's closing bracket", ErrMalformed, len(rest))
			}
			return items, nil
		case ',':
			if depth == 0 {
				if err := add(i); err != nil {
					return nil, err
				}
			}
		}
	}
	return nil, fmt.Errorf("%w: the array does not end (unbalanced brackets or an unterminated string)", ErrMalformed)
}

// splitLines cuts NDJSON into its non-blank lines.
func splitLines(body []byte, maxEvents int) ([][]byte, error) {
	items := make([][]byte, 0, bytes.Count(body, []byte{'\n'})+1)
	for len(body) > 0 {
		line, rest, _ := bytes.Cut(body, []byte{'\n'})
		body = rest
		if line = bytes.Trim(line, jsonSpace); len(line) == 0 {
			continue
		}
		if maxEvents > 0 && len(items) == maxEvents {
			return nil, tooMany(maxEvents)
		}
		items = append(items, line)
	}
	return items, nil
}

// decodeItem decodes one item into e, or says why it cannot (Index unset).
func decodeItem(item []byte, e *Event) *FieldError {
	switch string(item) {
	case "":
		return &FieldError{Reason: "is empty; want a JSON object"}
	case "null":
		return &FieldError{Reason: "is null; want a JSON object"}
	}
	err := e.UnmarshalJSON(item)
	if err == nil {
		return nil
	}
	var fe *FieldError
	if errors.As(err, &fe) {
		return &FieldError{Field: fe.Field, Reason: fe.Reason}
	}
	return &FieldError{Reason: err.Error()}
}

// decodeError turns an encoding/json error into a [*FieldError] (Index -1)
// that names the field, in words a sender understands.
func decodeError(err error) error {
	var (
		se  *json.SyntaxError
		ute *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &se):
		return &FieldError{Index: -1, Reason: "is not valid JSON: " + se.Error()}
	case errors.As(err, &ute):
		field := ute.Field
		if i := strings.LastIndexByte(field, '.'); i >= 0 {
			field = field[i+1:]
		}
		if field == "" {
			return &FieldError{Index: -1, Reason: "is a JSON " + ute.Value + "; want a JSON object"}
		}
		return &FieldError{Index: -1, Field: field, Reason: typeReason(field, ute)}
	}
	return err
}

// typeReason explains a JSON value of the wrong type for a field.
func typeReason(field string, ute *json.UnmarshalTypeError) string {
	got := ute.Value
	kind := ute.Type.Kind()
	if kind == reflect.Pointer {
		kind = ute.Type.Elem().Kind()
	}
	num, isNum := strings.CutPrefix(got, "number ")
	switch {
	case field == "ts":
		return "must be an RFC 3339 time string, not a JSON " + got
	case kind == reflect.String:
		return "must be a string, not a JSON " + got
	case kind == reflect.Float64 && isNum:
		return "is out of range"
	case kind == reflect.Float64:
		return "must be a number, not a JSON " + got
	case kind == reflect.Int64 && isNum:
		if f, err := strconv.ParseFloat(num, 64); err == nil && f != math.Trunc(f) {
			return "must be a whole number"
		}
		return "is out of range"
	case kind == reflect.Int64:
		return "must be a whole number, not a JSON " + got
	}
	return "has the wrong type: a JSON " + got
}
