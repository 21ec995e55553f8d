package flags

import "github.com/redis/go-redis/v9"

// layout names the Redis keys. On a single Redis or Sentinel it is the seed's
// exact layout, so the seed's Python and Node managers read what we write and
// the reverse. On a Redis Cluster every key carries the hash tag
// {feature_flags}, so a flag's hash, its rules, its rollout plan and the set of
// names sit in one slot and a write of all of them stays atomic.
type layout struct {
	set, data, rules, rollout, channel string // prefixes end in ':'
}

func newLayout(rdb redis.UniversalClient, prefix string) layout {
	base, rollout := "feature_flags", "rollout:"
	if _, cluster := rdb.(*redis.ClusterClient); cluster {
		base, rollout = "{feature_flags}", "{feature_flags}:rollout:"
	}
	return layout{
		set:     prefix + base,
		data:    prefix + base + ":data:",
		rules:   prefix + base + ":rules:",
		rollout: prefix + rollout,
		// Pub/sub is not sharded by slot, so the channel needs no tag.
		channel: prefix + "feature_flags:changes",
	}
}

func (l layout) dataKey(name string) string    { return l.data + name }
func (l layout) rulesKey(name string) string   { return l.rules + name }
func (l layout) rolloutKey(name string) string { return l.rollout + name }
