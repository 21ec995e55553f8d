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

// ContentID is the id DecodeBatch gives the event at index i of a batch that
// came without one: a ULID whose time is the event's ts and whose 80 random
// bits are the first bytes of SHA-256 over the index and the event's JSON.
// The same body sent twice gets the same ids; two identical events at
// different places in a batch get different ones.
func ContentID(i int, e *Event) string {
	h := sha256.New()
	var idx [8]byte
	binary.BigEndian.PutUint64(idx[:], uint64(i))
	h.Write(idx[:])
	saved := e.ID
	e.ID = ""
	b, _ := e.AppendJSON(nil)
	e.ID = saved
	h.Write(b)
	var sum [sha256.Size]byte
	var id ulid.ULID
	if err := id.SetTime(ulid.Timestamp(e.TS)); err != nil {
		_ = id.SetTime(0) // a ts before 1970 or past 10889: validation refuses those anyway
	}
	_ = id.SetEntropy(h.Sum(sum[:0])[:10])
	return id.String()
}
