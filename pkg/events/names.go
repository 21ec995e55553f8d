package events

import (
	"fmt"
	"strings"
)

// Names are the NATS stream and subject names of one deployment: the one
// place they are made. Production uses NewNames(""); tests use a namespace of
// their own so their streams cannot meet anyone else's.
type Names struct {
	RawStream         string // events as they arrive: flagd's exposures, ingest's HTTP batches
	RawSubjects       string // the raw stream's subject filter
	AnalyticsStream   string // events ingest has counted, forwarded for the aggregator
	AnalyticsSubjects string // the analytics stream's subject filter
}

// NewNames returns the names under namespace ns: "" gives the production
// names (streams FLAGSTREAM_RAW and FLAGSTREAM_ANALYTICS, subjects
// flagstream.raw.> and flagstream.analytics.>); a namespace such as
// "T_FOO_ab12_" prefixes every stream name and subject, so a test's streams
// start with its prefix. It panics on a namespace that [CheckNamespace]
// refuses: check one that comes from configuration first.
func NewNames(ns string) Names {
	if err := CheckNamespace(ns); err != nil {
		panic("events.NewNames: " + err.Error())
	}
	return Names{
		RawStream:         ns + "FLAGSTREAM_RAW",
		RawSubjects:       ns + "flagstream.raw.>",
		AnalyticsStream:   ns + "FLAGSTREAM_ANALYTICS",
		AnalyticsSubjects: ns + "flagstream.analytics.>",
	}
}

// CheckNamespace explains why ns cannot prefix stream names and subjects (it
// may hold A–Z a–z 0–9 _ -, up to 64 characters), or returns nil.
func CheckNamespace(ns string) error {
	if len(ns) > 64 {
		return fmt.Errorf("namespace is %d characters long, the limit is 64", len(ns))
	}
	for i := 0; i < len(ns); i++ {
		c := ns[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return fmt.Errorf("namespace %q may only hold A-Z a-z 0-9 _ -", ns)
		}
	}
	return nil
}

// RawSubject is the subject an event of type t is published to on the raw
// stream, e.g. "flagstream.raw.exposure".
func (n Names) RawSubject(t Type) string { return subject(n.RawSubjects, t) }

// AnalyticsSubject is the subject ingest forwards an event of type t to,
// e.g. "flagstream.analytics.conversion".
func (n Names) AnalyticsSubject(t Type) string { return subject(n.AnalyticsSubjects, t) }

// subject puts t in place of the filter's trailing ">".
func subject(filter string, t Type) string {
	return strings.TrimSuffix(filter, ">") + string(t)
}
