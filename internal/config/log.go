package config

import (
	"io"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

var setTimeFormat sync.Once

// NewLogger returns the process's one logger: JSON lines to out, with a
// timestamp and the service name on every line.
func NewLogger(out io.Writer, service string, level zerolog.Level) zerolog.Logger {
	// A zerolog global: set once, as several services may share a test process.
	setTimeFormat.Do(func() { zerolog.TimeFieldFormat = time.RFC3339Nano })
	return zerolog.New(out).Level(level).With().Timestamp().Str("service", service).Logger()
}
