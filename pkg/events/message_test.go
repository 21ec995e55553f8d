package events_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/flagstream/flagstream/pkg/events"
)

func packTestEvents(n int) []events.Event {
	ts := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	evs := make([]events.Event, n)
	for i := range evs {
		if i%3 == 2 {
			evs[i] = events.Event{Type: events.TypeConversion, Experiment: "exp", UserID: fmt.Sprintf("u%d", i), ConversionType: "purchase", TS: ts}
		} else {
			evs[i] = events.Event{Type: events.TypeExposure, Experiment: "exp", Variant: "control", UserID: fmt.Sprintf("u%d", i), TS: ts}
		}
		evs[i].ID = fmt.Sprintf("id-%04d", i)
	}
	return evs
}

// Packing keeps each type on its own subject, respects both limits, and
// unpacking gives back every event, in order within its type, with bytes
// that can be forwarded as they are.
func TestPackRoundTrip(t *testing.T) {
	names := events.NewNames("")
	evs := packTestEvents(1000)
	lim := events.MessageLimits{Events: 100, Bytes: 8 << 10}
	msgs, err := events.Pack(names.RawSubject, lim, evs)
	if err != nil {
		t.Fatal(err)
	}
	var got []events.Event
	total := 0
	for _, m := range msgs {
		if m.Events > lim.Events || len(m.Data) > lim.Bytes {
			t.Errorf("message of %d events, %d bytes: over %+v", m.Events, len(m.Data), lim)
		}
		nm := m.NATS()
		if nm.Header.Get(nats.MsgIdHdr) != m.ID || nm.Header.Get(events.HeaderFormat) != "1" || nm.Header.Get(events.HeaderContentType) != events.ContentTypeNDJSON {
			t.Errorf("headers %v for message %s", nm.Header, m.ID)
		}
		dec, lines, bad, err := events.DecodeMessage(nm.Header, nm.Data)
		if err != nil || len(bad) > 0 || len(dec) != m.Events {
			t.Fatalf("decode: %v %v, %d of %d events", err, bad, len(dec), m.Events)
		}
		for i := range dec {
			if m.Subject != names.RawSubject(dec[i].Type) {
				t.Errorf("%s event on %s", dec[i].Type, m.Subject)
			}
			want, _ := dec[i].AppendJSON(nil)
			if string(lines[i]) != string(want) {
				t.Errorf("line %q, want %q", lines[i], want)
			}
		}
		got = append(got, dec...)
		total += m.Events
	}
	if total != len(evs) || len(got) != len(evs) {
		t.Fatalf("%d events in messages, %d decoded; want %d", total, len(got), len(evs))
	}
	seen := map[string]bool{}
	for _, e := range got {
		seen[e.ID] = true
	}
	if len(seen) != len(evs) {
		t.Errorf("%d distinct ids back, want %d", len(seen), len(evs))
	}
}

// A batch's id depends on its events' ids alone: the same batch packed
// again gets the same id (JetStream drops the retry), another batch another
// id; a message of one event keeps that event's id.
func TestPackIDs(t *testing.T) {
	names := events.NewNames("")
	evs := packTestEvents(6)[:2] // two exposures
	a, _ := events.Pack(names.RawSubject, events.MessageLimits{}, evs)
	b, _ := events.Pack(names.RawSubject, events.MessageLimits{}, evs)
	if len(a) != 1 || a[0].ID != b[0].ID || !strings.HasPrefix(a[0].ID, "b") {
		t.Fatalf("ids %+v and %+v", a, b)
	}
	other := append([]events.Event(nil), evs...)
	other[1].ID = "id-other"
	c, _ := events.Pack(names.RawSubject, events.MessageLimits{}, other)
	if c[0].ID == a[0].ID {
		t.Errorf("different events, same batch id %s", c[0].ID)
	}
	one, _ := events.Pack(names.RawSubject, events.MessageLimits{}, evs[:1])
	if one[0].ID != evs[0].ID {
		t.Errorf("single-event message id %q, want the event's %q", one[0].ID, evs[0].ID)
	}
}

// Messages from publishers that are not ours: one event object (compact or
// pretty-printed), or an array; an event without an id gets its content id,
// and its bytes are not forwarded as they are (the id must be added).
func TestDecodeForeignMessages(t *testing.T) {
	ts := "2026-12-01T10:00:00Z"
	pretty := "{\n  \"id\": \"x1\",\n  \"type\": \"exposure\",\n  \"experiment\": \"exp\",\n  \"variant\": \"a\",\n  \"user_id\": \"u1\",\n  \"ts\": \"" + ts + "\"\n}"
	compact := `{"id":"x2","type":"exposure","experiment":"exp","variant":"a","user_id":"u2","ts":"` + ts + `"}`
	noID := `{"type":"conversion","user_id":"u3","conversion_type":"purchase","ts":"` + ts + `"}`
	for _, tc := range []struct {
		name, body string
		ids        []string
		asIs       []bool
	}{
		{"pretty object", pretty, []string{"x1"}, []bool{false}},
		{"compact object", compact, []string{"x2"}, []bool{true}},
		{"array", "[" + compact + "," + noID + "]", []string{"x2", ""}, []bool{true, false}},
	} {
		evs, lines, bad, err := events.DecodeMessage(nil, []byte(tc.body))
		if err != nil || len(bad) > 0 || len(evs) != len(tc.ids) {
			t.Fatalf("%s: %v %v, %d events", tc.name, err, bad, len(evs))
		}
		for i, e := range evs {
			if tc.ids[i] != "" && e.ID != tc.ids[i] || e.ID == "" {
				t.Errorf("%s: event %d id %q, want %q", tc.name, i, e.ID, tc.ids[i])
			}
			if (lines[i] != nil) != tc.asIs[i] {
				t.Errorf("%s: event %d forwarded as is: %v, want %v", tc.name, i, lines[i] != nil, tc.asIs[i])
			}
		}
	}
}

// One bad line in a batch is reported by position and does not take its
// neighbours down; a format newer than this build is refused as a whole,
// never read as something else.
func TestDecodeMessageBadItemsAndVersions(t *testing.T) {
	names := events.NewNames("")
	msgs, _ := events.Pack(names.RawSubject, events.MessageLimits{}, packTestEvents(6)[:2])
	m := msgs[0].NATS()
	m.Data = append(m.Data, []byte("{\"type\":\"click\",\"user_id\":\"u\"}\nnot json\n")...)
	evs, _, bad, err := events.DecodeMessage(m.Header, m.Data)
	if err != nil || len(evs) != 2 || len(bad) != 2 || bad[0].Index != 2 || bad[0].Field != "type" || bad[1].Index != 3 {
		t.Fatalf("got %d events, bad %v, err %v", len(evs), bad, err)
	}
	m.Header.Set(events.HeaderFormat, "2")
	if _, _, _, err := events.DecodeMessage(m.Header, m.Data); !errors.Is(err, events.ErrFormatVersion) {
		t.Errorf("format 2: %v, want ErrFormatVersion", err)
	}
	if _, _, _, err := events.DecodeMessage(nil, []byte(`[{"id":"a"`)); err == nil {
		t.Error("an unbalanced array decoded")
	}
}

// Zero limits take the defaults; before any connection, Fit keeps batches
// modest (against a real server: TestPublisherDropsWhatNATSRefuses).
func TestMessageLimitsDefaults(t *testing.T) {
	if l := (events.MessageLimits{}).Fit(nil); l.Events != events.DefaultMessageEvents || l.Bytes != 64<<10-256 {
		t.Errorf("limits before any connection %+v, want the default count and 64 KiB less header room", l)
	}
}
