package connect

import (
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis returns a client for a Redis URL: one redis:// or rediss:// URL for a
// single server, several comma-separated for a cluster (the seed's layout is
// then hash-tagged; see pkg/flags). The client connects lazily: a first command
// fails fast while Redis is away, and later ones succeed once it is back.
func Redis(rawURL string) (redis.UniversalClient, error) {
	urls := strings.Split(rawURL, ",")
	first, err := redis.ParseURL(strings.TrimSpace(urls[0]))
	if err != nil {
		return nil, fmt.Errorf("redis url: %w", err)
	}
	opts := &redis.UniversalOptions{
		Addrs:        []string{first.Addr},
		DB:           first.DB,
		Username:     first.Username,
		Password:     first.Password,
		TLSConfig:    first.TLSConfig,
		DialTimeout:  2 * time.Second,
		ReadTimeout:  3 * time.Second,
		WriteTimeout: 3 * time.Second,
	}
	if len(urls) > 1 {
		for _, u := range urls[1:] {
			o, err := redis.ParseURL(strings.TrimSpace(u))
			if err != nil {
				return nil, fmt.Errorf("redis url: %w", err)
			}
			opts.Addrs = append(opts.Addrs, o.Addr)
		}
		// NewUniversalClient makes a cluster client for several addresses;
		// a cluster has no databases but 0.
		return redis.NewClusterClient(opts.Cluster()), nil
	}
	return redis.NewClient(opts.Simple()), nil
}
