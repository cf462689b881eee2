// Package streamtail is `strand stream tail`: a consumer of the Kinesis data
// stream a journal stream writes to. It reads every shard, following
// reshards (a child shard is read only once its parents are read to their
// end, so a partition key's records stay in order), deaggregates KPL
// records as the Kinesis Client Library and the deaggregation libraries do,
// decodes each QLDB stream record, and hands it to a callback; Verifier
// checks what a consumer can check (see verify.go).
package streamtail

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/awslabs/kinesis-aggregation/go/v2/deaggregator"

	"github.com/strand-db/strand/internal/stream/record"
)

// Kinesis is the part of the Kinesis API the tail uses; a *kinesis.Client
// is one.
type Kinesis interface {
	ListShards(ctx context.Context, in *kinesis.ListShardsInput, opts ...func(*kinesis.Options)) (*kinesis.ListShardsOutput, error)
	GetShardIterator(ctx context.Context, in *kinesis.GetShardIteratorInput, opts ...func(*kinesis.Options)) (*kinesis.GetShardIteratorOutput, error)
	GetRecords(ctx context.Context, in *kinesis.GetRecordsInput, opts ...func(*kinesis.Options)) (*kinesis.GetRecordsOutput, error)
}

// Start says where reading begins.
type Start int

// The start positions of --from.
const (
	TrimHorizon Start = iota // the oldest record kept
	Latest                   // records put after the tail started
	AtTime                   // records that arrived at or after Options.Time
)

// Options configure Tail.
type Options struct {
	Client Kinesis
	// StreamName names the stream (emulators do not take ARNs).
	StreamName string
	From       Start
	Time       time.Time // for AtTime
	// Follow keeps reading (polling every Poll) once every shard is caught
	// up; without it Tail returns then.
	Follow bool
	Poll   time.Duration // default 1s
	// Limit caps the records of one GetRecords call (0: Kinesis's default,
	// 10,000).
	Limit int32
	// OnRecord receives every user record in shard order.
	OnRecord func(Delivered) error
	// OnCaughtUp is called each time every shard has been read to its
	// present end (at most once per idle period).
	OnCaughtUp func()
}

// Delivered is one user record: a record as put, or one of the user records
// of a KPL aggregate.
type Delivered struct {
	ShardID        string
	SequenceNumber string
	PartitionKey   string
	Arrival        time.Time
	Data           []byte
	// Record is the decoded QLDB stream record; nil when DecodeErr is set.
	Record    *record.Record
	DecodeErr error
}

// shardState is one shard's reading progress.
type shardState struct {
	shard    types.Shard
	started  bool
	done     bool // read to the end of a closed shard (or skipped)
	iterator string
	lastSeq  string
	caughtUp bool
}

type tailer struct {
	Options
	shards    map[string]*shardState
	initial   bool // the first listing: --from latest skips closed shards
	listedAt  time.Time
	needsList bool
}

// Tail reads the stream until ctx ends or, without Follow, every shard is
// caught up. It returns ctx's error when cancelled, or the first error of
// Kinesis (after retries for throttling) or of OnRecord.
func Tail(ctx context.Context, o Options) error {
	if o.Poll <= 0 {
		o.Poll = time.Second
	}
	t := &tailer{Options: o, shards: map[string]*shardState{}, initial: true, needsList: true}
	idleReported := false
	for {
		if t.needsList || time.Since(t.listedAt) > 10*o.Poll {
			if err := t.list(ctx); err != nil {
				return err
			}
		}
		if err := t.startEligible(ctx); err != nil {
			return err
		}
		progressed, err := t.readPass(ctx)
		if err != nil {
			return err
		}
		if t.allCaughtUp() {
			if !idleReported && o.OnCaughtUp != nil {
				o.OnCaughtUp()
			}
			idleReported = true
			if !o.Follow {
				return nil
			}
		} else if progressed {
			idleReported = false
		}
		if !progressed {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(o.Poll):
			}
		}
	}
}

// list refreshes the shard map from ListShards.
func (t *tailer) list(ctx context.Context) error {
	var token *string
	first := true
	for first || token != nil {
		in := &kinesis.ListShardsInput{NextToken: token}
		if first {
			in.StreamName = aws.String(t.StreamName)
		}
		first = false
		out, err := t.Client.ListShards(ctx, in)
		if err != nil {
			return fmt.Errorf("streamtail: ListShards %s: %w", t.StreamName, err)
		}
		for _, sh := range out.Shards {
			id := aws.ToString(sh.ShardId)
			if st, ok := t.shards[id]; ok {
				st.shard = sh
				continue
			}
			st := &shardState{shard: sh}
			// --from latest: shards closed before the tail began hold
			// nothing new.
			if t.initial && t.From == Latest && sh.SequenceNumberRange != nil && sh.SequenceNumberRange.EndingSequenceNumber != nil {
				st.started, st.done = true, true
			}
			t.shards[id] = st
		}
		token = out.NextToken
	}
	t.listedAt, t.needsList = time.Now(), false
	return nil
}

// startEligible gets an iterator for every shard whose parents are read to
// their end (or are gone from the listing, trimmed by retention).
func (t *tailer) startEligible(ctx context.Context) error {
	for _, id := range t.order() {
		st := t.shards[id]
		if st.started {
			continue
		}
		if !t.parentDone(st.shard.ParentShardId) || !t.parentDone(st.shard.AdjacentParentShardId) {
			continue
		}
		in := &kinesis.GetShardIteratorInput{StreamName: aws.String(t.StreamName), ShardId: aws.String(id)}
		switch {
		case t.From == AtTime:
			in.ShardIteratorType, in.Timestamp = types.ShardIteratorTypeAtTimestamp, aws.Time(t.Time)
		case t.From == Latest && t.initial:
			in.ShardIteratorType = types.ShardIteratorTypeLatest
		default:
			// A child born after the tail began (or any shard from the
			// trim horizon): everything in it is to be read.
			in.ShardIteratorType = types.ShardIteratorTypeTrimHorizon
		}
		it, err := t.Client.GetShardIterator(ctx, in)
		if err != nil {
			return fmt.Errorf("streamtail: GetShardIterator %s: %w", id, err)
		}
		st.started, st.iterator = true, aws.ToString(it.ShardIterator)
	}
	t.initial = false
	return nil
}

func (t *tailer) parentDone(id *string) bool {
	if id == nil {
		return true
	}
	p, ok := t.shards[*id]
	return !ok || p.done
}

// order lists shard ids sorted, so parents (older ids) come first.
func (t *tailer) order() []string {
	ids := make([]string, 0, len(t.shards))
	for id := range t.shards {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// readPass calls GetRecords once on every started, unfinished shard.
func (t *tailer) readPass(ctx context.Context) (progressed bool, err error) {
	for _, id := range t.order() {
		st := t.shards[id]
		if !st.started || st.done {
			continue
		}
		out, err := t.getRecords(ctx, st)
		if err != nil {
			return progressed, err
		}
		for _, kr := range out.Records {
			if err := t.deliver(id, kr); err != nil {
				return progressed, err
			}
			st.lastSeq = aws.ToString(kr.SequenceNumber)
		}
		if len(out.Records) > 0 {
			progressed = true
		}
		st.caughtUp = len(out.Records) == 0 && aws.ToInt64(out.MillisBehindLatest) == 0
		if out.NextShardIterator == nil {
			// A closed shard read to its end: its children may start.
			st.done, st.iterator, t.needsList, progressed = true, "", true, true
		} else {
			st.iterator = aws.ToString(out.NextShardIterator)
		}
	}
	return progressed, nil
}

// getRecords reads one batch, renewing an expired iterator and waiting out
// throttling.
func (t *tailer) getRecords(ctx context.Context, st *shardState) (*kinesis.GetRecordsOutput, error) {
	backoff := 200 * time.Millisecond
	for {
		out, err := t.Client.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: aws.String(st.iterator), Limit: limit(t.Limit)})
		if err == nil {
			return out, nil
		}
		var expired *types.ExpiredIteratorException
		var throttled *types.ProvisionedThroughputExceededException
		switch {
		case errors.As(err, &expired):
			in := &kinesis.GetShardIteratorInput{StreamName: aws.String(t.StreamName), ShardId: st.shard.ShardId}
			if st.lastSeq != "" {
				in.ShardIteratorType, in.StartingSequenceNumber = types.ShardIteratorTypeAfterSequenceNumber, aws.String(st.lastSeq)
			} else {
				in.ShardIteratorType = types.ShardIteratorTypeTrimHorizon
			}
			it, err := t.Client.GetShardIterator(ctx, in)
			if err != nil {
				return nil, fmt.Errorf("streamtail: renew iterator of %s: %w", aws.ToString(st.shard.ShardId), err)
			}
			st.iterator = aws.ToString(it.ShardIterator)
		case errors.As(err, &throttled):
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 5*time.Second)
		default:
			return nil, fmt.Errorf("streamtail: GetRecords %s: %w", aws.ToString(st.shard.ShardId), err)
		}
	}
}

func limit(n int32) *int32 {
	if n <= 0 {
		return nil
	}
	return aws.Int32(n)
}

// deliver deaggregates one Kinesis record and passes on its user records.
func (t *tailer) deliver(shardID string, kr types.Record) error {
	users, err := deaggregator.DeaggregateRecords([]types.Record{kr})
	if err != nil {
		return t.OnRecord(Delivered{ShardID: shardID, SequenceNumber: aws.ToString(kr.SequenceNumber),
			PartitionKey: aws.ToString(kr.PartitionKey), Data: kr.Data,
			DecodeErr: fmt.Errorf("streamtail: deaggregate: %w", err)})
	}
	for _, u := range users {
		d := Delivered{ShardID: shardID, SequenceNumber: aws.ToString(u.SequenceNumber),
			PartitionKey: aws.ToString(u.PartitionKey), Arrival: aws.ToTime(u.ApproximateArrivalTimestamp), Data: u.Data}
		d.Record, d.DecodeErr = record.Decode(u.Data)
		if err := t.OnRecord(d); err != nil {
			return err
		}
	}
	return nil
}

// allCaughtUp reports whether every shard is read to its present end.
func (t *tailer) allCaughtUp() bool {
	for _, st := range t.shards {
		if !st.started {
			return false // waits for a parent still being read
		}
		if !st.done && !st.caughtUp {
			return false
		}
	}
	return true
}
