package flags

import (
	"crypto/md5"
	"encoding/binary"
	"fmt"
	"math"
	"strings"
	"testing"
)

// Known buckets, computed by hand with the seed's formula in Python 3:
//
//	h = hashlib.md5(f"{flag}:{user}".encode()).digest()
//	i = int.from_bytes(h[:4], "big")          # first four bytes, big-endian
//	(i / 2**32) * 100
//
// and the salted buckets the same way over f"{flag}:{user}:variant" and
// f"{flag}:{user}:rollout". The float literals are Python's repr of the
// result, so equality is exact. The last rows pass the 128-byte stack buffer
// and hold multi-byte UTF-8 (Python encodes as UTF-8, as Go strings are).
func TestBucketKnownValues(t *testing.T) {
	tests := []struct {
		flag, user                 string
		firstFour                  uint32
		bucket, variantB, rolloutB float64
	}{
		{"dark_mode", "user_001", 0xbaf0afb9, 73.02350832615048, 94.75385879632086, 17.793375509791076},
		{"pricing_page_experiment", "user_789", 0x7b2d6e6a, 48.1161976698786, 58.70190558489412, 68.0620156461373},
		{"new_checkout_flow", "user_123", 0x1dd73368, 11.656495369970798, 61.723607731983066, 60.37528675515205},
		{"beta_features", "alice", 0x2388675d, 13.880010624416173, 51.91685694735497, 44.51002685818821},
		{"f", "", 0x22006b1c, 13.281888421624899, 36.84862244408578, 25.275414809584618},
		{strings.Repeat("\x00", 300), "u", 0x804c7987, 50.11669115629047, -1, -1},
		{"a.b-c_d", "ユーザー", 0x9f3268e7, 62.18629421200603, -1, -1},
	}
	for _, tt := range tests {
		t.Run(tt.flag+"/"+tt.user, func(t *testing.T) {
			if got := Bucket(tt.flag, tt.user); got != tt.bucket {
				t.Errorf("Bucket() = %v, want %v", got, tt.bucket)
			}
			if want := float64(tt.firstFour) / (1 << 32) * 100; want != tt.bucket {
				t.Errorf("first four bytes %#x give %v, table says %v", tt.firstFour, want, tt.bucket)
			}
			if tt.variantB < 0 {
				return // no salted values in the table for this row
			}
			if got := VariantBucket(tt.flag, tt.user); got != tt.variantB {
				t.Errorf("VariantBucket() = %v, want %v", got, tt.variantB)
			}
			if got := RolloutBucket(tt.flag, tt.user); got != tt.rolloutB {
				t.Errorf("RolloutBucket() = %v, want %v", got, tt.rolloutB)
			}
		})
	}
}

// refBucket is the seed's formula written out with crypto/md5, independent of
// hashBucket's buffer handling.
func refBucket(key string) float64 {
	sum := md5.Sum([]byte(key))
	return float64(binary.BigEndian.Uint32(sum[:4])) / (1 << 32) * 100
}

// Every bucket equals the formula computed with crypto/md5, for keys of every
// length around the stack buffer's 128 bytes.
func TestBucketMatchesMD5(t *testing.T) {
	for n := range 300 {
		flag := strings.Repeat("f", n)
		for _, user := range []string{"", "u", fmt.Sprintf("user_%d", n), "ユーザー"} {
			checkBuckets(t, flag, user)
		}
	}
}

// checkBuckets fails the test unless Bucket, VariantBucket and RolloutBucket
// of flag and user each equal the formula on their key, in [0, 100).
func checkBuckets(t *testing.T, flag, user string) {
	t.Helper()
	for _, tc := range []struct {
		name string
		got  float64
		key  string
	}{
		{"Bucket", Bucket(flag, user), flag + ":" + user},
		{"VariantBucket", VariantBucket(flag, user), flag + ":" + user + ":variant"},
		{"RolloutBucket", RolloutBucket(flag, user), flag + ":" + user + ":rollout"},
	} {
		if want := refBucket(tc.key); tc.got != want {
			t.Fatalf("%s(%q, %q) = %v, md5 of %q gives %v", tc.name, flag, user, tc.got, tc.key, want)
		}
		if !(tc.got >= 0 && tc.got < 100) {
			t.Fatalf("%s(%q, %q) = %v outside [0, 100)", tc.name, flag, user, tc.got)
		}
	}
}

// chiSquare returns the statistic of observed counts against equal expectation.
func chiSquare(counts []int, total int) float64 {
	exp := float64(total) / float64(len(counts))
	var x2 float64
	for _, c := range counts {
		d := float64(c) - exp
		x2 += d * d / exp
	}
	return x2
}

// With 99 degrees of freedom the 0.999 quantile of chi-square is 148.23; a
// uniform hash exceeds it one time in a thousand, and these ids are fixed, so
// the test is deterministic.
const chi2df99p999 = 148.23

func TestBucketUniform(t *testing.T) {
	const n = 100_000
	for _, fn := range []struct {
		name string
		f    func(string, string) float64
	}{{"bucket", Bucket}, {"variant", VariantBucket}} {
		counts := make([]int, 100)
		for i := range n {
			b := fn.f("uniformity_flag", fmt.Sprintf("user_%d", i))
			counts[int(b)]++
		}
		if x2 := chiSquare(counts, n); x2 > chi2df99p999 {
			t.Errorf("%s: chi-square over 100 bins = %.1f > %.2f: not uniform", fn.name, x2, chi2df99p999)
		}
	}
}

func TestVariantSplitMatchesWeights(t *testing.T) {
	const n = 100_000
	for _, status := range []Status{StatusEnabled, StatusPercentage} {
		f := (&Flag{Key: "split", Status: status, Percentage: 100,
			Variants: Variants{{"control", 50}, {"variant_a", 30}, {"variant_b", 20}}}).Prepare()
		got := map[string]int{}
		for i := range n {
			got[Evaluate(f, EvalContext{UserID: fmt.Sprintf("u%d", i)}).Variant]++
		}
		// Each count is binomial; 4 standard deviations is a one-in-15,000 miss.
		for _, v := range f.Variants {
			p := v.Weight / 100
			sd := math.Sqrt(n * p * (1 - p))
			if d := math.Abs(float64(got[v.Name]) - n*p); d > 4*sd {
				t.Errorf("%s: %s got %d users, want %.0f ± %.0f", status, v.Name, got[v.Name], n*p, 4*sd)
			}
		}
	}
}

// For status percentage, being rolled in and the variant must be independent:
// among rolled-in users the variants keep their weights (the seed's single hash
// would give every rolled-in user at 20% the first variant).
func TestPercentageRolloutIndependentOfVariant(t *testing.T) {
	const n = 100_000
	f := (&Flag{Key: "indep", Status: StatusPercentage, Percentage: 20,
		Variants: Variants{{"control", 50}, {"treatment", 50}}}).Prepare()
	// 2x2 table: rolled in (bucket < 20) × variant the user would get.
	var table [2][2]int
	for i := range n {
		u := fmt.Sprintf("u%d", i)
		in := 0
		if Bucket("indep", u) < 20 {
			in = 1
		}
		v := 0
		if VariantBucket("indep", u) >= 50 {
			v = 1
		}
		table[in][v]++
		r := Evaluate(f, EvalContext{UserID: u})
		if r.Enabled != (in == 1) {
			t.Fatalf("user %s: enabled %v, bucket says %v", u, r.Enabled, in == 1)
		}
	}
	// Chi-square test of independence, 1 df: 10.83 is the 0.999 quantile.
	var rows, cols [2]float64
	for i := range 2 {
		for j := range 2 {
			rows[i] += float64(table[i][j])
			cols[j] += float64(table[i][j])
		}
	}
	var x2 float64
	for i := range 2 {
		for j := range 2 {
			e := rows[i] * cols[j] / n
			d := float64(table[i][j]) - e
			x2 += d * d / e
		}
	}
	if x2 > 10.83 {
		t.Errorf("rollout × variant chi-square = %.2f > 10.83: not independent (table %v)", x2, table)
	}
	in := table[1][0] + table[1][1]
	if share := float64(table[1][1]) / float64(in); math.Abs(share-0.5) > 4*math.Sqrt(0.25/float64(in)) {
		t.Errorf("treatment share among rolled-in users = %.3f, want 0.5", share)
	}
}

// Raising the percentage only adds users, and reaching 100 moves nobody
// between variants.
func TestRaisingPercentageOnlyAddsUsers(t *testing.T) {
	const n = 20_000
	steps := []float64{0, 1, 5, 20, 50, 99.9, 100}
	prev := make([]Result, n)
	for si, pct := range steps {
		f := (&Flag{Key: "ramp", Status: StatusPercentage, Percentage: pct,
			Variants: Variants{{"a", 34}, {"b", 33}, {"c", 33}}}).Prepare()
		on := 0
		for i := range n {
			r := Evaluate(f, EvalContext{UserID: fmt.Sprintf("u%d", i)})
			if si > 0 && prev[i].Enabled {
				if !r.Enabled {
					t.Fatalf("u%d: on at %v%%, off at %v%%", i, steps[si-1], pct)
				}
				if r.Variant != prev[i].Variant {
					t.Fatalf("u%d: variant %s at %v%%, %s at %v%%", i, prev[i].Variant, steps[si-1], r.Variant, pct)
				}
			}
			if r.Enabled {
				on++
			}
			prev[i] = r
		}
		if pct == 0 && on != 0 || pct == 100 && on != n {
			t.Errorf("at %v%%: %d of %d users on", pct, on, n)
		}
	}
}

func FuzzBucket(f *testing.F) {
	f.Add("flag", "user")
	f.Add("", "")
	f.Add("a.b-c_d", "ユーザー")
	f.Add(strings.Repeat("k", 126), "u") // "<flag>:<user>" fills the 128-byte stack buffer
	f.Add(strings.Repeat("k", 127), "u") // one byte more
	f.Add(strings.Repeat("k", 200), "u")
	f.Fuzz(func(t *testing.T, flag, user string) { checkBuckets(t, flag, user) })
}
