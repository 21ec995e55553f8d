package httpapi

import (
	"bytes"
	"io"
	"net/http"
	"strconv"
	"sync"
	"unicode/utf8"
)

// DecodeContext reads an evaluation request body, {"context": {...}}, into
// T exactly as Decode[T] does, only faster for the shape nearly every SDK
// sends: a top-level object whose only member is "context", holding a flat
// object of plain strings, numbers, booleans and nulls. Such a body is
// scanned by hand and build makes the T that encoding/json would have made
// from the context it read. Any other body (escapes, nested values, other
// or repeated members, a body over the limit, malformed JSON...) goes to
// Decode's encoding/json path on the same bytes, so values and errors,
// 413 included, stay those of Decode[T].
//
// T is the route's own request type: the general path decodes into it, and
// build must set its "context" field and nothing else.
func DecodeContext[T any](w http.ResponseWriter, r *http.Request, limit int64, build func(ctx map[string]any) T) (T, error) {
	buf := getBodyBuffer()
	defer putBodyBuffer(buf)
	var readErr error
	*buf, readErr = readUpTo(r.Body, limit, *buf)
	if readErr == io.EOF {
		if _, ctx, ok := scanContext(*buf, false); ok {
			return build(ctx), nil
		}
	}
	return decodeFrom[T](replayBody(w, r, limit, *buf, readErr))
}

// DecodeFlagContext is DecodeContext for a body that may also name a flag,
// {"flag": "key", "context": {...}} (the native single evaluation); on the
// fast path the flag is a plain string, "" when absent, and build must set
// T's "flag" and "context" fields and nothing else.
func DecodeFlagContext[T any](w http.ResponseWriter, r *http.Request, limit int64, build func(flag string, ctx map[string]any) T) (T, error) {
	buf := getBodyBuffer()
	defer putBodyBuffer(buf)
	var readErr error
	*buf, readErr = readUpTo(r.Body, limit, *buf)
	if readErr == io.EOF {
		if flag, ctx, ok := scanContext(*buf, true); ok {
			return build(flag, ctx), nil
		}
	}
	return decodeFrom[T](replayBody(w, r, limit, *buf, readErr))
}

// readUpTo appends body to buf until EOF or limit+1 bytes, whichever comes
// first. err is io.EOF when buf holds the whole body and it fits the limit,
// nil when the body is longer than limit (the rest is unread), or the read's
// failure.
func readUpTo(body io.Reader, limit int64, buf []byte) ([]byte, error) {
	for int64(len(buf)) <= limit {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		room := buf[len(buf):cap(buf)]
		if want := limit + 1 - int64(len(buf)); int64(len(room)) > want {
			room = room[:want]
		}
		n, err := body.Read(room)
		buf = buf[:len(buf)+n]
		if int64(len(buf)) > limit {
			// Over the limit whatever err says: the limit's error is the
			// one Decode's reader gives.
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
	return buf, nil
}

// replayBody is r's body as Decode would have read it: the bytes readUpTo
// read, then what came after them (the unread rest, or the read's error),
// behind the same http.MaxBytesReader. encoding/json then sees the very
// bytes and errors it would have seen, and a body over the limit fails (and
// closes the connection) only where Decode's would.
func replayBody(w http.ResponseWriter, r *http.Request, limit int64, read []byte, readErr error) io.Reader {
	var rest io.Reader
	switch readErr {
	case nil:
		rest = r.Body
	case io.EOF:
		rest = bytes.NewReader(nil)
	default:
		rest = failingReader{readErr}
	}
	return http.MaxBytesReader(w, readCloser{io.MultiReader(bytes.NewReader(read), rest), r.Body}, limit)
}

type failingReader struct{ err error }

func (f failingReader) Read([]byte) (int, error) { return 0, f.err }

// readCloser closes the request's own body, as Decode's reader would.
type readCloser struct {
	io.Reader
	body io.Closer
}

func (rc readCloser) Close() error { return rc.body.Close() }

// Bodies are read into pooled buffers: the fast path copies every string it
// keeps, and encoding/json copies what it reads, so nothing returned holds
// on to one. Buffers grown by a big body are left to the GC rather than
// kept for the next small one.
const (
	bodyBufferSize    = 512
	maxPooledBodySize = 16 << 10
)

var bodyBuffers = sync.Pool{New: func() any {
	b := make([]byte, 0, bodyBufferSize)
	return &b
}}

func getBodyBuffer() *[]byte { return bodyBuffers.Get().(*[]byte) }

func putBodyBuffer(b *[]byte) {
	if cap(*b) > maxPooledBodySize {
		return
	}
	*b = (*b)[:0]
	bodyBuffers.Put(b)
}

// scanContext reads b when it is exactly the common shape of an evaluation
// body: an object whose members are "context" (a flat object, or null) and,
// when withFlag, "flag" (a plain string), each at most once, spelled exactly
// so, with JSON whitespace anywhere between tokens and nothing after. ok is
// false for anything else, or whenever it cannot be sure to read b as
// encoding/json would: the caller then decodes b with encoding/json, which
// gives the value or the error. It never makes errors of its own.
func scanContext(b []byte, withFlag bool) (flag string, ctx map[string]any, ok bool) {
	s := contextScanner{b: b}
	s.skipSpace()
	if !s.consume('{') {
		return "", nil, false
	}
	s.skipSpace()
	if !s.consume('}') {
		var sawContext, sawFlag bool
		for {
			key, ok := s.plainString()
			if !ok {
				return "", nil, false
			}
			s.skipSpace()
			if !s.consume(':') {
				return "", nil, false
			}
			s.skipSpace()
			switch {
			// Exact spellings only: encoding/json also matches other
			// cases ("Context"), and a repeated member merges into or
			// replaces the first: both are left to it.
			case string(key) == "context" && !sawContext:
				sawContext = true
				if !s.literal("null") {
					if ctx, ok = s.flatObject(); !ok {
						return "", nil, false
					}
				}
			case withFlag && string(key) == "flag" && !sawFlag:
				sawFlag = true
				value, ok := s.plainString()
				if !ok {
					return "", nil, false
				}
				flag = string(value)
			default:
				return "", nil, false
			}
			s.skipSpace()
			if s.consume(',') {
				s.skipSpace()
				continue
			}
			if s.consume('}') {
				break
			}
			return "", nil, false
		}
	}
	s.skipSpace()
	if s.i != len(s.b) {
		return "", nil, false
	}
	return flag, ctx, true
}

type contextScanner struct {
	b []byte
	i int
}

// skipSpace skips JSON's whitespace, the four characters encoding/json
// allows between tokens.
func (s *contextScanner) skipSpace() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

func (s *contextScanner) consume(c byte) bool {
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// literal consumes word (true, false, null) when b continues with it; what
// follows is checked by the caller, which wants a delimiter there.
func (s *contextScanner) literal(word string) bool {
	if len(s.b)-s.i >= len(word) && string(s.b[s.i:s.i+len(word)]) == word {
		s.i += len(word)
		return true
	}
	return false
}

// plainString reads a string whose bytes encoding/json keeps as they are: no
// escapes, no control characters (which JSON forbids) and valid UTF-8 (an
// invalid byte becomes U+FFFD there). It returns the bytes between the
// quotes, which alias b.
func (s *contextScanner) plainString() ([]byte, bool) {
	if !s.consume('"') {
		return nil, false
	}
	start, ascii := s.i, true
	for ; s.i < len(s.b); s.i++ {
		switch c := s.b[s.i]; {
		case c == '"':
			str := s.b[start:s.i]
			s.i++
			return str, ascii || utf8.Valid(str)
		case c == '\\' || c < 0x20:
			return nil, false
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	return nil, false
}

// flatObject reads an object of scalar members with distinct plain keys
// into a new map, as encoding/json decodes it into map[string]any ({} is an
// empty map, not nil).
func (s *contextScanner) flatObject() (map[string]any, bool) {
	if !s.consume('{') {
		return nil, false
	}
	m := make(map[string]any)
	s.skipSpace()
	if s.consume('}') {
		return m, true
	}
	for {
		key, ok := s.plainString()
		if !ok {
			return nil, false
		}
		if _, repeated := m[string(key)]; repeated {
			return nil, false
		}
		s.skipSpace()
		if !s.consume(':') {
			return nil, false
		}
		s.skipSpace()
		value, ok := s.scalar()
		if !ok {
			return nil, false
		}
		m[string(key)] = value
		s.skipSpace()
		if s.consume(',') {
			s.skipSpace()
			continue
		}
		if s.consume('}') {
			return m, true
		}
		return nil, false
	}
}

// scalar reads a plain string, a number, true, false or null as
// encoding/json decodes it into an interface value.
func (s *contextScanner) scalar() (any, bool) {
	if s.i >= len(s.b) {
		return nil, false
	}
	switch c := s.b[s.i]; {
	case c == '"':
		str, ok := s.plainString()
		if !ok {
			return nil, false
		}
		return string(str), true
	case c == 't':
		return true, s.literal("true")
	case c == 'f':
		return false, s.literal("false")
	case c == 'n':
		return nil, s.literal("null")
	case c == '-' || ('0' <= c && c <= '9'):
		return s.number()
	}
	return nil, false
}

// number reads a token of JSON's number grammar,
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?, and parses it as
// encoding/json does for an interface value: strconv.ParseFloat, 64 bits. A
// number out of float64's range is an error there; here it is not ok.
func (s *contextScanner) number() (any, bool) {
	start := s.i
	s.consume('-')
	switch {
	case s.consume('0'):
	case s.digits() == 0:
		return nil, false
	}
	if s.consume('.') && s.digits() == 0 {
		return nil, false
	}
	if s.consume('e') || s.consume('E') {
		if !s.consume('+') {
			s.consume('-')
		}
		if s.digits() == 0 {
			return nil, false
		}
	}
	f, err := strconv.ParseFloat(string(s.b[start:s.i]), 64)
	if err != nil {
		return nil, false
	}
	return f, true
}

// digits consumes a run of decimal digits and says how many.
func (s *contextScanner) digits() int {
	start := s.i
	for s.i < len(s.b) && '0' <= s.b[s.i] && s.b[s.i] <= '9' {
		s.i++
	}
	return s.i - start
}
