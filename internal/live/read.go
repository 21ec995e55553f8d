package live

import (
	"context"
	"fmt"
	"slices"
	"strconv"

	"github.com/redis/go-redis/v9"
)

// seedConversionTypes are the types the seed's get_experiment_results reads;
// they are read too, so that counters the seed wrote (which record no
// conversion types) show up.
var seedConversionTypes = []string{"signup", "purchase", "click"}

// ConversionStats are one conversion type's figures for one variant, as the
// seed's get_experiment_results gives them.
type ConversionStats struct {
	Count            int64   `json:"count"`
	Value            float64 `json:"value"`
	UniqueConverters int64   `json:"unique_converters"` // HyperLogLog estimate
	ConversionRate   float64 `json:"conversion_rate"`   // percent: unique_converters / unique_users * 100, as the seed
}

// VariantStats are one variant's figures for one day.
type VariantStats struct {
	Exposures   int64                      `json:"exposures"`
	UniqueUsers int64                      `json:"unique_users"` // HyperLogLog estimate
	Conversions map[string]ConversionStats `json:"conversions"`
}

// Results reads one experiment's counters for one day (YYYY-MM-DD), shaped like
// the seed's get_experiment_results: variant → figures. Variants are those with
// exposures that day, as in the seed.
func (c *Counters) Results(ctx context.Context, experiment, day string) (map[string]VariantStats, error) {
	base := c.keys.base(experiment)
	var exposures *redis.MapStringStringCmd
	var types *redis.StringSliceCmd
	if _, err := c.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		exposures = p.HGetAll(ctx, base+"exposures:"+day)
		types = p.SMembers(ctx, base+"conversion_types")
		return nil
	}); err != nil {
		return nil, fmt.Errorf("read live counters of %q: %w", experiment, err)
	}
	ctypes := types.Val()
	for _, t := range seedConversionTypes {
		if !slices.Contains(ctypes, t) {
			ctypes = append(ctypes, t)
		}
	}
	slices.Sort(ctypes)
	variants := make([]string, 0, len(exposures.Val()))
	for v := range exposures.Val() {
		variants = append(variants, v)
	}
	slices.Sort(variants)

	users := map[string]*redis.IntCmd{}
	counts := map[string]*redis.MapStringStringCmd{}
	values := map[string]*redis.MapStringStringCmd{}
	converters := map[[2]string]*redis.IntCmd{}
	if _, err := c.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, v := range variants {
			users[v] = p.PFCount(ctx, base+"users:"+v+":"+day)
		}
		for _, t := range ctypes {
			counts[t] = p.HGetAll(ctx, base+"conversions:"+t+":"+day)
			values[t] = p.HGetAll(ctx, base+"value:"+t+":"+day)
			for _, v := range variants {
				converters[[2]string{t, v}] = p.PFCount(ctx, base+"converters:"+t+":"+v+":"+day)
			}
		}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("read live counters of %q: %w", experiment, err)
	}
	out := make(map[string]VariantStats, len(variants))
	for _, v := range variants {
		exp, _ := strconv.ParseInt(exposures.Val()[v], 10, 64)
		vs := VariantStats{Exposures: exp, UniqueUsers: users[v].Val(), Conversions: map[string]ConversionStats{}}
		for _, t := range ctypes {
			n, _ := strconv.ParseInt(counts[t].Val()[v], 10, 64)
			val, _ := strconv.ParseFloat(values[t].Val()[v], 64)
			cs := ConversionStats{Count: n, Value: val, UniqueConverters: converters[[2]string{t, v}].Val()}
			if vs.UniqueUsers > 0 {
				cs.ConversionRate = float64(cs.UniqueConverters) / float64(vs.UniqueUsers) * 100
			}
			vs.Conversions[t] = cs
		}
		out[v] = vs
	}
	return out, nil
}

// Experiments lists every experiment ingest has counted events for.
func (c *Counters) Experiments(ctx context.Context) ([]string, error) {
	names, err := c.rdb.SMembers(ctx, c.keys.experiments()).Result()
	if err != nil {
		return nil, fmt.Errorf("list experiments: %w", err)
	}
	slices.Sort(names)
	return names, nil
}
