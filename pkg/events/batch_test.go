package events_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/oklog/ulid/v2"

	"github.com/flagstream/flagstream/pkg/events"
)

const (
	goodExposure   = `{"type":"exposure","experiment":"exp","variant":"control","user_id":"u1","ts":"2026-11-24T11:00:00Z","flag_version":3}`
	goodConversion = `{"type":"conversion","experiment":"exp","user_id":"u1","conversion_type":"purchase","value":9.5,"ts":"2026-11-24T11:01:00Z"}`
	withID         = `{"id":"client-id-1","type":"conversion","user_id":"u2","conversion_type":"signup","ts":"2026-11-24T11:02:00Z"}`
)

func decode(t *testing.T, body string, max int) ([]events.Event, []*events.FieldError) {
	t.Helper()
	valid, invalid, err := events.DecodeBatch(strings.NewReader(body), now, events.Window{}, max)
	if err != nil {
		t.Fatalf("DecodeBatch: %v", err)
	}
	return valid, invalid
}

func TestDecodeBatchArrayAndNDJSON(t *testing.T) {
	bodies := map[string]string{
		"array":               "[" + goodExposure + "," + goodConversion + "," + withID + "]",
		"array, spaced":       "\n [\n\t" + goodExposure + " ,\n " + goodConversion + "\r\n,\n" + withID + "\n] \n",
		"ndjson":              goodExposure + "\n" + goodConversion + "\n" + withID + "\n",
		"ndjson, CRLF":        goodExposure + "\r\n" + goodConversion + "\r\n" + withID,
		"ndjson, blank lines": "\n\n" + goodExposure + "\n\n   \n" + goodConversion + "\n\t\n" + withID + "\n\n",
		"with a BOM":          "\xef\xbb\xbf" + goodExposure + "\n" + goodConversion + "\n" + withID,
	}
	for name, body := range bodies {
		t.Run(name, func(t *testing.T) {
			valid, invalid := decode(t, body, 0)
			if len(invalid) != 0 || len(valid) != 3 {
				t.Fatalf("got %d valid, invalid %v; want 3 valid", len(valid), invalid)
			}
			if valid[0].Type != events.TypeExposure || valid[0].Variant != "control" || valid[0].FlagVersion != 3 ||
				valid[1].Type != events.TypeConversion || valid[1].ValueOrDefault() != 9.5 ||
				valid[2].ValueOrDefault() != 1 || valid[2].UserID != "u2" {
				t.Errorf("decoded %+v", valid)
			}
			if valid[2].ID != "client-id-1" {
				t.Errorf("a given id was replaced: %q", valid[2].ID)
			}
			for _, e := range valid[:2] {
				if _, err := ulid.ParseStrict(e.ID); err != nil {
					t.Errorf("assigned id %q is not a ULID: %v", e.ID, err)
				}
			}
		})
	}
}

func TestDecodeBatchMixed(t *testing.T) {
	type bad struct {
		index int
		field string
	}
	tests := []struct {
		name      string
		body      string
		wantValid []string // user ids
		wantBad   []bad
	}{
		{
			name: "array",
			body: `[
				{"type":"exposure","experiment":"e","variant":"a","user_id":"ok0","ts":"2026-11-24T11:00:00Z"},
				{"type":"click","user_id":"x","ts":"2026-11-24T11:00:00Z"},
				{bad json, "with ] and , inside": "a string with \" and ]"},
				5,
				{"type":"exposure","experiment":"e","variant":"a","user_id":"ok4, with ] in it","ts":"2026-11-24T11:00:00Z"},
				null,
				,
				{"type":"conversion","user_id":"x","conversion_type":"buy","value":"9.99","ts":"2026-11-24T11:00:00Z"},
				{"type":"conversion","user_id":"x","conversion_type":"buy","ts":"2025-01-01T00:00:00Z"},
				{"type":"exposure","experiment":"e","variant":"a","user_id":"ok9","ts":"2026-11-24T11:00:00Z"},
				{"type":"exposure","experiment":"e","variant":"a","user_id":"x","ts":"2026-11-24T11:00:00Z"} {"second":"object"},
				[{"nested":[1,2,{"a":"]"}]}]
			]`,
			wantValid: []string{"ok0", "ok4, with ] in it", "ok9"},
			wantBad:   []bad{{1, "type"}, {2, ""}, {3, ""}, {5, ""}, {6, ""}, {7, "value"}, {8, "ts"}, {10, ""}, {11, ""}},
		},
		{
			name: "ndjson",
			body: "{\"type\":\"exposure\",\"experiment\":\"e\",\"variant\":\"a\",\"user_id\":\"ok0\",\"ts\":\"2026-11-24T11:00:00Z\"}\n" +
				"\n" +
				"{\"type\":\"exposure\",\"experiment\":\"e:x\",\"variant\":\"a\",\"user_id\":\"x\",\"ts\":\"2026-11-24T11:00:00Z\"}\n" +
				"{\"type\":\"exposure\",\"experiment\":\"e\",\"variant\":\n" + // an object split over lines is two bad items
				"\"a\",\"user_id\":\"x\",\"ts\":\"2026-11-24T11:00:00Z\"}\n" +
				"not json at all\n" +
				"   \n" +
				"{\"type\":\"conversion\",\"user_id\":\"ok5\",\"conversion_type\":\"buy\",\"value\":0,\"ts\":\"2026-11-24T11:00:00Z\"}\n" +
				"[1,2]\n" +
				"{\"type\":\"exposure\",\"experiment\":\"e\",\"user_id\":\"x\",\"ts\":\"2026-11-24T11:00:00Z\"}\n",
			wantValid: []string{"ok0", "ok5"},
			wantBad:   []bad{{1, "experiment"}, {2, ""}, {3, ""}, {4, ""}, {6, ""}, {7, "variant"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			valid, invalid := decode(t, tt.body, 100)
			var users []string
			for _, e := range valid {
				users = append(users, e.UserID)
			}
			if !slices.Equal(users, tt.wantValid) {
				t.Errorf("valid users = %q, want %q", users, tt.wantValid)
			}
			var got []bad
			for _, fe := range invalid {
				got = append(got, bad{fe.Index, fe.Field})
				if fe.Reason == "" || !errors.Is(fe, events.ErrInvalid) {
					t.Errorf("invalid item %+v: want a reason and ErrInvalid", fe)
				}
			}
			if !slices.Equal(got, tt.wantBad) {
				t.Errorf("invalid (index, field) = %v, want %v\n%v", got, tt.wantBad, invalid)
			}
		})
	}
}

func TestDecodeBatchRefusesTheWholeBody(t *testing.T) {
	many := strings.Repeat(goodExposure+"\n", 11)
	tests := []struct {
		name string
		body string
		max  int
		want error
	}{
		{"empty", "", 10, events.ErrMalformed},
		{"blank", " \n\t\r\n ", 10, events.ErrMalformed},
		{"plain text", "hello", 10, events.ErrMalformed},
		{"a JSON string", `"exposure"`, 10, events.ErrMalformed},
		{"a JSON number", `42`, 10, events.ErrMalformed},
		{"a JSON null", `null`, 10, events.ErrMalformed},
		{"an unclosed array", "[" + goodExposure, 10, events.ErrMalformed},
		{"an unterminated string", `[{"user_id":"x}]`, 10, events.ErrMalformed},
		{"unbalanced brackets", `[{"a":[1}, {"b":2}]`, 10, events.ErrMalformed},
		{"data after the array", "[" + goodExposure + "] {}", 10, events.ErrMalformed},
		{"two arrays", "[" + goodExposure + "]\n[" + goodExposure + "]", 10, events.ErrMalformed},
		{"over the max, ndjson", many, 10, events.ErrTooMany},
		{"over the max, array", "[" + strings.TrimSuffix(strings.ReplaceAll(many, "\n", ","), ",") + "]", 10, events.ErrTooMany},
		{"over the max, bad items count too", strings.Repeat("{bad}\n", 11), 10, events.ErrTooMany},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			valid, invalid, err := events.DecodeBatch(strings.NewReader(tt.body), now, events.Window{}, tt.max)
			if !errors.Is(err, tt.want) {
				t.Fatalf("DecodeBatch() error = %v, want %v", err, tt.want)
			}
			if valid != nil || invalid != nil {
				t.Errorf("DecodeBatch() returned items with an error: %v %v", valid, invalid)
			}
			if tt.want == events.ErrTooMany && !strings.Contains(err.Error(), "10") {
				t.Errorf("error %q does not name the limit", err)
			}
		})
	}
}

func TestDecodeBatchLimits(t *testing.T) {
	exactly := strings.Repeat(goodExposure+"\n", 10)
	if valid, _ := decode(t, exactly, 10); len(valid) != 10 {
		t.Errorf("10 events with a limit of 10: got %d", len(valid))
	}
	if valid, _ := decode(t, strings.Repeat(goodExposure+"\n", 1000), 0); len(valid) != 1000 {
		t.Errorf("no limit: got %d", len(valid))
	}
	for _, body := range []string{"[]", " [ ] ", "[\n]"} {
		if valid, invalid := decode(t, body, 10); len(valid)+len(invalid) != 0 {
			t.Errorf("%q: got %v %v, want nothing", body, valid, invalid)
		}
	}
}

func TestDecodeBatchReaderErrors(t *testing.T) {
	boom := errors.New("connection reset")
	_, _, err := events.DecodeBatch(io.MultiReader(strings.NewReader("[{}"), errReader{boom}), now, events.Window{}, 10)
	if !errors.Is(err, boom) {
		t.Errorf("DecodeBatch() error = %v, want it to wrap %v", err, boom)
	}

	body := strings.Repeat(goodExposure+"\n", 100)
	r := http.MaxBytesReader(httptest.NewRecorder(), io.NopCloser(strings.NewReader(body)), 1000)
	_, _, err = events.DecodeBatch(r, now, events.Window{}, 0)
	var tooBig *http.MaxBytesError
	if !errors.As(err, &tooBig) {
		t.Errorf("DecodeBatch() error = %v, want an *http.MaxBytesError", err)
	}
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

// An event without an id gets one from its content alone: the same event
// gets the same id in any batch, at any place (a client that resends the
// failed tail of a batch in another batch counts nothing twice), and events
// that differ get different ids.
func TestDecodeBatchAssignsContentIDs(t *testing.T) {
	const n = 2000
	var body strings.Builder
	for i := range n {
		body.WriteString(strings.Replace(goodExposure, `"u1"`, fmt.Sprintf(`"u%d"`, i), 1) + "\n")
	}
	valid, _ := decode(t, body.String(), 0)
	if len(valid) != n {
		t.Fatalf("got %d valid, want %d", len(valid), n)
	}
	seen := make(map[string]bool, n)
	for _, e := range valid {
		id, err := ulid.ParseStrict(e.ID)
		if err != nil {
			t.Fatalf("id %q: %v", e.ID, err)
		}
		if id.Time() != ulid.Timestamp(e.TS) {
			t.Errorf("id %s carries %v, want the event's ts %v", e.ID, ulid.Time(id.Time()), e.TS)
		}
		if seen[e.ID] {
			t.Fatalf("id %s assigned to two different events", e.ID)
		}
		seen[e.ID] = true
	}
	// The tail resent on its own, in reverse order: the same ids.
	lines := strings.Split(strings.TrimSpace(body.String()), "\n")
	tail := lines[n/2:]
	slices.Reverse(tail)
	again, _ := decode(t, strings.Join(tail, "\n"), 0)
	for i, e := range again {
		if want := valid[n-1-i].ID; e.ID != want {
			t.Fatalf("resent event %d got id %s, first time %s", n-1-i, e.ID, want)
		}
	}
	// Identical events are one event.
	twice, _ := decode(t, goodExposure+"\n"+goodExposure, 0)
	if len(twice) != 2 || twice[0].ID != twice[1].ID {
		t.Errorf("identical events got ids %s and %s, want one", twice[0].ID, twice[1].ID)
	}
	// An event with an id keeps it.
	kept, _ := decode(t, withID, 0)
	if len(kept) != 1 || kept[0].ID == events.ContentID(&kept[0]) {
		t.Errorf("an event's own id was replaced: %+v", kept)
	}
}

// FuzzDecodeBatch: never panics; every valid event passes Validate and has an
// id; the error comes alone; and when the body is a well-formed JSON array or
// NDJSON, every item comes back, valid or invalid, with increasing indices.
func FuzzDecodeBatch(f *testing.F) {
	f.Add("[" + goodExposure + "," + goodConversion + "]")
	f.Add(goodExposure + "\n\n" + goodConversion + "\n" + withID)
	f.Add(`[{"type":"exposure"}, {bad}, 5, null, , {"a":"]\"["}]`)
	f.Add("{\"type\":\"conversion\",\"value\":1e400}\n{}\r\n[]\n")
	f.Add(`[{"ts":"2026-11-24T11:00:00+14:00","type":"exposure","experiment":"e","variant":"v","user_id":"\u0000"}]`)
	f.Add("\xef\xbb\xbf[]")
	f.Add(`[[[[`)
	f.Fuzz(func(t *testing.T, body string) {
		valid, invalid, err := events.DecodeBatch(strings.NewReader(body), now, events.Window{}, 1000)
		if err != nil {
			if valid != nil || invalid != nil {
				t.Fatalf("items returned with error %v", err)
			}
			if !errors.Is(err, events.ErrMalformed) && !errors.Is(err, events.ErrTooMany) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		ids := make(map[string]bool)
		for _, e := range valid {
			if e.ID == "" {
				t.Fatalf("valid event without an id: %+v", e)
			}
			if err := e.Validate(now, events.Window{}); err != nil {
				t.Fatalf("valid event %+v fails Validate: %v", e, err)
			}
			if _, err := json.Marshal(e); err != nil {
				t.Fatalf("valid event %+v does not encode: %v", e, err)
			}
			ids[e.ID] = true
		}
		for i, fe := range invalid {
			if fe.Reason == "" || (i > 0 && fe.Index <= invalid[i-1].Index) {
				t.Fatalf("invalid items out of order or without reason: %v", invalid)
			}
		}
		if n, ok := itemCount(body); ok && len(valid)+len(invalid) != n {
			t.Fatalf("%d valid + %d invalid, want %d items", len(valid), len(invalid), n)
		} else if ok && len(invalid) > 0 && invalid[len(invalid)-1].Index >= n {
			t.Fatalf("index %d out of range for %d items", invalid[len(invalid)-1].Index, n)
		}
	})
}

// itemCount counts a body's items without pkg/events: a well-formed JSON
// array's elements, or NDJSON's non-blank lines.
func itemCount(body string) (int, bool) {
	b := bytes.TrimPrefix([]byte(body), []byte("\xef\xbb\xbf"))
	b = bytes.TrimLeft(b, " \t\r\n")
	switch {
	case len(b) == 0:
		return 0, false
	case b[0] == '[':
		var items []json.RawMessage
		if err := json.Unmarshal(b, &items); err != nil {
			return 0, false
		}
		return len(items), true
	case b[0] == '{':
		n := 0
		for _, line := range bytes.Split(b, []byte("\n")) {
			if len(bytes.Trim(line, " \t\r\n")) > 0 {
				n++
			}
		}
		return n, true
	}
	return 0, false
}
