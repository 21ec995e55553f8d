package flags

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Store reads and writes flags in Redis in the seed's layout (see layout.go and
// redisfmt.go). Every write is one Lua script: a reader never sees half a flag,
// the version goes up by one, and the change notice is published in the same
// atomic step, so no reader learns of a change before it is visible.
type Store struct {
	rdb  redis.UniversalClient
	keys layout
}

// StoreOption configures a Store.
type StoreOption func(*storeOptions)

type storeOptions struct{ prefix string }

// WithKeyPrefix puts every key and the change channel under a prefix, for tests
// and for several flag sets sharing one Redis. The seed's code knows no prefix.
func WithKeyPrefix(p string) StoreOption { return func(o *storeOptions) { o.prefix = p } }

// NewStore returns a store on rdb. It picks the cluster layout when rdb is a
// *redis.ClusterClient.
func NewStore(rdb redis.UniversalClient, opts ...StoreOption) *Store {
	var o storeOptions
	for _, opt := range opts {
		opt(&o)
	}
	return &Store{rdb: rdb, keys: newLayout(rdb, o.prefix)}
}

// Channel is the pub/sub channel of change notices.
func (s *Store) Channel() string { return s.keys.channel }

// Change is a change notice as the seed publishes it.
type Change struct {
	Action string `json:"action"` // "update" or "delete"
	Flag   string `json:"flag"`
}

// Get loads one flag, prepared for evaluation. It returns [ErrNotFound] when no
// flag has the key.
func (s *Store) Get(ctx context.Context, key string) (*Flag, error) {
	if err := CheckKey(key); err != nil {
		return nil, fmt.Errorf("%w: key %s", ErrNotFound, err)
	}
	var data, rules *redis.MapStringStringCmd
	// MULTI/EXEC: the flag's hash and its rules come from the same moment.
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		data = p.HGetAll(ctx, s.keys.dataKey(key))
		rules = p.HGetAll(ctx, s.keys.rulesKey(key))
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("load flag %q: %w", key, err)
	}
	if len(data.Val()) == 0 {
		return nil, fmt.Errorf("flag %q: %w", key, ErrNotFound)
	}
	f, err := decodeHash(key, data.Val(), rules.Val())
	if err != nil {
		return nil, &LoadError{Key: key, Err: err}
	}
	return f.Prepare(), nil
}

// LoadError is a flag in Redis that could not be decoded at all.
type LoadError struct {
	Key string
	Err error
}

func (e *LoadError) Error() string { return fmt.Sprintf("flag %q: %v", e.Key, e.Err) }
func (e *LoadError) Unwrap() error { return e.Err }

// allBatch is how many flags one MULTI/EXEC reads: big enough to need few round
// trips, small enough not to hold Redis up for long.
const allBatch = 500

// All loads every flag named in the set. Flags that cannot be decoded are left
// out and returned in broken; err is set only when Redis itself failed.
func (s *Store) All(ctx context.Context) (flags []*Flag, broken []*LoadError, err error) {
	names, err := s.rdb.SMembers(ctx, s.keys.set).Result()
	if err != nil {
		return nil, nil, fmt.Errorf("list flags: %w", err)
	}
	flags = make([]*Flag, 0, len(names))
	for start := 0; start < len(names); start += allBatch {
		batch := names[start:min(start+allBatch, len(names))]
		datas := make([]*redis.MapStringStringCmd, len(batch))
		ruless := make([]*redis.MapStringStringCmd, len(batch))
		_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
			for i, n := range batch {
				datas[i] = p.HGetAll(ctx, s.keys.dataKey(n))
				ruless[i] = p.HGetAll(ctx, s.keys.rulesKey(n))
			}
			return nil
		})
		if err != nil {
			return nil, nil, fmt.Errorf("load flags: %w", err)
		}
		for i, n := range batch {
			if len(datas[i].Val()) == 0 {
				continue // in the set but deleted by a non-atomic writer (the seed's Node manager)
			}
			if err := CheckKey(n); err != nil {
				broken = append(broken, &LoadError{Key: n, Err: fmt.Errorf("key %w", err)})
				continue
			}
			f, err := decodeHash(n, datas[i].Val(), ruless[i].Val())
			if err != nil {
				broken = append(broken, &LoadError{Key: n, Err: err})
				continue
			}
			flags = append(flags, f.Prepare())
		}
	}
	return flags, broken, nil
}

// putScript replaces a flag atomically. KEYS: data, rules, set, rollout.
// ARGV[1] is a JSON spec (see putSpec). It returns {new version, variant_hash
// as stored ("" if none)}, or an error reply "CONFLICT <current>" when the
// expected version does not match. With keep_hash, the stored variant_hash
// survives the replacement, read and written in the same atomic step.
var putScript = redis.NewScript(`
local spec = cjson.decode(ARGV[1])
local cur = tonumber(redis.call('HGET', KEYS[1], 'version') or '0') or 0
if spec.expect >= 0 and cur ~= spec.expect then
  return redis.error_reply('CONFLICT ' .. cur)
end
local kept = false
if spec.keep_hash then
  kept = redis.call('HGET', KEYS[1], 'variant_hash')
end
local v = cur + 1
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'version', tostring(v), unpack(spec.data))
if kept then
  redis.call('HSET', KEYS[1], 'variant_hash', kept)
end
redis.call('DEL', KEYS[2])
if #spec.rules > 0 then
  redis.call('HSET', KEYS[2], unpack(spec.rules))
end
if #spec.rollout > 0 then
  redis.call('HSET', KEYS[4], unpack(spec.rollout))
end
redis.call('SADD', KEYS[3], spec.name)
redis.call('PUBLISH', spec.channel, spec.notice)
return {v, kept or ''}
`)

type putSpec struct {
	Name    string   `json:"name"`
	Expect  int64    `json:"expect"` // -1: any version
	Data    []string `json:"data"`
	Rules   []string `json:"rules"`
	Rollout []string `json:"rollout"` // fields to set on the rollout plan in the same step
	// KeepHash: the flag names no variant_hash, so the stored one stays.
	KeepHash bool   `json:"keep_hash"`
	Channel  string `json:"channel"`
	Notice   string `json:"notice"`
}

// Put validates and writes a flag, replacing any flag with its key. The version
// in f is ignored: the stored version goes up by one. It returns the flag as
// stored, prepared for evaluation.
//
// One field is not replaced unless f sets it: a flag without VariantHash keeps
// the stored one, whatever else changes. The field records which bucket users
// got their variant from (a rollout plan sets it); a writer that does not know
// of it (the seed's managers, a dashboard, a hand-written body) must not move
// users between variants by rewriting the flag. If the variants themselves
// change, keeping the hash still moves the fewest users. To change it, name it.
func (s *Store) Put(ctx context.Context, f *Flag) (*Flag, error) {
	return s.put(ctx, f, -1, nil)
}

// PutIfVersion is Put that succeeds only while the stored version is still
// expected (0 for a flag that does not exist yet); otherwise it returns
// [ErrConflict]. It lets a read-modify-write lose no concurrent change.
func (s *Store) PutIfVersion(ctx context.Context, f *Flag, expected int64) (*Flag, error) {
	if expected < 0 {
		return nil, fmt.Errorf("%w: expected version %d is negative", ErrInvalid, expected)
	}
	return s.put(ctx, f, expected, nil)
}

func (s *Store) put(ctx context.Context, f *Flag, expect int64, rollout []string) (*Flag, error) {
	if err := f.Validate(); err != nil {
		return nil, err
	}
	data, err := encodeHash(f)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	rules, err := encodeRules(f)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	notice, _ := json.Marshal(Change{Action: "update", Flag: f.Key})
	spec, err := json.Marshal(putSpec{
		Name: f.Key, Expect: expect, Data: data, Rules: nonNil(rules), Rollout: nonNil(rollout),
		KeepHash: f.VariantHash == VariantHashDefault,
		Channel:  s.keys.channel, Notice: string(notice),
	})
	if err != nil {
		return nil, err
	}
	keys := []string{s.keys.dataKey(f.Key), s.keys.rulesKey(f.Key), s.keys.set, s.keys.rolloutKey(f.Key)}
	res, err := putScript.Run(ctx, s.rdb, keys, spec).Slice()
	if err != nil {
		if cur, ok := strings.CutPrefix(err.Error(), "CONFLICT "); ok {
			return nil, fmt.Errorf("write flag %q: %w (expected version %d, stored %s)", f.Key, ErrConflict, expect, cur)
		}
		return nil, fmt.Errorf("write flag %q: %w", f.Key, err)
	}
	var v int64
	var kept string
	ok := len(res) == 2
	if ok {
		v, ok = res[0].(int64)
	}
	if ok {
		kept, ok = res[1].(string)
	}
	if !ok {
		return nil, fmt.Errorf("write flag %q: unexpected reply %v", f.Key, res)
	}
	out := *f
	out.Version = v
	if f.VariantHash == VariantHashDefault {
		out.VariantHash = VariantHash(kept)
	}
	out.prep = nil
	return out.Prepare(), nil
}

// deleteScript removes a flag, its rules and its rollout plan. KEYS: data,
// rules, set, rollout; ARGV: name, channel, notice. Returns 0 if there was no flag.
var deleteScript = redis.NewScript(`
local n = redis.call('DEL', KEYS[1])
redis.call('DEL', KEYS[2], KEYS[4])
local m = redis.call('SREM', KEYS[3], ARGV[1])
if n + m == 0 then return 0 end
redis.call('PUBLISH', ARGV[2], ARGV[3])
return 1
`)

// Delete removes a flag with its rules and rollout plan; [ErrNotFound] if there was none.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := CheckKey(key); err != nil {
		return fmt.Errorf("%w: key %s", ErrNotFound, err)
	}
	notice, _ := json.Marshal(Change{Action: "delete", Flag: key})
	keys := []string{s.keys.dataKey(key), s.keys.rulesKey(key), s.keys.set, s.keys.rolloutKey(key)}
	n, err := deleteScript.Run(ctx, s.rdb, keys, key, s.keys.channel, string(notice)).Int()
	if err != nil {
		return fmt.Errorf("delete flag %q: %w", key, err)
	}
	if n == 0 {
		return fmt.Errorf("flag %q: %w", key, ErrNotFound)
	}
	return nil
}

// nowISO is the seed's created_at format (Python's datetime.isoformat, UTC here).
func nowISO() string { return time.Now().UTC().Format("2006-01-02T15:04:05.000000") }
