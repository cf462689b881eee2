package kinesisemu

import (
	"context"
	"crypto/md5"
	"fmt"
	"math/big"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

// ShardRecords holds the records of one shard, in sequence order.
type ShardRecords struct {
	// ShardID is the shard's ID, e.g. "shardId-000000000000".
	ShardID string
	// ParentShardID is the parent's ID after a split or merge, or "".
	ParentShardID string
	// StartingHashKey and EndingHashKey are the shard's hash-key range,
	// inclusive, as decimal strings.
	StartingHashKey string
	EndingHashKey   string
	// Records are the shard's records from TRIM_HORIZON to the end.
	Records []types.Record
}

// Contains reports whether hashKey lies in the shard's hash-key range.
func (s ShardRecords) Contains(hashKey *big.Int) bool {
	lo, ok1 := new(big.Int).SetString(s.StartingHashKey, 10)
	hi, ok2 := new(big.Int).SetString(s.EndingHashKey, 10)
	return ok1 && ok2 && hashKey.Cmp(lo) >= 0 && hashKey.Cmp(hi) <= 0
}

// PartitionKeyHash returns the hash key Kinesis derives from a partition
// key: the MD5 of its UTF-8 bytes as an unsigned 128-bit big-endian integer.
func PartitionKeyHash(partitionKey string) *big.Int {
	sum := md5.Sum([]byte(partitionKey))
	return new(big.Int).SetBytes(sum[:])
}

// maxPages bounds the GetRecords calls of one ReadAll per shard, so that a
// misbehaving emulator cannot make it loop forever.
const maxPages = 100000

// ReadAll reads every shard of the named stream from TRIM_HORIZON to its
// end, following as many GetRecords pages as needed, and returns the
// records per shard in ListShards order. A shard ends when it is closed (no
// NextShardIterator) or when GetRecords returns no records and is not
// behind the tip. Set ReadPageLimit to make pages smaller.
func (e *Emulator) ReadAll(ctx context.Context, streamName string) ([]ShardRecords, error) {
	shards, err := e.listShards(ctx, streamName)
	if err != nil {
		return nil, err
	}
	out := make([]ShardRecords, 0, len(shards))
	for _, sh := range shards {
		sr := ShardRecords{ShardID: aws.ToString(sh.ShardId), ParentShardID: aws.ToString(sh.ParentShardId)}
		if sh.HashKeyRange != nil {
			sr.StartingHashKey = aws.ToString(sh.HashKeyRange.StartingHashKey)
			sr.EndingHashKey = aws.ToString(sh.HashKeyRange.EndingHashKey)
		}
		if sr.Records, err = e.readShard(ctx, streamName, sr.ShardID); err != nil {
			return nil, err
		}
		out = append(out, sr)
	}
	return out, nil
}

func (e *Emulator) listShards(ctx context.Context, streamName string) ([]types.Shard, error) {
	var shards []types.Shard
	in := &kinesis.ListShardsInput{StreamName: aws.String(streamName)}
	for {
		page, err := e.Client.ListShards(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("ListShards %s: %w", streamName, err)
		}
		shards = append(shards, page.Shards...)
		if aws.ToString(page.NextToken) == "" {
			return shards, nil
		}
		// With NextToken, StreamName must not be set.
		in = &kinesis.ListShardsInput{NextToken: page.NextToken}
	}
}

func (e *Emulator) readShard(ctx context.Context, streamName, shardID string) ([]types.Record, error) {
	it, err := e.Client.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{
		StreamName:        aws.String(streamName),
		ShardId:           aws.String(shardID),
		ShardIteratorType: types.ShardIteratorTypeTrimHorizon,
	})
	if err != nil {
		return nil, fmt.Errorf("GetShardIterator %s/%s: %w", streamName, shardID, err)
	}
	var records []types.Record
	iter := it.ShardIterator
	for page := 0; iter != nil; page++ {
		if page == maxPages {
			return nil, fmt.Errorf("reading %s/%s: no end after %d GetRecords pages", streamName, shardID, maxPages)
		}
		in := &kinesis.GetRecordsInput{ShardIterator: iter}
		if e.ReadPageLimit > 0 {
			in.Limit = aws.Int32(e.ReadPageLimit)
		}
		res, err := e.Client.GetRecords(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("GetRecords %s/%s: %w", streamName, shardID, err)
		}
		records = append(records, res.Records...)
		if len(res.Records) == 0 && aws.ToInt64(res.MillisBehindLatest) == 0 {
			break
		}
		iter = res.NextShardIterator
	}
	return records, nil
}
