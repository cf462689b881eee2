package config

import "math"

// memoryLimitHeadroom is what the automatic memory limit allows besides
// the store's block cache: the Go heap's working set (stream workers'
// rounds, requests, transactions) and the garbage between collections.
const memoryLimitHeadroom = 128 << 20

// GoMemoryLimit returns the soft memory limit `strand serve` gives the Go
// runtime (runtime/debug.SetMemoryLimit), and false when it sets none:
// when GOMEMLIMIT is in the environment (getenv), the runtime has already
// applied it and it wins; a negative --memory-limit turns the limit off; 0
// (the default) means --store-cache-size plus 128 MiB (192 MiB with the
// defaults), so that the limit follows the cache, the largest fixed share.
//
// Without a limit the collector lets the heap grow to about twice what is
// live (GOGC=100) before it collects; with the store's cache in the Go heap
// (a build without cgo, as released) that doubled the cache too, and five
// streams catching up on 1,000,000 documents peaked at 327 MiB. The
// limit is soft: live data above it is kept and the collector runs more
// often (the runtime caps that at about half the CPU), so it never causes
// an out-of-memory failure of its own. CockroachDB likewise sets a soft
// limit by default, derived from its other memory settings.
func (c *Config) GoMemoryLimit(getenv func(string) string) (int64, bool) {
	if getenv("GOMEMLIMIT") != "" || c.MemoryLimit < 0 {
		return 0, false
	}
	if c.MemoryLimit > 0 {
		return c.MemoryLimit, true
	}
	if c.StoreCacheSize > math.MaxInt64-memoryLimitHeadroom {
		return math.MaxInt64, true
	}
	return c.StoreCacheSize + memoryLimitHeadroom, true
}
