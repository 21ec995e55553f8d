package connect

import (
	"context"
	"time"

	"github.com/flagstream/flagstream/internal/retry"
)

// Backoff is retry.Backoff (100 ms doubling to 5 s), the wait of [Retry].
type Backoff = retry.Backoff

// Sleep is retry.Sleep: it waits d or until ctx ends, and reports whether
// the whole wait passed.
func Sleep(ctx context.Context, d time.Duration) bool { return retry.Sleep(ctx, d) }
