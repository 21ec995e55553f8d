package events

import (
	"crypto/sha256"
	"encoding/binary"
	"math/rand/v2"
	"time"

	"github.com/oklog/ulid/v2"
)

// NewID returns a new event id: a ULID (26 characters of Crockford base32, a
// millisecond timestamp then 80 random bits), so ids sort by the time they
// were made. It is safe for concurrent use and takes no lock: the random bits
// come from the runtime's per-thread ChaCha8 generator. Ids made within the
// same millisecond by NewID are unique but in no particular order; those
// [DecodeBatch] and the [Publisher] assign are strictly increasing.
func NewID() string {
	var id ulid.ULID
	_ = id.SetTime(ulid.Now()) // fails only after the year 10889
	binary.BigEndian.PutUint64(id[6:14], rand.Uint64())
	binary.BigEndian.PutUint16(id[14:], uint16(rand.Uint32()))
	return id.String()
}

// entropy reads from math/rand/v2's global generator, which is seeded by the
// operating system and needs no lock. Its Int63n lets ulid's monotonic reader
// take its fast path.
type entropy struct{}

func (entropy) Read(p []byte) (int, error) {
	for i := 0; i < len(p); i += 8 {
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], rand.Uint64())
		copy(p[i:], b[:])
	}
	return len(p), nil
}

func (entropy) Int63n(n int64) int64 { return rand.Int64N(n) }

// idSource makes strictly increasing ids for one goroutine (a batch, the
// publisher's loop); it is not safe for concurrent use.
type idSource struct {
	mono *ulid.MonotonicEntropy
}

func newIDSource() *idSource {
	return &idSource{mono: ulid.Monotonic(entropy{}, 0)}
}

func (s *idSource) next(now time.Time) string {
	id, err := ulid.New(ulid.Timestamp(now), s.mono)
	if err != nil { // monotonic overflow within one millisecond: practically never; stay unique
		id = ulid.MustNew(ulid.Timestamp(now), entropy{})
	}
	return id.String()
}

// EnsureID gives an event without an id its [ContentID]. Every service
// calls it before anything counts the event (ingest's HTTP intake and raw
// consumer, the aggregator), so an event that a publisher not ours sent
// without an id has one id everywhere.
func EnsureID(e *Event) {
	if e.ID == "" {
		e.ID = ContentID(e)
	}
}

// ContentID is the id of an event that came without one: a ULID whose time
// is the event's ts and whose 80 random bits are the first bytes of SHA-256
// over the event's JSON (every field but the id). It depends on the content
// only, never on where the event was in a batch, so a resend in any batch,
// at any position, at any time, gets the same id and counts once. Two events
// that differ in nothing (same type, experiment, variant, user, conversion
// type, value, ts to the nanosecond, flag version, weights, control) are one event:
// a sender whose events can be identical must send ids.
func ContentID(e *Event) string {
	saved := e.ID
	e.ID = ""
	b, _ := e.AppendJSON(nil)
	e.ID = saved
	sum := sha256.Sum256(b)
	var id ulid.ULID
	if err := id.SetTime(ulid.Timestamp(e.TS)); err != nil {
		_ = id.SetTime(0) // a ts before 1970 or past 10889: validation refuses those anyway
	}
	_ = id.SetEntropy(sum[:10])
	return id.String()
}
