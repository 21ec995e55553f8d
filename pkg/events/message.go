package events

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"mime"
	"strconv"

	"github.com/nats-io/nats.go"
)

// Stream messages carry events in batches: one JetStream message holds up
// to [MessageLimits] events of one type, as NDJSON (one event a line,
// encoded by [Event.AppendJSON]), so that nats-server's per-message cost —
// the largest cost per event before batching — is paid once per batch. The
// format is named by two headers, so that a reader tells it from the
// single-event messages any publisher may send (docs/DESIGN.md, "Stream
// messages"):
//
//	Content-Type: application/x-ndjson
//	Flagstream-Format: 1
//
// A message without them holds one JSON value: an event object (the
// pre-batch format, and what a third-party publisher sends) or a JSON array
// of events. A newer Flagstream-Format than this code knows is refused with
// [ErrFormatVersion], which readers hand back rather than drop: a newer
// instance of the same service reads it.
const (
	HeaderContentType = "Content-Type"
	HeaderFormat      = "Flagstream-Format"
	ContentTypeNDJSON = "application/x-ndjson"
	FormatVersion     = 1
)

// ErrFormatVersion: a message in a batch format newer than this code's.
var ErrFormatVersion = errors.New("stream message format not understood")

// MessageLimits bound one stream message.
type MessageLimits struct {
	Events int // events per message; default DefaultMessageEvents
	Bytes  int // bytes of body per message; default DefaultMessageBytes
}

// Defaults of [MessageLimits]: 500 exposures of about 300 bytes are about
// 150 KiB, well under nats-server's default max_payload of 1 MiB.
const (
	DefaultMessageEvents = 500
	DefaultMessageBytes  = 256 << 10
)

func (l MessageLimits) withDefaults() MessageLimits {
	if l.Events <= 0 {
		l.Events = DefaultMessageEvents
	}
	if l.Bytes <= 0 {
		l.Bytes = DefaultMessageBytes
	}
	return l
}

// Fit lowers l.Bytes to what nc's server takes in one message (its
// max_payload, less room for the headers), so that a batch is never refused
// for its size; an event too big on its own still goes alone, and NATS
// refuses it alone.
func (l MessageLimits) Fit(nc *nats.Conn) MessageLimits {
	l = l.withDefaults()
	mp := unknownMaxPayload // before the first connection the server's limit is not known
	if nc != nil && nc.MaxPayload() > 0 {
		mp = int(nc.MaxPayload())
	}
	if mp -= headerRoom; mp > 0 && mp < l.Bytes {
		l.Bytes = mp
	}
	return l
}

// headerRoom is what a batch's headers and framing take at most.
const headerRoom = 256

// unknownMaxPayload is what Fit assumes before the client has ever
// connected (flagd buffering exposures while NATS is away at its start): a
// modest size, so that no batch packed then is over a small server's limit
// (which would refuse it whole).
const unknownMaxPayload = 64 << 10

// Message is one stream message ready to publish.
type Message struct {
	Subject string
	ID      string // the Nats-Msg-Id: see [Packer]
	Data    []byte // NDJSON, one event a line
	Events  int
}

// NATS returns m as a message to publish, headers set. A message of one
// event goes without the batch headers, in the single-event format every
// reader takes: fewer bytes for the server to parse where a batch saves
// nothing.
func (m *Message) NATS() *nats.Msg {
	if m.Events == 1 {
		return &nats.Msg{Subject: m.Subject, Data: m.Data, Header: nats.Header{nats.MsgIdHdr: []string{m.ID}}}
	}
	h := make(nats.Header, 3)
	h[HeaderContentType] = []string{ContentTypeNDJSON}
	h[HeaderFormat] = []string{formatVersion}
	h[nats.MsgIdHdr] = []string{m.ID}
	return &nats.Msg{Subject: m.Subject, Data: m.Data, Header: h}
}

var formatVersion = strconv.Itoa(FormatVersion)

// Packer builds stream messages from encoded events, one open message per
// event type (a message's subject names its events' type, so that a
// consumer filtering by subject still sees only that type). A message's id
// is derived from the ids of its events, in order: a batch published again
// (a retry after a lost ack) is dropped by JetStream's duplicate window, and
// past the window every event still counts once, since Redis and ClickHouse
// deduplicate by event id. A message of one event takes that event's id, as
// before batching.
type Packer struct {
	subject func(Type) string
	lim     MessageLimits
	open    [len(Types)]building
	done    []Message
}

type building struct {
	data  []byte
	n     int
	first string
	ids   hash.Hash
}

// NewPacker returns a packer for the subjects subject gives each type.
func NewPacker(subject func(Type) string, lim MessageLimits) *Packer {
	return &Packer{subject: subject, lim: lim.withDefaults()}
}

func typeIndex(t Type) int {
	if t == TypeConversion {
		return 1
	}
	return 0
}

// Add appends one event, encoded (its JSON, no newline), to the open
// message of its type, closing that message first if the event would not
// fit.
func (p *Packer) Add(t Type, id string, encoded []byte) {
	b := &p.open[typeIndex(t)]
	if b.n > 0 && (b.n >= p.lim.Events || len(b.data)+len(encoded)+1 > p.lim.Bytes) {
		p.close(t)
	}
	if b.n == 0 {
		b.first = id
		if b.ids == nil {
			b.ids = sha256.New()
		}
		b.ids.Reset()
		b.data = make([]byte, 0, 2*len(encoded)+2) // appends double it: at most twice the message's size
	}
	b.ids.Write([]byte(id))
	b.ids.Write([]byte{'\n'})
	b.data = append(b.data, encoded...)
	b.data = append(b.data, '\n')
	b.n++
}

// AddEvent encodes e and adds it; it fails only where [Event.AppendJSON]
// does, and then adds nothing.
func (p *Packer) AddEvent(e *Event, scratch []byte) ([]byte, error) {
	scratch, err := e.AppendJSON(scratch[:0])
	if err != nil {
		return scratch, err
	}
	p.Add(e.Type, e.ID, scratch)
	return scratch, nil
}

func (p *Packer) close(t Type) {
	b := &p.open[typeIndex(t)]
	if b.n == 0 {
		return
	}
	id := b.first
	if b.n > 1 {
		var sum [sha256.Size]byte
		id = "b" + hex.EncodeToString(b.ids.Sum(sum[:0])[:16])
	}
	p.done = append(p.done, Message{Subject: p.subject(t), ID: id, Data: b.data, Events: b.n})
	b.data, b.n, b.first = nil, 0, ""
}

// Flush closes the open messages and returns every message built since the
// last Flush, in the order they were closed.
func (p *Packer) Flush() []Message {
	for _, t := range Types {
		p.close(t)
	}
	out := p.done
	p.done = nil
	return out
}

// Pack packs evs (each with an id) into messages.
func Pack(subject func(Type) string, lim MessageLimits, evs []Event) ([]Message, error) {
	p := NewPacker(subject, lim)
	var buf []byte
	for i := range evs {
		var err error
		if buf, err = p.AddEvent(&evs[i], buf); err != nil {
			return nil, fmt.Errorf("event %d (%s): %w", i, evs[i].ID, err)
		}
	}
	return p.Flush(), nil
}

// MessageItems cuts a stream message's body into its events' JSON, without
// decoding them: the lines of a batch (see [Packer]), or the single JSON
// value of any other message (an event object, or an array of events).
func MessageItems(h nats.Header, data []byte) ([][]byte, error) {
	if v := h.Get(HeaderFormat); v != "" {
		if n, err := strconv.Atoi(v); err != nil || n < 1 || n > FormatVersion {
			return nil, fmt.Errorf("%w: %s %q (this build reads up to %d)", ErrFormatVersion, HeaderFormat, v, FormatVersion)
		}
	}
	if ct := h.Get(HeaderContentType); ct != "" {
		if mt, _, _ := mime.ParseMediaType(ct); mt == ContentTypeNDJSON {
			return splitLines(data, 0)
		}
	}
	trimmed := bytes.Trim(bytes.TrimPrefix(data, utf8BOM), jsonSpace)
	if len(trimmed) > 0 && trimmed[0] == '[' {
		return splitArray(trimmed, 0)
	}
	return [][]byte{trimmed}, nil
}

// DecodeMessage reads a stream message's events, each validated as a
// consumer takes it: every rule but the time window (a backlog drained late
// is still taken), an id derived from the content where an event has none
// ([EnsureID]). Items that cannot be read come back in bad, Index their
// position; they are never retried. lines[i] is the i-th valid event's
// JSON as received when it can be forwarded as is (one line, its own id),
// else nil. err is non-nil only when the message as a whole cannot be read
// (a malformed array, [ErrFormatVersion]).
func DecodeMessage(h nats.Header, data []byte) (evs []Event, lines [][]byte, bad []*FieldError, err error) {
	items, err := MessageItems(h, data)
	if err != nil {
		return nil, nil, nil, err
	}
	evs = make([]Event, 0, len(items))
	lines = make([][]byte, 0, len(items))
	for i, item := range items {
		var e Event
		fe := decodeItem(item, &e)
		if fe == nil {
			fe = e.check(e.TS, Window{}.withDefaults())
		}
		if fe != nil {
			fe.Index = i
			bad = append(bad, fe)
			continue
		}
		line := item
		if e.ID == "" || bytes.IndexByte(item, '\n') >= 0 {
			line = nil
		}
		EnsureID(&e)
		evs = append(evs, e)
		lines = append(lines, line)
	}
	return evs, lines, bad, nil
}

// FetchSize is how many bytes a consumer's pull asks for: want, but never
// less than the largest message nc's server takes plus room for headers. A
// pull for fewer bytes than the next message would never get it.
func FetchSize(nc *nats.Conn, want int) int {
	floor := 64 << 10
	if nc != nil {
		floor += int(nc.MaxPayload())
	}
	return max(want, floor)
}
