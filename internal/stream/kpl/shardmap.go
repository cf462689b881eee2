// Package kpl aggregates QLDB stream records into Kinesis records the way the
// Kinesis Producer Library (KPL) does, so that KPL-aware consumers (the KCL,
// the kinesis-aggregation deaggregators for Lambda) read them unchanged.
//
// An aggregated Kinesis record is the magic bytes F3 89 9A C2, a protobuf
// AggregatedRecord (partition_key_table + records), and the MD5 of the
// protobuf bytes; its outer partition key is "a" and its ExplicitHashKey
// routes it to the shard that every one of its user records hashes to. A
// single user record is sent raw, with its own partition key, exactly as the
// KPL and QLDB did. User records are only aggregated with records destined for
// the same shard (per a ShardMap), because the KCL drops de-aggregated records
// whose hash key falls outside the shard they were read from.
package kpl

import (
	"crypto/md5"
	"encoding/binary"
	"fmt"
	"math/big"
	"sort"

	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

// hashKey is a 128-bit Kinesis hash key.
type hashKey struct{ hi, lo uint64 }

func (a hashKey) less(b hashKey) bool { return a.hi < b.hi || (a.hi == b.hi && a.lo < b.lo) }

func (a hashKey) big() *big.Int {
	n := new(big.Int).SetUint64(a.hi)
	n.Lsh(n, 64)
	return n.Or(n, new(big.Int).SetUint64(a.lo))
}

// String is the decimal form Kinesis uses for hash keys.
func (a hashKey) String() string { return a.big().String() }

var maxHashKey = new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 128), big.NewInt(1))

// parseHashKey parses a decimal hash key in [0, 2^128-1].
func parseHashKey(s string) (hashKey, error) {
	n, ok := new(big.Int).SetString(s, 10)
	if !ok || n.Sign() < 0 || n.Cmp(maxHashKey) > 0 {
		return hashKey{}, fmt.Errorf("invalid hash key %q", s)
	}
	var b [16]byte
	n.FillBytes(b[:])
	return hashKey{binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])}, nil
}

// partitionHash is Kinesis's hash key of a partition key: the MD5 digest of its
// UTF-8 bytes read as a 128-bit big-endian unsigned integer.
func partitionHash(partitionKey string) hashKey {
	sum := md5.Sum([]byte(partitionKey))
	return hashKey{binary.BigEndian.Uint64(sum[:8]), binary.BigEndian.Uint64(sum[8:])}
}

// HashKeyFor returns the decimal Kinesis hash key of partitionKey (MD5 as a
// 128-bit big-endian integer), the value Kinesis compares with shard ranges.
func HashKeyFor(partitionKey string) string { return partitionHash(partitionKey).String() }

type shardRange struct {
	id         string
	start, end hashKey
}

// ShardMap maps hash keys to the open shards of a stream. It is immutable and
// safe for concurrent use. Build a new one (from a fresh ListShards) after a
// reshard.
type ShardMap struct {
	ranges []shardRange // open shards, sorted by start, disjoint
	byID   map[string]int
}

// NewShardMap builds a ShardMap from ListShards output. Closed shards (those
// with an EndingSequenceNumber) are ignored. Every open shard needs an id and
// a valid hash key range; open shards must not overlap. Gaps are allowed
// (ShardFor then reports false for keys in them), and so is an empty map.
func NewShardMap(shards []types.Shard) (*ShardMap, error) {
	m := &ShardMap{byID: make(map[string]int)}
	for i, s := range shards {
		if s.SequenceNumberRange != nil && s.SequenceNumberRange.EndingSequenceNumber != nil {
			continue // closed
		}
		if s.ShardId == nil || *s.ShardId == "" {
			return nil, fmt.Errorf("kpl: shard %d has no id", i)
		}
		id := *s.ShardId
		r := s.HashKeyRange
		if r == nil || r.StartingHashKey == nil || r.EndingHashKey == nil {
			return nil, fmt.Errorf("kpl: shard %s has no hash key range", id)
		}
		start, err := parseHashKey(*r.StartingHashKey)
		if err != nil {
			return nil, fmt.Errorf("kpl: shard %s: %v", id, err)
		}
		end, err := parseHashKey(*r.EndingHashKey)
		if err != nil {
			return nil, fmt.Errorf("kpl: shard %s: %v", id, err)
		}
		if end.less(start) {
			return nil, fmt.Errorf("kpl: shard %s: ending hash key below starting hash key", id)
		}
		if _, dup := m.byID[id]; dup {
			return nil, fmt.Errorf("kpl: shard %s listed twice", id)
		}
		m.byID[id] = -1
		m.ranges = append(m.ranges, shardRange{id: id, start: start, end: end})
	}
	sort.Slice(m.ranges, func(i, j int) bool { return m.ranges[i].start.less(m.ranges[j].start) })
	for i, r := range m.ranges {
		if i > 0 && !m.ranges[i-1].end.less(r.start) {
			return nil, fmt.Errorf("kpl: open shards %s and %s overlap", m.ranges[i-1].id, r.id)
		}
		m.byID[r.id] = i
	}
	return m, nil
}

// shardForHash returns the index of the open shard whose range holds h.
func (m *ShardMap) shardForHash(h hashKey) (int, bool) {
	// first range whose start > h, then step back one
	i := sort.Search(len(m.ranges), func(i int) bool { return h.less(m.ranges[i].start) }) - 1
	if i < 0 || m.ranges[i].end.less(h) {
		return 0, false
	}
	return i, true
}
