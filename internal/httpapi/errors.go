package httpapi

import (
	"context"
	"errors"
	"net/http"

	"github.com/rs/zerolog"

	"github.com/flagstream/flagstream/pkg/flags"
)

// Errors a handler returns for WriteError to map.
var (
	ErrUnauthorized = errors.New("missing or unknown bearer token")
	ErrForbidden    = errors.New("token lacks the scope this route needs")
	ErrUnavailable  = errors.New("service unavailable")
	ErrNotFound     = errors.New("not found")
	ErrConflict     = errors.New("conflict")
)

// ErrorBody is every non-OFREP error response: a stable code and a sentence.
type ErrorBody struct {
	Error   string `json:"error"`
	Message string `json:"message"`
}

// Status maps an error to its HTTP status and error code, most specific first.
func Status(err error) (int, string) {
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return http.StatusRequestEntityTooLarge, "too_large"
	case errors.Is(err, ErrUnsupportedEncoding):
		return http.StatusUnsupportedMediaType, "unsupported_encoding"
	case errors.Is(err, ErrUnauthorized):
		return http.StatusUnauthorized, "unauthorized"
	case errors.Is(err, ErrForbidden):
		return http.StatusForbidden, "forbidden"
	case errors.Is(err, flags.ErrNotFound), errors.Is(err, ErrNotFound):
		return http.StatusNotFound, "not_found"
	case errors.Is(err, flags.ErrConflict), errors.Is(err, flags.ErrRolloutEnd), errors.Is(err, ErrConflict):
		return http.StatusConflict, "conflict"
	case errors.Is(err, ErrBadRequest), errors.Is(err, flags.ErrInvalid):
		return http.StatusBadRequest, "invalid"
	case errors.Is(err, ErrUnavailable), errors.Is(err, context.DeadlineExceeded):
		return http.StatusServiceUnavailable, "unavailable"
	}
	return http.StatusInternalServerError, "internal"
}

// WriteError answers err with the status Status picks. The message of a 5xx
// is logged, not sent: it may name internals.
func WriteError(w http.ResponseWriter, r *http.Request, err error) {
	status, code := Status(err)
	msg := err.Error()
	if status >= 500 {
		zerolog.Ctx(r.Context()).Error().Err(err).Str("path", r.URL.Path).Msg("request failed")
		msg = http.StatusText(status)
		if status == http.StatusServiceUnavailable {
			w.Header().Set("Retry-After", "1")
			msg = "a dependency is unavailable; retry shortly"
		}
	}
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="flagstream"`)
	}
	WriteJSON(w, status, ErrorBody{Error: code, Message: msg})
}
