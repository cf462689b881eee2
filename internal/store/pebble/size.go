package pebblestore

// SizeBytes returns the bytes the store occupies on disk (its sstables,
// write-ahead log, MANIFEST and other files, as Pebble counts them).
func (s *Store) SizeBytes() (int64, error) {
	return int64(s.db.Metrics().DiskSpaceUsage()), nil
}
