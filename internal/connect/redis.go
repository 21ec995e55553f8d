package connect

import (
	"errors"
	"net/url"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis returns a client for a Redis URL:
//
//   - one redis:// or rediss:// URL: a single server;
//   - several, comma-separated: a Redis Cluster (the seed's layout is then
//     hash-tagged; see pkg/flags);
//   - a URL with master_name: Redis Sentinel, in go-redis's form
//     (redis.ParseFailoverURL): redis://[user:pass@]sentinel:26379[/db]?master_name=NAME
//     with further sentinels as &addr=host:port (or as further
//     comma-separated URLs), the master's password as &password=... and its
//     user as &username=...; the userinfo authenticates to the sentinels.
//
// The client connects lazily: a first command fails fast while Redis is away,
// and later ones succeed once it is back. Errors never echo the URL.
func Redis(rawURL string) (redis.UniversalClient, error) {
	urls := strings.Split(rawURL, ",")
	for i := range urls {
		urls[i] = strings.TrimSpace(urls[i])
	}
	if isSentinel(urls[0]) {
		return sentinel(urls)
	}
	first, err := redis.ParseURL(urls[0])
	if err != nil {
		return nil, URLError("redis url", err)
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
			if isSentinel(u) {
				return nil, errors.New("redis url: master_name (Sentinel) must be on the first URL of the list")
			}
			o, err := redis.ParseURL(u)
			if err != nil {
				return nil, URLError("redis url", err)
			}
			opts.Addrs = append(opts.Addrs, o.Addr)
		}
		// NewUniversalClient makes a cluster client for several addresses;
		// a cluster has no databases but 0.
		return redis.NewClusterClient(opts.Cluster()), nil
	}
	return redis.NewClient(opts.Simple()), nil
}

// isSentinel reports whether a Redis URL names a Sentinel master.
func isSentinel(raw string) bool {
	u, err := url.Parse(raw)
	return err == nil && u.Query().Has("master_name")
}

// sentinel returns a failover client: it asks the sentinels for the current
// master and follows it through failovers.
func sentinel(urls []string) (redis.UniversalClient, error) {
	opts, err := redis.ParseFailoverURL(urls[0])
	if err != nil {
		return nil, URLError("redis url", err)
	}
	if opts.MasterName == "" {
		return nil, errors.New("redis url: master_name is empty")
	}
	for _, u := range urls[1:] { // further sentinels as a list, like a cluster's nodes
		o, err := redis.ParseURL(u)
		if err != nil {
			return nil, URLError("redis url", err)
		}
		opts.SentinelAddrs = append(opts.SentinelAddrs, o.Addr)
	}
	// The same bounds as the other clients, unless the URL sets its own.
	if opts.DialTimeout == 0 {
		opts.DialTimeout = 2 * time.Second
	}
	if opts.ReadTimeout == 0 {
		opts.ReadTimeout = 3 * time.Second
	}
	if opts.WriteTimeout == 0 {
		opts.WriteTimeout = 3 * time.Second
	}
	return redis.NewFailoverClient(opts), nil
}
