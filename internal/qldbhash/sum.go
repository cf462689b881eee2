package qldbhash

import (
	"fmt"

	"github.com/strand-db/strand/internal/ionvalue"
)

// HashValueSum is HashValue returning the hash as an array, so that a caller
// combining hashes (with DotSum) allocates nothing for the intermediate ones.
// It fails exactly when HashValue fails, with the same error.
func HashValueSum(v *ionvalue.Value) ([Size]byte, error) {
	sum, err := fastSum(v, false)
	if err != nil {
		return sum, fmt.Errorf("qldbhash: hash: %w", err)
	}
	return sum, nil
}

// DotSum is Dot for two hashes of Size bytes: Dot(a[:], b[:]).
func DotSum(a, b *[Size]byte) [Size]byte { return dot(a, b) }
