package config

import "testing"

// TestGoMemoryLimit: by default strand serve gives the Go runtime a soft
// memory limit of the store's cache plus 128 MiB (192 MiB), following
// --store-cache-size; --memory-limit sets it, a negative one turns it off,
// and GOMEMLIMIT in the environment (already applied by the runtime) wins.
func TestGoMemoryLimit(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	none := env(nil)
	for _, tc := range []struct {
		name   string
		mutate func(*Config)
		getenv func(string) string
		want   int64
		ok     bool
	}{
		{"default", func(*Config) {}, none, 192 << 20, true},
		{"follows the cache", func(c *Config) { c.StoreCacheSize = 1 << 30 }, none, 1<<30 + 128<<20, true},
		{"explicit", func(c *Config) { c.MemoryLimit = 512 << 20 }, none, 512 << 20, true},
		{"off", func(c *Config) { c.MemoryLimit = -1 }, none, 0, false},
		{"GOMEMLIMIT wins", func(c *Config) { c.MemoryLimit = 512 << 20 }, env(map[string]string{"GOMEMLIMIT": "1GiB"}), 0, false},
	} {
		c := Default()
		tc.mutate(&c)
		got, ok := c.GoMemoryLimit(tc.getenv)
		if got != tc.want || ok != tc.ok {
			t.Errorf("%s: GoMemoryLimit() = %d, %v; want %d, %v", tc.name, got, ok, tc.want, tc.ok)
		}
	}
}
