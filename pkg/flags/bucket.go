package flags

import (
	"crypto/md5"
	"encoding/binary"
)

// Bucket is the seed's bucketing: uint32_be(md5("<flag>:<user>")[0:4]) / 2^32 * 100,
// a stable number in [0, 100) for each (flag, user).
func Bucket(flagKey, userID string) float64 {
	return hashBucket(flagKey, userID, "")
}

// variantSalt separates the variant draw from the rollout draw for status
// percentage, so who is rolled in and which variant they get are independent.
const variantSalt = "variant"

// VariantBucket is the bucket that picks the variant for a flag with status
// percentage: uint32_be(md5("<flag>:<user>:variant")[0:4]) / 2^32 * 100.
func VariantBucket(flagKey, userID string) float64 {
	return hashBucket(flagKey, userID, variantSalt)
}

// rolloutSalt separates the rollout draw from the variant draw for a flag
// whose variants use the plain bucket (variant_hash "plain").
const rolloutSalt = "rollout"

// RolloutBucket is the rollout gate of a flag with status percentage whose
// variants use the plain bucket (variant_hash "plain"):
// uint32_be(md5("<flag>:<user>:rollout")[0:4]) / 2^32 * 100. Every other
// flag's gate is the plain [Bucket], as in the seed.
func RolloutBucket(flagKey, userID string) float64 {
	return hashBucket(flagKey, userID, rolloutSalt)
}

func hashBucket(flagKey, userID, salt string) float64 {
	// A stack buffer keeps the common case free of allocations; append grows it
	// on the heap only for keys longer than it.
	var buf [128]byte
	b := append(buf[:0], flagKey...)
	b = append(b, ':')
	b = append(b, userID...)
	if salt != "" {
		b = append(b, ':')
		b = append(b, salt...)
	}
	sum := md5.Sum(b)
	// Divide first, as the seed's Python does: u/2^32 is exact, the *100 rounds once.
	return float64(binary.BigEndian.Uint32(sum[:4])) / (1 << 32) * 100
}
