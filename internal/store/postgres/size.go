package pgstore

import (
	"context"
	"fmt"
)

// SizeBytes returns the bytes of Strand's table and its indexes
// (pg_total_relation_size of strand_kv), read within the store's operation
// timeout.
func (s *Store) SizeBytes() (int64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), s.opTimeout)
	defer cancel()
	var n int64
	if err := s.pool.QueryRow(ctx, `SELECT pg_total_relation_size('strand_kv')`).Scan(&n); err != nil {
		return 0, fmt.Errorf("store: size of %s: %w", s.where, err)
	}
	return n, nil
}
