// Package streamtest is the consumer side of journal stream tests: it reads
// every shard of a Kinesis stream, deaggregates with the kinesis-aggregation
// library as a Lambda or KCL consumer would, decodes each QLDB record, and
// checks what a consumer relies on (sub-records hash into the shard that
// received them, partition keys follow QLDB's rule).
package streamtest

import (
	"context"
	"encoding/hex"
	"fmt"
	"math/big"
	"sort"

	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/awslabs/kinesis-aggregation/go/v2/deaggregator"

	"github.com/strand-db/strand/internal/journal"
	"github.com/strand-db/strand/internal/stream/kpl"
	"github.com/strand-db/strand/internal/stream/record"
	"github.com/strand-db/strand/internal/testenv/kinesisemu"
)

// Delivered is one user record as a consumer sees it.
type Delivered struct {
	ShardID      string
	PartitionKey string
	Aggregated   bool // it arrived inside a KPL aggregate
	Record       *record.Record
}

// Collection is everything read from a stream.
type Collection struct {
	Records        []Delivered
	KinesisRecords int // records as stored by Kinesis (aggregates count once)
	// Dropped counts aggregated user records outside their shard's hash
	// key range, which ReadAsKCL drops as KCL does.
	Dropped int
}

// Read reads and decodes every record of the stream. It fails when an
// aggregate holds a user record whose hash key lies outside the shard that
// stored it (KCL would drop it) or when a record does not decode.
func Read(ctx context.Context, emu *kinesisemu.Emulator, streamName string) (*Collection, error) {
	return read(ctx, emu, streamName, true)
}

// ReadAsKCL is Read for a consumer that, like KCL, silently drops
// aggregated user records whose hash key lies outside the receiving shard;
// it counts them in Dropped instead of failing.
func ReadAsKCL(ctx context.Context, emu *kinesisemu.Emulator, streamName string) (*Collection, error) {
	return read(ctx, emu, streamName, false)
}

func read(ctx context.Context, emu *kinesisemu.Emulator, streamName string, strict bool) (*Collection, error) {
	shards, err := emu.ReadAll(ctx, streamName)
	if err != nil {
		return nil, err
	}
	c := &Collection{}
	for _, sh := range shards {
		lo, _ := new(big.Int).SetString(sh.StartingHashKey, 10)
		hi, _ := new(big.Int).SetString(sh.EndingHashKey, 10)
		for _, kr := range sh.Records {
			c.KinesisRecords++
			aggregated := len(kr.Data) >= 4 && string(kr.Data[:4]) == string(kpl.Magic)
			users, err := deaggregator.DeaggregateRecords([]types.Record{kr})
			if err != nil {
				return nil, fmt.Errorf("streamtest: deaggregate a record of %s: %w", sh.ShardID, err)
			}
			for _, u := range users {
				pk := *u.PartitionKey
				if aggregated && lo != nil && hi != nil {
					h, _ := new(big.Int).SetString(kpl.HashKeyFor(pk), 10)
					if h.Cmp(lo) < 0 || h.Cmp(hi) > 0 {
						if strict {
							return nil, fmt.Errorf("streamtest: user record %s aggregated into %s lies outside its hash key range", pk, sh.ShardID)
						}
						c.Dropped++
						continue
					}
				}
				rec, err := record.Decode(u.Data)
				if err != nil {
					return nil, fmt.Errorf("streamtest: decode user record %s: %w", pk, err)
				}
				c.Records = append(c.Records, Delivered{ShardID: sh.ShardID, PartitionKey: pk, Aggregated: aggregated, Record: rec})
			}
		}
	}
	return c, nil
}

// Controls returns the control record types in delivery order per shard.
func (c *Collection) Controls() []string {
	var out []string
	for _, d := range c.Records {
		if d.Record.Type == record.TypeControl {
			out = append(out, d.Record.ControlType)
		}
	}
	return out
}

// CheckPartitionKeys checks QLDB's partition key rule for every record.
func (c *Collection) CheckPartitionKeys() error {
	for _, d := range c.Records {
		if want := d.Record.PartitionKey(); d.PartitionKey != want {
			return fmt.Errorf("streamtest: %s record has partition key %s, want %s", d.Record.Type, d.PartitionKey, want)
		}
	}
	return nil
}

// Blocks rebuilds journal blocks from BLOCK_SUMMARY and REVISION_DETAILS
// records (deduplicated, in sequence order), as the DMV sample's stream
// verifier does, filling each block's revisions with the full details.
func (c *Collection) Blocks() ([]*journal.Block, error) {
	summaries := map[uint64]*journal.Block{}
	details := map[string]journal.Revision{} // by revision hash
	for _, d := range c.Records {
		switch d.Record.Type {
		case record.TypeBlockSummary:
			summaries[d.Record.Block.Address.SequenceNo] = d.Record.Block
		case record.TypeRevisionDetails:
			details[hex.EncodeToString(d.Record.Revision.Revision.Hash)] = d.Record.Revision.Revision
		}
	}
	seqs := make([]uint64, 0, len(summaries))
	for s := range summaries {
		seqs = append(seqs, s)
	}
	sort.Slice(seqs, func(i, j int) bool { return seqs[i] < seqs[j] })
	out := make([]*journal.Block, 0, len(seqs))
	for _, s := range seqs {
		b := *summaries[s]
		revs := make([]journal.Revision, len(b.Revisions))
		for i, r := range b.Revisions {
			if r.IsSystem() {
				revs[i] = r
				continue
			}
			full, ok := details[hex.EncodeToString(r.Hash)]
			if !ok {
				return nil, fmt.Errorf("streamtest: block %d: no REVISION_DETAILS for revision %x of %s", s, r.Hash, r.Metadata.ID)
			}
			revs[i] = full
		}
		b.Revisions = revs
		out = append(out, &b)
	}
	return out, nil
}
