package stream

import "time"

// Expire runs one pass of the retention expiry at now (tests cannot wait
// for the minute ticker).
func (m *Manager) Expire(now time.Time) { m.expire(now) }
