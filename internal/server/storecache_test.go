package server_test

import (
	"testing"

	"github.com/strand-db/strand/internal/config"
	pebblestore "github.com/strand-db/strand/internal/store/pebble"
)

// TestStoreCacheDefaultsAgree: --store-cache-size's default (written in
// package config, which does not link Pebble) is the embedded store's own
// default block cache.
func TestStoreCacheDefaultsAgree(t *testing.T) {
	if config.DefaultStoreCacheSize != pebblestore.DefaultCacheSize || config.Default().StoreCacheSize != pebblestore.DefaultCacheSize {
		t.Fatalf("config default %d, store default %d", config.Default().StoreCacheSize, pebblestore.DefaultCacheSize)
	}
}
