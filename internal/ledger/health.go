package ledger

import (
	"time"
)

// Damage records that reading a ledger's stored data met on-disk corruption
// (a storage block whose checksum does not match what was written). It is
// kept in memory only: after a restart the first read of the damaged data
// records it again, and `strand verify` finds it offline.
type Damage struct {
	// Where names the first damaged data found, e.g. "block 12".
	Where string
	// Err is the storage error, for the log; clients never see it.
	Err error
	// Since is when it was found.
	Since time.Time
}

// MarkDamaged records that ledger id's storage is damaged at where, and
// logs it (once per ledger, with the ledger's name). It reports whether
// this was the first report for the ledger. A damaged ledger stays ACTIVE
// (QLDB's LedgerState has no value for it; see docs/compatibility.md): the
// reads that meet the damage fail with InternalFailure, the rest of the
// ledger and every other ledger keep serving.
func (c *Catalog) MarkDamaged(id, where string, err error) bool {
	c.mu.Lock()
	if _, ok := c.damaged[id]; ok {
		c.mu.Unlock()
		return false
	}
	c.damaged[id] = Damage{Where: where, Err: err, Since: time.Now()}
	name := id
	for _, l := range c.ledgers {
		if l.ID == id {
			name = l.Name
			break
		}
	}
	c.mu.Unlock()
	c.opts.Logger.Error("ledger storage is damaged: reads of the damaged data fail with InternalFailure; stop the server and run strand verify, then restore the ledger from a backup",
		"ledger", name, "ledger_id", id, "where", where, "err", err)
	return true
}

// Damaged returns the damage recorded for ledger id, if any.
func (c *Catalog) Damaged(id string) (Damage, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	d, ok := c.damaged[id]
	return d, ok
}

// Health is one ledger's storage health, for metrics.
type Health struct {
	Name    string
	Healthy bool // false once MarkDamaged was called for the ledger
}

// HealthAll returns the health of every ledger in the catalogue, in no
// particular order.
func (c *Catalog) HealthAll() []Health {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]Health, 0, len(c.ledgers))
	for _, l := range c.ledgers {
		_, bad := c.damaged[l.ID]
		out = append(out, Health{Name: l.Name, Healthy: !bad})
	}
	return out
}
