package stream

import "time"

// Expire runs one pass of the retention expiry at now (tests cannot wait
// for the minute ticker).
func (m *Manager) Expire(now time.Time) { m.expire(now) }

// SetCheckpointHook makes every worker call f at the start of each
// checkpoint write, until the test ends.
func SetCheckpointHook(t interface{ Cleanup(func()) }, f func(streamID string)) {
	checkpointHook.Store(&f)
	t.Cleanup(func() { checkpointHook.Store(nil) })
}

// SetBlockSourceHook installs h (see blockSourceHook) until the test ends.
func SetBlockSourceHook(t interface{ Cleanup(func()) }, h BlockSourceHook) {
	blockSourceHook.Store(&h)
	t.Cleanup(func() { blockSourceHook.Store(nil) })
}
