package events

import (
	"errors"
	"strconv"
)

var (
	// ErrInvalid is the family of every validation error; see [FieldError].
	ErrInvalid = errors.New("invalid event")
	// ErrMalformed means a batch body is neither a JSON array nor NDJSON, or
	// its array cannot be split into items.
	ErrMalformed = errors.New("malformed batch")
	// ErrTooMany means a batch holds more events than the caller allows.
	ErrTooMany = errors.New("too many events in one batch")
)

// FieldError names an event (by its index in a batch, -1 for a single event),
// the field at fault (a JSON name, empty when the item as a whole is at
// fault) and why. It is an [ErrInvalid].
type FieldError struct {
	Index  int    `json:"index"`
	Field  string `json:"field,omitempty"`
	Reason string `json:"reason"`
}

func (e *FieldError) Error() string {
	s := ""
	if e.Index >= 0 {
		s = "event " + strconv.Itoa(e.Index) + ": "
	}
	if e.Field != "" {
		s += e.Field + ": "
	}
	return s + e.Reason
}

// Unwrap makes every FieldError an [ErrInvalid].
func (e *FieldError) Unwrap() error { return ErrInvalid }
