package flags

import "errors"

var (
	// ErrNotFound means no flag (or rollout plan) has the key asked for.
	ErrNotFound = errors.New("not found")
	// ErrInvalid is the family of every validation error; see [FieldError].
	ErrInvalid = errors.New("invalid flag")
	// ErrConflict means a write lost a race with another writer (the version moved).
	ErrConflict = errors.New("flag changed concurrently")
)

// FieldError names the field of a flag at fault and why.
type FieldError struct {
	Field  string // JSON path, e.g. "variants[1].weight"
	Reason string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Reason }

// Unwrap makes every FieldError an [ErrInvalid].
func (e *FieldError) Unwrap() error { return ErrInvalid }
