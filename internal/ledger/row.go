package ledger

import (
	"encoding/json"
	"fmt"
)

// Row returns the key and the value, read from the store now, of the
// catalogue entry of the ledger with the given id, and ok false when the
// catalogue holds no ledger of that id (a name that was deleted and used
// again names another id). It is what a node expects, unchanged, in the
// batch that takes a ledger's lease (cluster.Options.Catalogued), so that
// no lease is written for a ledger once its entry is deleted.
func (c *Catalog) Row(id string) (key, value []byte, ok bool, err error) {
	name, found := c.nameOf(id)
	if !found {
		if err := c.sync(); err != nil {
			return nil, nil, false, err
		}
		if name, found = c.nameOf(id); !found {
			return nil, nil, false, nil
		}
	}
	key = catalogKey(name)
	value, ok, err = c.st.Get(key)
	if err != nil {
		return nil, nil, false, fmt.Errorf("ledger: load catalogue entry: %w", err)
	}
	if !ok {
		return nil, nil, false, nil
	}
	var e Entry
	if err := json.Unmarshal(value, &e); err != nil {
		return nil, nil, false, fmt.Errorf("ledger: corrupt catalogue entry %s: %w", key, err)
	}
	if e.ID != id {
		return nil, nil, false, nil
	}
	return key, value, true, nil
}

// nameOf returns the name of the ledger with the given id as last read.
func (c *Catalog) nameOf(id string) (string, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	for name, l := range c.ledgers {
		if l.ID == id {
			return name, true
		}
	}
	return "", false
}
