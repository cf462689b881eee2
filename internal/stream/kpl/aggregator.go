package kpl

import (
	"crypto/md5"
	"errors"
	"fmt"
	"math"
	"sort"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/awslabs/kinesis-aggregation/go/v2/records"
	"github.com/golang/protobuf/proto"
)

// Magic is the 4-byte prefix of a KPL aggregated record.
var Magic = []byte{0xF3, 0x89, 0x9A, 0xC2}

const (
	// AggregatePartitionKey is the outer partition key of every aggregated
	// record (the KPL's constant; routing is done by the ExplicitHashKey).
	AggregatePartitionKey = "a"

	// MaxRecordSize is the Kinesis limit for one record: data plus partition
	// key, 1 MiB.
	MaxRecordSize = 1 << 20

	// DefaultMaxAggregateSize is the KPL's default AggregationMaxSize.
	DefaultMaxAggregateSize = 51200

	// DefaultMaxAggregateCount is effectively unlimited, like the KPL's
	// default AggregationMaxCount (4294967295): the size limit decides.
	DefaultMaxAggregateCount = math.MaxInt32

	// MaxPartitionKeyLength is the Kinesis limit on partition keys, in
	// Unicode characters.
	MaxPartitionKeyLength = 256

	md5Len = md5.Size
)

// Config sets the aggregation limits. The zero Config means the KPL defaults.
type Config struct {
	// MaxAggregateSize bounds the size of every aggregated Kinesis record,
	// counted as Kinesis does: data (magic + protobuf + MD5) plus the outer
	// partition key. 0 means DefaultMaxAggregateSize; it must not exceed
	// MaxRecordSize. A user record whose own size (data + partition key)
	// exceeds it is sent raw, alone.
	MaxAggregateSize int
	// MaxAggregateCount bounds the number of user records in one aggregated
	// record. 0 means DefaultMaxAggregateCount; 1 disables aggregation.
	MaxAggregateCount int
}

// UserRecord is one record to put: a QLDB stream record and its partition
// key. Seq is the caller's position for it (e.g. an index into its own
// outbox); the Aggregator only copies it into the output Record that carries
// the user record. The Aggregator keeps Data (not a copy) until that Record
// is returned, so the caller must not modify it before.
type UserRecord struct {
	PartitionKey string
	Data         []byte
	Seq          uint64
}

// Record is one Kinesis record to put: either a single user record sent raw
// (its own partition key, no ExplicitHashKey) or a KPL aggregate of two or
// more (PartitionKey "a", ExplicitHashKey set).
type Record struct {
	// ShardID is the open shard the record is destined for, per the
	// ShardMap; "" for a raw record whose partition key hashes into no open
	// shard of the map.
	ShardID         string
	PartitionKey    string
	ExplicitHashKey string // decimal; "" for a raw record
	Data            []byte
	// Seqs lists the Seq of every user record inside, in input order. When
	// Kinesis acknowledges this record, all of them are delivered.
	Seqs []uint64
}

// Aggregated reports whether r is a KPL aggregate (two or more user records).
func (r *Record) Aggregated() bool { return len(r.Seqs) > 1 }

// Size is the size Kinesis accounts for r: data plus partition key.
func (r *Record) Size() int { return len(r.Data) + len(r.PartitionKey) }

// PutRecordsEntry returns r as a PutRecords request entry.
func (r *Record) PutRecordsEntry() types.PutRecordsRequestEntry {
	e := types.PutRecordsRequestEntry{Data: r.Data, PartitionKey: aws.String(r.PartitionKey)}
	if r.ExplicitHashKey != "" {
		e.ExplicitHashKey = aws.String(r.ExplicitHashKey)
	}
	return e
}

// Aggregator groups user records by destination shard into KPL aggregated
// records. It is not safe for concurrent use.
//
// Guarantees: every user record added is returned in exactly one Record, in
// one piece; within a shard, Records are returned in input order and user
// records keep their order inside them; no Record exceeds MaxAggregateSize
// unless it is a single raw user record (which is at most MaxRecordSize); an
// aggregate holds at most MaxAggregateCount user records, all of which hash
// into the shard that its ExplicitHashKey routes to. The ExplicitHashKey of
// an aggregate is the hash key of its first user record, as the KPL does.
type Aggregator struct {
	maxSize  int
	maxCount int
	shards   *ShardMap
	pending  map[string]*buffer // by shard id
	adds     uint64
	buffered int
}

// buffer is the aggregate being built for one shard.
type buffer struct {
	shardID string
	first   uint64 // add counter of the first record, orders Flush output
	recs    []UserRecord
	keys    map[string]uint64 // partition key -> index in keyList
	keyList []string
	pbSize  int // exact protobuf size of the AggregatedRecord so far
}

// NewAggregator returns an Aggregator routing by m with the limits of cfg.
func NewAggregator(m *ShardMap, cfg Config) (*Aggregator, error) {
	if m == nil {
		return nil, errors.New("kpl: nil shard map")
	}
	a := &Aggregator{maxSize: cfg.MaxAggregateSize, maxCount: cfg.MaxAggregateCount, shards: m, pending: map[string]*buffer{}}
	if a.maxSize == 0 {
		a.maxSize = DefaultMaxAggregateSize
	}
	if a.maxCount == 0 {
		a.maxCount = DefaultMaxAggregateCount
	}
	// The smallest aggregate (two one-character keys, empty data) must fit.
	if lo := len(Magic) + md5Len + len(AggregatePartitionKey) + 2*(3+6); a.maxSize < lo || a.maxSize > MaxRecordSize {
		return nil, fmt.Errorf("kpl: MaxAggregateSize %d outside [%d, %d]", a.maxSize, lo, MaxRecordSize)
	}
	if a.maxCount < 1 {
		return nil, fmt.Errorf("kpl: MaxAggregateCount %d < 1", a.maxCount)
	}
	return a, nil
}

// Add adds r and returns the Records it completed (possibly none): the
// pending aggregate of r's shard when r does not fit in it, r itself when it
// is too large to aggregate, or the aggregate r filled up to
// MaxAggregateCount. It fails, keeping nothing, when r's partition key is
// empty or longer than MaxPartitionKeyLength characters, or r is larger than
// MaxRecordSize (data + partition key).
func (a *Aggregator) Add(r UserRecord) ([]Record, error) {
	if n := utf8.RuneCountInString(r.PartitionKey); n == 0 || n > MaxPartitionKeyLength {
		return nil, fmt.Errorf("kpl: partition key of %d characters, want 1..%d", n, MaxPartitionKeyLength)
	}
	size := len(r.Data) + len(r.PartitionKey)
	if size > MaxRecordSize {
		return nil, fmt.Errorf("kpl: user record of %d bytes exceeds the Kinesis limit of %d", size, MaxRecordSize)
	}
	if r.Data == nil {
		r.Data = []byte{} // a proto2 required bytes field must not be nil
	}
	a.adds++
	h := partitionHash(r.PartitionKey)
	i, ok := a.shards.shardForHash(h)
	if !ok {
		// Unroutable by this map: raw is always delivered correctly.
		return []Record{raw(r, "")}, nil
	}
	shard := a.shards.ranges[i].id
	b := a.pending[shard]
	var out []Record
	if size > a.maxSize {
		if b != nil {
			rec, err := a.emit(b)
			if err != nil {
				return nil, err
			}
			out = append(out, rec)
		}
		return append(out, raw(r, shard)), nil
	}
	if b != nil && (len(b.recs) >= a.maxCount || b.sizeWith(r) > a.maxSize) {
		rec, err := a.emit(b)
		if err != nil {
			return nil, err
		}
		out = append(out, rec)
		b = nil
	}
	if b == nil {
		b = &buffer{shardID: shard, first: a.adds, keys: map[string]uint64{}}
		a.pending[shard] = b
	}
	b.add(r)
	a.buffered++
	if len(b.recs) >= a.maxCount {
		rec, err := a.emit(b)
		if err != nil {
			return nil, err
		}
		out = append(out, rec)
	}
	return out, nil
}

// Flush returns every pending aggregate (a lone pending record raw), ordered
// by the arrival of their first user record, and leaves the Aggregator empty.
func (a *Aggregator) Flush() ([]Record, error) {
	bufs := make([]*buffer, 0, len(a.pending))
	for _, b := range a.pending {
		bufs = append(bufs, b)
	}
	sort.Slice(bufs, func(i, j int) bool { return bufs[i].first < bufs[j].first })
	out := make([]Record, 0, len(bufs))
	for _, b := range bufs {
		rec, err := a.emit(b)
		if err != nil {
			return out, err
		}
		out = append(out, rec)
	}
	return out, nil
}

// emit removes b from the pending set and encodes it.
func (a *Aggregator) emit(b *buffer) (Record, error) {
	delete(a.pending, b.shardID)
	a.buffered -= len(b.recs)
	if len(b.recs) == 1 {
		return raw(b.recs[0], b.shardID), nil
	}
	data, err := b.encode()
	if err != nil {
		return Record{}, err
	}
	if len(data)+len(AggregatePartitionKey) != b.size() {
		return Record{}, fmt.Errorf("kpl: internal error: aggregate is %d bytes, computed %d", len(data)+1, b.size())
	}
	seqs := make([]uint64, len(b.recs))
	for i, r := range b.recs {
		seqs[i] = r.Seq
	}
	return Record{
		ShardID:         b.shardID,
		PartitionKey:    AggregatePartitionKey,
		ExplicitHashKey: partitionHash(b.recs[0].PartitionKey).String(),
		Data:            data,
		Seqs:            seqs,
	}, nil
}

func raw(r UserRecord, shard string) Record {
	return Record{ShardID: shard, PartitionKey: r.PartitionKey, Data: r.Data, Seqs: []uint64{r.Seq}}
}

// size is the Kinesis size of b as an aggregate.
func (b *buffer) size() int {
	return len(Magic) + b.pbSize + md5Len + len(AggregatePartitionKey)
}

// sizeWith is the Kinesis size of b as an aggregate after adding r.
func (b *buffer) sizeWith(r UserRecord) int {
	n := b.size()
	idx, ok := b.keys[r.PartitionKey]
	if !ok {
		idx = uint64(len(b.keyList))
		n += keyEntrySize(r.PartitionKey)
	}
	return n + recordEntrySize(idx, len(r.Data))
}

func (b *buffer) add(r UserRecord) {
	idx, ok := b.keys[r.PartitionKey]
	if !ok {
		idx = uint64(len(b.keyList))
		b.keys[r.PartitionKey] = idx
		b.keyList = append(b.keyList, r.PartitionKey)
		b.pbSize += keyEntrySize(r.PartitionKey)
	}
	b.pbSize += recordEntrySize(idx, len(r.Data))
	b.recs = append(b.recs, r)
}

// encode returns magic + protobuf AggregatedRecord + MD5(protobuf).
func (b *buffer) encode() ([]byte, error) {
	agg := &records.AggregatedRecord{
		PartitionKeyTable: b.keyList,
		Records:           make([]*records.Record, len(b.recs)),
	}
	idx := make([]uint64, len(b.recs))
	for i, r := range b.recs {
		idx[i] = b.keys[r.PartitionKey]
		agg.Records[i] = &records.Record{PartitionKeyIndex: &idx[i], Data: r.Data}
	}
	pb, err := proto.Marshal(agg)
	if err != nil {
		return nil, fmt.Errorf("kpl: marshal aggregated record: %w", err)
	}
	out := make([]byte, 0, len(Magic)+len(pb)+md5Len)
	out = append(out, Magic...)
	out = append(out, pb...)
	sum := md5.Sum(pb)
	return append(out, sum[:]...), nil
}

// keyEntrySize is the protobuf size of one partition_key_table entry
// (field 1, length-delimited).
func keyEntrySize(key string) int { return 1 + varintLen(uint64(len(key))) + len(key) }

// recordEntrySize is the protobuf size of one records entry (field 3) holding
// partition_key_index (field 1, varint) and data (field 3, bytes).
func recordEntrySize(keyIndex uint64, dataLen int) int {
	inner := 1 + varintLen(keyIndex) + 1 + varintLen(uint64(dataLen)) + dataLen
	return 1 + varintLen(uint64(inner)) + inner
}

func varintLen(n uint64) int {
	l := 1
	for ; n >= 0x80; n >>= 7 {
		l++
	}
	return l
}
