//go:build !linux

package store

import "os"

// datasync makes f's data durable (fsync where fdatasync is unavailable).
func datasync(f *os.File) error { return f.Sync() }
