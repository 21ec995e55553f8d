package live

import "github.com/redis/go-redis/v9"

// keys names the Redis keys; see the package documentation.
type keys struct {
	prefix  string
	cluster bool
}

func newKeys(rdb redis.UniversalClient, prefix string) keys {
	_, cluster := rdb.(*redis.ClusterClient)
	return keys{prefix: prefix, cluster: cluster}
}

// base is "experiment:<e>:" (or "experiment:{<e>}:" on a cluster), to which
// the script appends the rest of each key.
func (k keys) base(experiment string) string {
	if k.cluster {
		return k.prefix + "experiment:{" + experiment + "}:"
	}
	return k.prefix + "experiment:" + experiment + ":"
}

func (k keys) experiments() string { return k.prefix + "flagstream:experiments" }

func (k keys) userExperiments(user string) string {
	if k.cluster {
		return k.prefix + "flagstream:user_experiments:{" + user + "}"
	}
	return k.prefix + "flagstream:user_experiments:" + user
}
