package kpl

import "errors"

// Inspection and reconfiguration that only tests use.

// ShardFor returns the open shard that Kinesis routes partitionKey to: the one
// whose [StartingHashKey, EndingHashKey] holds MD5(partitionKey) as a 128-bit
// big-endian integer. ok is false when no open shard covers that hash key.
func (m *ShardMap) ShardFor(partitionKey string) (shardID string, ok bool) {
	i, ok := m.shardForHash(partitionHash(partitionKey))
	if !ok {
		return "", false
	}
	return m.ranges[i].id, true
}

// ExplicitHashKeyFor returns a decimal hash key inside the range of the open
// shard shardID (its StartingHashKey), or "" if shardID is not an open shard
// of the map. Putting a record with this ExplicitHashKey sends it to shardID.
func (m *ShardMap) ExplicitHashKeyFor(shardID string) string {
	i, ok := m.byID[shardID]
	if !ok {
		return ""
	}
	return m.ranges[i].start.String()
}

// ShardIDs returns the ids of the open shards in hash key order.
func (m *ShardMap) ShardIDs() []string {
	ids := make([]string, len(m.ranges))
	for i, r := range m.ranges {
		ids[i] = r.id
	}
	return ids
}

// Pending returns the number of user records added but not yet returned.
func (a *Aggregator) Pending() int { return a.buffered }

// SetShardMap flushes everything pending (grouped under the old map) and
// routes later records by m.
func (a *Aggregator) SetShardMap(m *ShardMap) ([]Record, error) {
	if m == nil {
		return nil, errors.New("kpl: nil shard map")
	}
	out, err := a.Flush()
	a.shards = m
	return out, err
}
