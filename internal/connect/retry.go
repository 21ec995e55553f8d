package connect

import (
	"context"

	"github.com/rs/zerolog"

	"github.com/flagstream/flagstream/internal/config"
)

// Retry calls fn until it succeeds or ctx ends, waiting between attempts as
// [Backoff] does (100 ms doubling to 5 s). Each failure is logged with the
// dependency's name and its address, which Retry redacts itself (a caller
// that forgets must not log a password on every attempt).
func Retry(ctx context.Context, log zerolog.Logger, dependency, addr string, fn func(context.Context) error) error {
	addr = config.Redact(addr)
	var b Backoff
	for attempt := 1; ; attempt++ {
		err := fn(ctx)
		if err == nil {
			if attempt > 1 {
				log.Info().Str("dependency", dependency).Str("addr", addr).Int("attempts", attempt).Msg("dependency reachable")
			}
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		wait := b.Next()
		log.Warn().Err(err).Str("dependency", dependency).Str("addr", addr).Dur("retry_in", wait).Msg("dependency unreachable")
		if !Sleep(ctx, wait) {
			return ctx.Err()
		}
	}
}
