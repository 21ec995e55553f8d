// Package retry is how flagstream waits between attempts: the services'
// exponential backoff and a sleep that ends with its context. It keeps to
// the standard library, so that pkg/ofhook, which apps import, can share it
// without linking the services' Redis, NATS and ClickHouse clients.
package retry

import (
	"context"
	"time"
)

// Backoff is an exponential wait between attempts: 100 ms doubling to 5 s.
// The zero value is ready; it is not safe for concurrent use.
type Backoff struct{ wait time.Duration }

// Next returns how long to wait before the next attempt.
func (b *Backoff) Next() time.Duration {
	if b.wait == 0 {
		b.wait = 100 * time.Millisecond
	} else {
		b.wait = min(b.wait*2, 5*time.Second)
	}
	return b.wait
}

// Reset starts over after a success.
func (b *Backoff) Reset() { b.wait = 0 }

// Sleep waits d or until ctx ends; it reports whether the whole wait passed.
func Sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
