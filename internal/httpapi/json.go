package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
)

// ErrBadRequest marks a caller's mistake in a request (malformed JSON, a wrong
// type, a bad parameter); WriteError answers it with 400.
var ErrBadRequest = errors.New("bad request")

// Decode reads one JSON value of type T from the body, at most limit bytes,
// and nothing after it. Errors wrap ErrBadRequest (or *http.MaxBytesError) and
// say where the body went wrong.
func Decode[T any](w http.ResponseWriter, r *http.Request, limit int64) (T, error) {
	return decodeFrom[T](http.MaxBytesReader(w, r.Body, limit))
}

// decodeFrom is Decode on a body already limited: DecodeContext's general
// path calls it too, so both give the same values and errors.
func decodeFrom[T any](body io.Reader) (T, error) {
	var v T
	dec := json.NewDecoder(body)
	if err := dec.Decode(&v); err != nil {
		return v, DecodeError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		if tooBig := (*http.MaxBytesError)(nil); errors.As(err, &tooBig) {
			return v, err
		}
		return v, fmt.Errorf("%w: trailing data after the JSON value", ErrBadRequest)
	}
	return v, nil
}

// DecodeError turns an encoding/json error into a message naming the problem
// and, where known, the field and byte offset.
func DecodeError(err error) error {
	var (
		tooBig  *http.MaxBytesError
		syntax  *json.SyntaxError
		typeErr *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &tooBig):
		return err
	case errors.Is(err, io.EOF):
		return fmt.Errorf("%w: empty body, expected JSON", ErrBadRequest)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("%w: malformed JSON: body ends early", ErrBadRequest)
	case errors.As(err, &syntax):
		return fmt.Errorf("%w: malformed JSON at byte %d: %v", ErrBadRequest, syntax.Offset, err)
	case errors.As(err, &typeErr):
		field := typeErr.Field
		if field == "" {
			field = "(body)"
		}
		return fmt.Errorf("%w: %s: expected %s, got JSON %s", ErrBadRequest, field, typeErr.Type, typeErr.Value)
	}
	return fmt.Errorf("%w: %w", ErrBadRequest, err)
}

// WriteJSON writes v as JSON with the given status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"internal","message":"encode response"}`)
	}
	WriteRaw(w, status, b)
}

// WriteRaw writes an already encoded JSON body.
func WriteRaw(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h["Content-Type"] = jsonContentType
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

var jsonContentType = []string{"application/json"}
