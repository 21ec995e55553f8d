package events_test

import (
	"testing"

	"github.com/flagstream/flagstream/pkg/events"
)

func TestNames(t *testing.T) {
	tests := []struct {
		ns   string
		want events.Names
		raw  string
		ana  string
	}{
		{"", events.Names{RawStream: "FLAGSTREAM_RAW", RawSubjects: "flagstream.raw.>",
			AnalyticsStream: "FLAGSTREAM_ANALYTICS", AnalyticsSubjects: "flagstream.analytics.>"},
			"flagstream.raw.exposure", "flagstream.analytics.exposure"},
		{"T_FOO_ab12_", events.Names{RawStream: "T_FOO_ab12_FLAGSTREAM_RAW", RawSubjects: "T_FOO_ab12_flagstream.raw.>",
			AnalyticsStream: "T_FOO_ab12_FLAGSTREAM_ANALYTICS", AnalyticsSubjects: "T_FOO_ab12_flagstream.analytics.>"},
			"T_FOO_ab12_flagstream.raw.exposure", "T_FOO_ab12_flagstream.analytics.exposure"},
	}
	for _, tt := range tests {
		n := events.NewNames(tt.ns)
		if n != tt.want {
			t.Errorf("NewNames(%q) = %+v, want %+v", tt.ns, n, tt.want)
		}
		if got := n.RawSubject(events.TypeExposure); got != tt.raw {
			t.Errorf("RawSubject(exposure) = %q, want %q", got, tt.raw)
		}
		if got := n.AnalyticsSubject(events.TypeExposure); got != tt.ana {
			t.Errorf("AnalyticsSubject(exposure) = %q, want %q", got, tt.ana)
		}
	}
	if got, want := events.NewNames("").RawSubject(events.TypeConversion), "flagstream.raw.conversion"; got != want {
		t.Errorf("RawSubject(conversion) = %q, want %q", got, want)
	}
}

func TestCheckNamespace(t *testing.T) {
	for _, ns := range []string{"", "T_X_", "t-1_"} {
		if err := events.CheckNamespace(ns); err != nil {
			t.Errorf("CheckNamespace(%q) = %v", ns, err)
		}
	}
	for _, ns := range []string{"a.b", "a b", "a>", "a*", string(make([]byte, 65))} {
		if events.CheckNamespace(ns) == nil {
			t.Errorf("CheckNamespace(%q) = nil, want an error", ns)
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("NewNames with a dotted namespace did not panic")
		}
	}()
	events.NewNames("a.b")
}
