package httpapi

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/iotest"
)

// The request types of the evaluation routes, as far as decoding goes: the
// OFREP routes and the native bulk evaluation take a context, the native
// single evaluation a flag too.
type contextOnly struct {
	Context map[string]any `json:"context"`
}

type flagAndContext struct {
	Flag    string         `json:"flag"`
	Context map[string]any `json:"context"`
}

func buildContextOnly(ctx map[string]any) contextOnly { return contextOnly{Context: ctx} }

func buildFlagAndContext(flag string, ctx map[string]any) flagAndContext {
	return flagAndContext{Flag: flag, Context: ctx}
}

// contextBodies are bodies with whether scanContext reads them itself
// (fast) and, when the route takes a flag too, (fastFlag); every other body
// is left to encoding/json.
var contextBodies = []struct {
	body           string
	fast, fastFlag bool
}{
	// The common shapes.
	{`{"context":{"targetingKey":"user_1_123","plan":"pro"}}`, true, true},
	{`{}`, true, true},
	{`{"context":null}`, true, true},
	{`{"context":{}}`, true, true},
	{" \t\r\n{ \"context\" :\n{ \"a\" : 1 ,\t\"b\" : true } } \r\n", true, true},
	{`{"context":{"t":true,"f":false,"n":null,"":""}}`, true, true},
	{"{\"context\":{\"s\":\"héllo ✓ 𝄞\",\"k€y\":\"\x7f\"}}", true, true}, // DEL is no control character to JSON
	{`{"context":{"u":"` + "\xef\xbf\xbd" + `"}}`, true, true},           // U+FFFD itself is valid UTF-8
	{`{"flag":"dark_mode","context":{"user_id":"u1"}}`, false, true},
	{`{"context":{"user_id":"u1"},"flag":"dark_mode"}`, false, true},
	{`{"flag":"dark_mode"}`, false, true},
	{`{"flag":""}`, false, true},

	// Numbers: JSON's grammar, parsed as encoding/json parses into any.
	{`{"context":{"n":0}}`, true, true},
	{`{"context":{"n":-0}}`, true, true},
	{`{"context":{"n":-0.0}}`, true, true},
	{`{"context":{"n":1.5e10,"m":1E-5,"o":1e+2,"p":-12.75}}`, true, true},
	{`{"context":{"n":123456789012345678901234567890}}`, true, true},
	{`{"context":{"n":9007199254740993}}`, true, true},
	{`{"context":{"n":1e308,"m":4.9e-324,"o":1e-400}}`, true, true},
	{`{"context":{"n":1e400}}`, false, false},
	{`{"context":{"n":-1e400}}`, false, false},
	{`{"context":{"n":01}}`, false, false},
	{`{"context":{"n":-}}`, false, false},
	{`{"context":{"n":1.}}`, false, false},
	{`{"context":{"n":.5}}`, false, false},
	{`{"context":{"n":1e}}`, false, false},
	{`{"context":{"n":1e+}}`, false, false},
	{`{"context":{"n":+1}}`, false, false},
	{`{"context":{"n":0x10}}`, false, false},
	{`{"context":{"n":1_000}}`, false, false},
	{`{"context":{"n":Infinity}}`, false, false},
	{`{"context":{"n":NaN}}`, false, false},
	{`{"context":{"n":1.5.3}}`, false, false},
	{`{"context":{"n":--1}}`, false, false},

	// Literals.
	{`{"context":{"b":tru}}`, false, false},
	{`{"context":{"b":truex}}`, false, false},
	{`{"context":{"b":True}}`, false, false},
	{`{"context":{"b":nul}}`, false, false},
	{`{"context":nul}`, false, false},
	{`{"context":nullx}`, false, false},

	// Strings encoding/json changes or refuses.
	{`{"context":{"s":"a\"b"}}`, false, false},
	{`{"context":{"s":"\u00e9"}}`, false, false},
	{`{"context":{"s":"\ud800"}}`, false, false},
	{`{"context":{"a\nb":1}}`, false, false},
	{`{"cont\u0065xt":{"a":1}}`, false, false},
	{`{"flag":"a\"b"}`, false, false},
	{"{\"context\":{\"s\":\"a\tb\"}}", false, false},
	{"{\"context\":{\"s\":\"\xff\"}}", false, false},
	{"{\"context\":{\"s\":\"\xed\xa0\x80\"}}", false, false}, // a UTF-16 surrogate
	{"{\"context\":{\"s\":\"\xc3\"}}", false, false},         // cut short
	{"{\"context\":{\"\xff\":1}}", false, false},
	{`{"context":{"s":"open}}`, false, false},

	// Other members, other spellings, repeats.
	{`{"Context":{"a":1}}`, false, false},
	{`{"CONTEXT":{}}`, false, false},
	{`{"Flag":"x","context":{}}`, false, false},
	{`{"context":{},"extra":1}`, false, false},
	{`{"extra":{"a":[1]},"context":{}}`, false, false},
	{`{"context":{"a":1,"a":2}}`, false, false},
	{`{"context":{"a":1},"context":{"b":2}}`, false, false},
	{`{"context":{"a":1},"context":null}`, false, false},
	{`{"flag":"a","flag":"b"}`, false, false},
	{`{"flag":null,"context":{}}`, false, false},
	{`{"flag":1,"context":{"a":1}}`, false, false},

	// Values of other types.
	{`{"context":{"a":{"b":1}}}`, false, false},
	{`{"context":{"a":[1]}}`, false, false},
	{`{"context":{"a":[]}}`, false, false},
	{`{"context":[]}`, false, false},
	{`{"context":"x"}`, false, false},
	{`{"context":1}`, false, false},
	{`{"context":true}`, false, false},
	{`null`, false, false},
	{`[]`, false, false},
	{`[1,2]`, false, false},
	{`"x"`, false, false},
	{`1`, false, false},

	// Malformed, short, or followed by something.
	{``, false, false},
	{"  \n", false, false},
	{`{`, false, false},
	{`{"context"`, false, false},
	{`{"context":`, false, false},
	{`{"context":{"a":1`, false, false},
	{`{"context":{"a":1,}}`, false, false},
	{`{"context":{,}}`, false, false},
	{`{"context":{"a"}}`, false, false},
	{`{"context":{"a":}}`, false, false},
	{`{"context":{"a" 1}}`, false, false},
	{`{"context":{"a":1 "b":2}}`, false, false},
	{`{"context":{}}}`, false, false},
	{`{"context":{}},`, false, false},
	{`{"context":{}} x`, false, false},
	{`{"context":{}}{}`, false, false},
	{`{"context":{}} 1`, false, false},
	{`{,}`, false, false},
	{`{"context":{}`, false, false},
	{"\xef\xbb\xbf{\"context\":{}}", false, false}, // a byte order mark
	{"{\"context\":{}}\v", false, false},
	{"{\"context\":{}}\xc2\xa0", false, false}, // no-break space
	{"{\"context\":{}}\x00", false, false},
}

func TestScanContextTakesOnlyTheCommonShapes(t *testing.T) {
	for _, tt := range contextBodies {
		if _, _, ok := scanContext([]byte(tt.body), false); ok != tt.fast {
			t.Errorf("scanContext(%q) ok = %v, want %v", tt.body, ok, tt.fast)
		}
		if _, _, ok := scanContext([]byte(tt.body), true); ok != tt.fastFlag {
			t.Errorf("scanContext(%q, with flag) ok = %v, want %v", tt.body, ok, tt.fastFlag)
		}
	}
}

func TestDecodeContextMatchesDecode(t *testing.T) {
	readers := map[string]func([]byte) io.Reader{
		"whole":    func(b []byte) io.Reader { return bytes.NewReader(b) },
		"one byte": func(b []byte) io.Reader { return iotest.OneByteReader(bytes.NewReader(b)) },
		"data+EOF": func(b []byte) io.Reader { return iotest.DataErrReader(bytes.NewReader(b)) },
	}
	for name, reader := range readers {
		t.Run(name, func(t *testing.T) {
			for _, tt := range contextBodies {
				// Well over, exactly at, and just under the body's size.
				for _, limit := range []int64{64 << 10, int64(len(tt.body)), int64(len(tt.body)) - 1, 8} {
					if limit >= 1 {
						checkDecodeContext(t, []byte(tt.body), limit, reader)
					}
				}
			}
		})
	}
}

// A body over the limit gets Decode's 413 (or Decode's 400 when encoding/json
// stops before the limit), and the connection is closed exactly when Decode
// closes it: net/http does that once a read goes past the limit.
func TestDecodeContextOverTheLimitLikeDecode(t *testing.T) {
	const limit = 64
	handler := func(decode func(w http.ResponseWriter, r *http.Request) error) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			err := decode(w, r)
			status, _ := Status(err)
			if err == nil {
				status = http.StatusOK
			}
			w.WriteHeader(status)
			fmt.Fprint(w, err)
		})
	}
	viaDecode := httptest.NewServer(handler(func(w http.ResponseWriter, r *http.Request) error {
		_, err := Decode[contextOnly](w, r, limit)
		return err
	}))
	defer viaDecode.Close()
	viaContext := httptest.NewServer(handler(func(w http.ResponseWriter, r *http.Request) error {
		_, err := DecodeContext(w, r, limit, buildContextOnly)
		return err
	}))
	defer viaContext.Close()

	type answer struct {
		status int
		body   string
		closed bool
	}
	post := func(url, body string) answer {
		resp, err := http.Post(url, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return answer{resp.StatusCode, string(b), resp.Close}
	}
	long := strings.Repeat("u", 200)
	for _, tt := range []struct {
		body   string
		status int
	}{
		{`{"context":{"targetingKey":"` + long + `"}}`, 413},
		{`{"context":{"a":1}}` + strings.Repeat(" ", 200), 413},
		{`{"context":{"a":1}} x` + long, 400},
		{`{"context":[` + long, 400},
		{`{"context":{"a":"` + strings.Repeat("u", limit-len(`{"context":{"a":""}}`)) + `"}}`, 200},
	} {
		want, got := post(viaDecode.URL, tt.body), post(viaContext.URL, tt.body)
		if got != want || got.status != tt.status {
			t.Errorf("a %d-byte body: DecodeContext answered %+v, Decode %+v, want status %d", len(tt.body), got, want, tt.status)
		}
	}
}

func TestDecodeContextPassesReadErrorsOn(t *testing.T) {
	broken := errors.New("connection reset")
	for _, tt := range contextBodies {
		checkDecodeContext(t, []byte(tt.body), 64<<10, func(b []byte) io.Reader {
			return io.MultiReader(bytes.NewReader(b), iotest.ErrReader(broken))
		})
		// Cut in the middle, as a dropped connection would.
		checkDecodeContext(t, []byte(tt.body), 64<<10, func(b []byte) io.Reader {
			return io.MultiReader(bytes.NewReader(b[:len(b)/2]), iotest.ErrReader(broken))
		})
	}
}

func FuzzDecodeContext(f *testing.F) {
	for _, tt := range contextBodies {
		f.Add([]byte(tt.body), uint16(64<<10-1), false)
	}
	for _, seed := range []string{
		`{"context":{"targetingKey":"user_1_123","plan":"pro"}}`,
		`{"context":{"a":"\\","b":"\/","c":"\b\f\n\r\t"}}`,
		`{"context":{"e":"` + "\u00e9\u2028\U0001F600" + `"}}`,
		`{"context":{"n":179769313486231570000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000}}`,
		`{"context":{"n":1.7976931348623159e308}}`,
		`{"context":{"n":2.2250738585072011e-308}}`,
		`{"context":{"n":-0e-0}}`,
		`{"context":{"a":1},"Context":{"b":2}}`,
		`{"flag":"f","context":{"a":1},"FLAG":"g"}`,
		`{"context":{"a":1}}` + "\n\n\t ",
	} {
		f.Add([]byte(seed), uint16(64<<10-1), false)
	}
	f.Add([]byte(`{"context":{"targetingKey":"user_1_123"}}`), uint16(20), true)
	f.Add([]byte(`{"context":{"a":1}}   `), uint16(19), false)

	f.Fuzz(func(t *testing.T, body []byte, limit uint16, oneByte bool) {
		reader := func(b []byte) io.Reader { return bytes.NewReader(b) }
		if oneByte {
			reader = func(b []byte) io.Reader { return iotest.OneByteReader(bytes.NewReader(b)) }
		}
		checkDecodeContext(t, body, int64(limit)+1, reader)
	})
}

// checkDecodeContext decodes body with DecodeContext and DecodeFlagContext,
// and with Decode into the same types, and wants the same value (floats to
// the bit, nil maps told from empty ones) or the same error.
func checkDecodeContext(t *testing.T, body []byte, limit int64, reader func([]byte) io.Reader) {
	t.Helper()
	request := func() *http.Request { return httptest.NewRequest("POST", "/", reader(body)) }

	got, gotErr := DecodeContext(httptest.NewRecorder(), request(), limit, buildContextOnly)
	want, wantErr := Decode[contextOnly](httptest.NewRecorder(), request(), limit)
	if !sameError(gotErr, wantErr) || (wantErr == nil && !sameJSONValue(got.Context, want.Context)) {
		t.Errorf("body %q, limit %d: DecodeContext = %#v, %v; Decode = %#v, %v", body, limit, got, gotErr, want, wantErr)
	}

	gotFlag, gotErr := DecodeFlagContext(httptest.NewRecorder(), request(), limit, buildFlagAndContext)
	wantFlag, wantErr := Decode[flagAndContext](httptest.NewRecorder(), request(), limit)
	if !sameError(gotErr, wantErr) || (wantErr == nil && (gotFlag.Flag != wantFlag.Flag || !sameJSONValue(gotFlag.Context, wantFlag.Context))) {
		t.Errorf("body %q, limit %d: DecodeFlagContext = %#v, %v; Decode = %#v, %v", body, limit, gotFlag, gotErr, wantFlag, wantErr)
	}
}

// sameError: both nil, or the same text, status and 413-ness.
func sameError(a, b error) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	var tooBigA, tooBigB *http.MaxBytesError
	statusA, _ := Status(a)
	statusB, _ := Status(b)
	return a.Error() == b.Error() && statusA == statusB && errors.As(a, &tooBigA) == errors.As(b, &tooBigB)
}

// sameJSONValue compares decoded JSON exactly: float64 by its bits (-0 is
// not 0), a nil map unlike an empty one.
func sameJSONValue(a, b any) bool {
	switch a := a.(type) {
	case map[string]any:
		b, ok := b.(map[string]any)
		if !ok || (a == nil) != (b == nil) || len(a) != len(b) {
			return false
		}
		for k, v := range a {
			w, ok := b[k]
			if !ok || !sameJSONValue(v, w) {
				return false
			}
		}
		return true
	case []any:
		b, ok := b.([]any)
		if !ok || (a == nil) != (b == nil) || len(a) != len(b) {
			return false
		}
		for i := range a {
			if !sameJSONValue(a[i], b[i]) {
				return false
			}
		}
		return true
	case float64:
		b, ok := b.(float64)
		return ok && math.Float64bits(a) == math.Float64bits(b)
	case string, bool, nil:
		return a == b
	}
	return false
}

func TestSameJSONValueTellsApartWhatMatters(t *testing.T) {
	for _, tt := range []struct{ a, b any }{
		{map[string]any{"n": 0.0}, map[string]any{"n": math.Copysign(0, -1)}},
		{map[string]any(nil), map[string]any{}},
		{map[string]any{"a": "1"}, map[string]any{"a": 1.0}},
		{map[string]any{"a": nil}, map[string]any{"b": nil}},
	} {
		if sameJSONValue(tt.a, tt.b) {
			t.Errorf("sameJSONValue(%#v, %#v) = true", tt.a, tt.b)
		}
	}
}

func BenchmarkDecodeContext(b *testing.B) {
	body := []byte(`{"context":{"targetingKey":"user_1_123","plan":"pro"}}`)
	run := func(b *testing.B, decode func(w http.ResponseWriter, r *http.Request) (contextOnly, error)) {
		rd := bytes.NewReader(body)
		r := httptest.NewRequest("POST", "/", nil)
		r.Body = io.NopCloser(rd)
		w := httptest.NewRecorder()
		b.ReportAllocs()
		for b.Loop() {
			rd.Reset(body)
			req, err := decode(w, r)
			if err != nil || len(req.Context) != 2 {
				b.Fatal(req, err)
			}
		}
	}
	b.Run("fast", func(b *testing.B) {
		run(b, func(w http.ResponseWriter, r *http.Request) (contextOnly, error) {
			return DecodeContext(w, r, 64<<10, buildContextOnly)
		})
	})
	b.Run("encoding-json", func(b *testing.B) {
		run(b, func(w http.ResponseWriter, r *http.Request) (contextOnly, error) {
			return Decode[contextOnly](w, r, 64<<10)
		})
	})
}
