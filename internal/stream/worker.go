package stream

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/strand-db/strand/internal/journal"
	"github.com/strand-db/strand/internal/store"
	"github.com/strand-db/strand/internal/stream/kpl"
	"github.com/strand-db/strand/internal/stream/record"
)

// Kinesis PutRecords limits.
const (
	maxPutRecords  = 500
	maxPutBytes    = 5 << 20
	shardMapMaxAge = 30 * time.Second
)

// A delivery round (a window) gathers the user records of whole blocks
// until it holds MaxWindowRecords records (a block that would pass that
// starts the next window) or MaxWindowBytes bytes of record data (the
// block that crosses it is the window's last); a window always holds at
// least one block (a block's records are never split). A worker holds at most two windows (the one being put
// and the next, read meanwhile) plus their KPL aggregates and one
// PutRecords request, so its memory is a few times MaxWindowBytes however
// far behind the stream is: 1 MiB is a second of a Kinesis shard's write
// limit, and five streams catching up on a large journal stay within tens
// of MiB. A smaller window costs only one more checkpoint write per MiB.
const (
	MaxWindowRecords = 10000
	MaxWindowBytes   = 1 << 20
)

// worker delivers one stream. It runs until the stream ends (COMPLETED or
// FAILED), is canceled, or the manager closes (ctx done).
type worker struct {
	m   *Manager
	id  string
	def Definition

	arn      string
	dest     Destination
	j        journal.Reader
	client   KinesisAPI
	shards   *kpl.ShardMap
	shardsAt time.Time
	cp       checkpoint // acknowledged by Kinesis
	durable  checkpoint // durably written (pipeline.go)
	inflight *cpWrite   // the checkpoint write in flight, if any
	backoff  int
	faulted  bool // an internal fault is being retried (see internalFault)
}

func (w *worker) log() []any {
	return []any{"ledger", w.def.LedgerName, "stream_id", w.id}
}

func (w *worker) run(ctx context.Context) {
	o := &w.m.opts
	w.arn = w.def.ARN(o.Region, o.AccountID)
	dest, err := ParseDestination(w.def.Destination)
	if err != nil {
		o.Logger.Error("journal stream has an invalid destination", append(w.log(), "err", err)...)
		w.m.setStatus(w.id, StatusFailed, "")
		return
	}
	w.dest = dest
	// Until the worker has its journal and a durable start position it
	// cannot deliver: any failure here is a fault of this server (its store
	// or journal), retried with backoff while the stream shows IMPAIRED.
	for {
		ready, stop := w.prepare()
		if stop {
			return
		}
		if ready {
			break
		}
		if !w.sleep(ctx) {
			return
		}
	}
	w.faultCleared()
	w.durable = w.cp
	// See pipeline.go: while one window is being put, the next is gathered
	// in the background and the previous checkpoint is written. Both are
	// joined before run returns, so that no journal read or checkpoint
	// write outlives the worker (Manager.Close, then the store closes).
	defer w.joinCheckpoint()
	var gath *gatherer
	defer func() {
		if gath != nil {
			gath.finish()
		}
	}()
	for ctx.Err() == nil {
		changed := w.j.Changed()
		var win window
		if gath != nil {
			win = gath.finish()
			gath = nil
		}
		if win.start != w.cp.Next || len(win.recs) == 0 || win.err != nil {
			win = w.collectFrom(w.cp.Next, w.cp.Created)
		}
		recs, next, reachedEnd, err := numbered(win.recs), win.next, win.reachedEnd, win.err
		if err != nil {
			w.internalFault("cannot read the journal", err)
			if !w.sleep(ctx) {
				return
			}
			continue
		}
		w.faultCleared()
		w.updateLag()
		ended := reachedEnd
		if !ended && len(recs) == 0 && w.def.End != nil && !o.Now().Before(*w.def.End) {
			// Every block stamped before the end time is durable once the
			// barrier returns; if none is left to send, the stream is done.
			ended = next >= w.j.Barrier()
		}
		if len(recs) == 0 && !ended {
			var timer <-chan time.Time
			if w.def.End != nil {
				timer = time.After(time.Until(*w.def.End) + time.Millisecond)
			}
			select {
			case <-ctx.Done():
				return
			case <-changed:
				if o.BufferDelay > 0 {
					select {
					case <-ctx.Done():
						return
					case <-time.After(o.BufferDelay):
					}
				}
			case err := <-w.checkpointDone():
				if !w.checkpointSettled(ctx, err) {
					return
				}
			case <-timer:
			case <-time.After(time.Second): // refresh lag metrics
			}
			continue
		}
		if len(recs) > 0 {
			if !w.ensureDestination(ctx) { // the shard map the gatherer packs for
				return
			}
			if !reachedEnd {
				gath = w.gatherDuring(next, w.shards)
			}
			if !w.deliver(ctx, recs, win.kin, win.packedFor) {
				return
			}
			w.cp.Next, w.cp.Created = next, true
			// The previous window's checkpoint was written during this
			// put; this one's is written during the next.
			if !w.settleCheckpoint(ctx) {
				return
			}
			if w.durable != w.cp {
				w.startCheckpoint(w.cp)
			}
			w.updateLag()
		}
		if ended {
			// COMPLETED goes out after the checkpoint of the last block.
			if !w.settleCheckpoint(ctx) {
				return
			}
			data, err := record.EncodeControl(w.arn, record.ControlCompleted)
			if err != nil { // cannot happen for a valid ARN; never leave a stream without a worker
				w.internalFault("cannot encode COMPLETED", err)
				w.m.setStatus(w.id, StatusFailed, "")
				return
			}
			if !w.deliver(ctx, []kpl.UserRecord{{PartitionKey: record.ControlPartitionKey(w.arn, record.ControlCompleted), Data: data}}, nil, nil) {
				return
			}
			w.m.setStatus(w.id, StatusCompleted, "")
			return
		}
	}
}

// prepare opens the journal, loads the checkpoint and, for a new stream,
// finds and durably records its first block. It reports ready false after
// recording an internal fault (the caller backs off and calls it again),
// and stop true when the stream was removed or its ledger is held by
// another node (the worker ends without a status change).
func (w *worker) prepare() (ready, stop bool) {
	o := &w.m.opts
	if w.j == nil {
		j, err := o.Journals.Journal(w.def.LedgerName)
		if err != nil {
			w.internalFault("cannot open its ledger", err)
			return false, false
		}
		w.j = j
	}
	if err := w.loadCheckpoint(); err != nil {
		w.internalFault("checkpoint unreadable", err)
		return false, false
	}
	if !w.cp.Positioned {
		next, err := w.firstBlockAtOrAfter(w.def.Start)
		if err != nil {
			w.internalFault("cannot find its start block", err)
			return false, false
		}
		w.cp.Next, w.cp.Positioned = next, true
		if err := w.saveCheckpoint(w.cp); err != nil {
			w.cp = checkpoint{}
			return false, w.checkpointRefused(err)
		}
	}
	return true, false
}

// internalFault records a fault of this server, not of the destination:
// the store or the journal could not be read or written. QLDB has no
// ErrorCause for its own faults, so the stream shows IMPAIRED without one;
// the worker logs the error and retries with backoff, and the impaired
// timeout does not fail the stream for it (the customer's destination is
// not at fault). faultCleared ends it.
func (w *worker) internalFault(what string, err error) {
	w.m.opts.Logger.Error("journal stream "+what, append(w.log(), "err", err)...)
	w.faulted = true
	w.m.setStatus(w.id, StatusImpaired, "")
}

// faultCleared records that the operation that failed with an internal
// fault has succeeded.
func (w *worker) faultCleared() {
	if !w.faulted {
		return
	}
	w.faulted = false
	w.backoff = 0
	if d, _ := w.m.definition(w.id); d.Status == StatusImpaired && d.ErrorCause == "" {
		w.m.setStatus(w.id, StatusActive, "")
	}
}

// window is a batch of user records ready to put: those of blocks
// [start, next), preceded by CREATED when it was still owed.
type window struct {
	start, next uint64
	recs        []kpl.UserRecord
	size        int // bytes of recs' data
	reachedEnd  bool
	err         error
	// kin is recs packed for the shard map packedFor (gatherDuring), or
	// nil: deliver packs them.
	kin       []kpl.Record
	packedFor *kpl.ShardMap
}

// collectFrom gathers the window starting at block start, at most one
// PutRecords call's worth (see pipeline.go); created says whether the
// CREATED control record has already been acknowledged. It only
// reads the journal and the worker's immutable settings, so it may run
// concurrently with deliver.
func (w *worker) collectFrom(start uint64, created bool) window {
	maxRecs := MaxWindowRecords
	if !w.def.Aggregation {
		maxRecs = maxPutRecords
	}
	// Half a call's bytes: room for the partition keys and the aggregates'
	// own framing.
	recs, next, size, reachedEnd, err := w.collectInto(nil, 0, start, created, maxRecs, min(maxPutBytes/2, MaxWindowBytes))
	return window{start: start, next: next, recs: recs, size: size, reachedEnd: reachedEnd, err: err}
}

// collectInto appends to recs (holding size bytes of data) the user
// records of the blocks published from start on, while recs holds fewer
// than maxRecs records and size is below maxBytes: the CREATED control record first if it was never acknowledged,
// then for each block its BLOCK_SUMMARY and a REVISION_DETAILS per
// document revision. next is the first block not included; reachedEnd
// reports that a block at or after ExclusiveEndTime was met. Records are
// not numbered (see numbered).
func (w *worker) collectInto(recs []kpl.UserRecord, size int, start uint64, created bool, maxRecs, maxBytes int) (_ []kpl.UserRecord, next uint64, _ int, reachedEnd bool, err error) {
	if !created {
		data, err := record.EncodeControl(w.arn, record.ControlCreated)
		if err != nil {
			return nil, 0, 0, false, err
		}
		recs = append(recs, kpl.UserRecord{PartitionKey: record.ControlPartitionKey(w.arn, record.ControlCreated), Data: data})
		size += len(data)
	}
	seq, tip := start, w.j.Next()
	for seq < tip && len(recs) < maxRecs && size < maxBytes {
		b, ok, err := w.block(seq)
		if err != nil {
			return nil, 0, 0, false, err
		}
		if !ok {
			break
		}
		if w.def.End != nil && !b.Timestamp.Before(*w.def.End) {
			reachedEnd = true
			break
		}
		if n := len(recs) + 1 + userRevisions(b); n > maxRecs && len(recs) > 0 {
			break // a block's records stay in one window, within its bound
		}
		data, err := record.EncodeBlockSummary(w.arn, b)
		if err != nil {
			return nil, 0, 0, false, err
		}
		recs = append(recs, kpl.UserRecord{PartitionKey: record.BlockSummaryPartitionKey(b), Data: data})
		added := len(data)
		for _, rev := range b.Revisions {
			if rev.IsSystem() {
				continue
			}
			data, err := record.EncodeRevisionDetails(w.arn, b.Address, rev)
			if err != nil {
				return nil, 0, 0, false, err
			}
			recs = append(recs, kpl.UserRecord{PartitionKey: record.RevisionDetailsPartitionKey(rev), Data: data})
			added += len(data)
		}
		size += added
		seq++
	}
	return recs, seq, size, reachedEnd, nil
}

// userRevisions counts b's document revisions (one REVISION_DETAILS each).
func userRevisions(b *journal.Block) int {
	n := 0
	for _, rev := range b.Revisions {
		if !rev.IsSystem() {
			n++
		}
	}
	return n
}

// firstBlockAtOrAfter finds the first block stamped at or after t.
func (w *worker) firstBlockAtOrAfter(t time.Time) (uint64, error) {
	lo, hi := uint64(0), w.j.Next()
	for lo < hi {
		mid := lo + (hi-lo)/2
		b, ok, err := w.j.Block(mid)
		if err != nil {
			return 0, err
		}
		if ok && b.Timestamp.Before(t) {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo, nil
}

func (w *worker) loadCheckpoint() error {
	raw, ok, err := w.m.opts.Store.Get(cpKey(w.id))
	if err != nil || !ok {
		return err
	}
	return json.Unmarshal(raw, &w.cp)
}

// errRemoved is the error of a checkpoint write for a stream that was
// removed (its ledger deleted, or its retention expired).
var errRemoved = errors.New("stream: the stream was removed")

// lostLedger reports whether a write failed because this node no longer
// holds the stream's ledger (a shared store's fencing) or the stream no
// longer exists (see Manager.persist): the worker must stop.
func lostLedger(err error) bool {
	return errors.Is(err, errNotHeld) || errors.Is(err, store.ErrConflict) || errors.Is(err, errRemoved)
}

// checkpointHook, when set (by tests only), is called at the start of every
// checkpoint write, after the worker has read and delivered what the
// checkpoint records: a test holds a worker there to race the write.
var checkpointHook atomic.Pointer[func(streamID string)]

// saveCheckpoint durably writes cp. It may run concurrently with the
// worker's delivery (pipeline.go): it reads only the worker's immutable
// settings and the Manager. On a shared store the write expects
// the ledger's fence and the stream's stored definition (see
// Manager.persist), so that it never lands after another node removed the
// stream. It fails with an error lostLedger matches when the stream is
// gone or its ledger is held by another node; a conflict caused by this
// node's own concurrent definition write (a status or tag change) is
// retried.
func (w *worker) saveCheckpoint(cp checkpoint) error {
	if h := checkpointHook.Load(); h != nil {
		(*h)(w.id)
	}
	b, err := json.Marshal(cp)
	if err != nil {
		return err
	}
	raw, ok := w.m.currentRaw(w.id)
	for {
		if !ok {
			return errRemoved
		}
		err := w.writeCheckpoint(b, raw)
		if !errors.Is(err, store.ErrConflict) {
			return err
		}
		now, stillHere := w.m.storedRaw(w.id)
		if stillHere && bytes.Equal(now, raw) {
			return err // another node removed the stream or holds the ledger
		}
		raw, ok = now, stillHere
	}
}

// writeCheckpoint writes checkpoint bytes b, expecting the ledger's fence
// and the stream's definition to be stored as def.
func (w *worker) writeCheckpoint(b, def []byte) error {
	batch := w.m.opts.Store.NewBatch()
	defer batch.Close()
	if err := w.m.fence(batch, w.def.LedgerID); err != nil {
		return err
	}
	if err := w.m.expectDefinition(batch, w.id, def); err != nil {
		return err
	}
	if err := batch.Set(cpKey(w.id), b); err != nil {
		return err
	}
	return w.m.opts.Store.Apply(batch)
}

func (w *worker) updateLag() {
	mt := w.m.opts.Metrics
	tip := w.j.Next()
	lag := 0.0
	if w.cp.Next < tip {
		if b, ok, err := w.block(w.cp.Next); err == nil && ok {
			lag = w.m.opts.Now().Sub(b.Timestamp).Seconds()
		}
	}
	mt.lagBlocks.WithLabelValues(w.def.LedgerName, w.id).Set(float64(tip - w.cp.Next))
	mt.lagSeconds.WithLabelValues(w.def.LedgerName, w.id).Set(lag)
}

// sleep waits an exponentially growing, jittered backoff; false if ctx ended.
func (w *worker) sleep(ctx context.Context) bool {
	o := &w.m.opts
	d := o.RetryBase << min(w.backoff, 16)
	if d > o.RetryMax || d <= 0 {
		d = o.RetryMax
	}
	w.backoff++
	d = d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
	select {
	case <-ctx.Done():
		return false
	case <-time.After(d):
		return true
	}
}

// impaired records a destination problem; it reports false (stop) once the
// stream has been impaired for longer than the configured period.
func (w *worker) impaired(cause string) bool {
	w.m.setStatus(w.id, StatusImpaired, cause)
	d, _ := w.m.definition(w.id)
	if d.ImpairedSince != nil && w.m.opts.Now().Sub(*d.ImpairedSince) > w.m.opts.ImpairedTimeout {
		w.m.setStatus(w.id, StatusFailed, cause)
		return false
	}
	return true
}

// healthy records that the destination answered normally.
func (w *worker) healthy() {
	w.backoff = 0
	if w.faulted {
		return
	}
	if d, _ := w.m.definition(w.id); d.Status == StatusImpaired {
		w.m.setStatus(w.id, StatusActive, "")
	}
}

// ensureDestination makes sure a client and a fresh shard map exist.
func (w *worker) ensureDestination(ctx context.Context) bool {
	for ctx.Err() == nil {
		if w.client == nil {
			c, err := w.m.opts.Clients.Client(ctx, w.dest.Region, w.def.RoleARN)
			if err != nil {
				w.m.opts.Logger.Warn("journal stream cannot make a Kinesis client", append(w.log(), "err", err)...)
				if !w.impaired(CausePermission) || !w.sleep(ctx) {
					return false
				}
				continue
			}
			w.client = c
		}
		if !w.def.Aggregation {
			return true
		}
		if w.shards != nil && time.Since(w.shardsAt) < shardMapMaxAge {
			return true
		}
		shards, err := listShards(ctx, w.client, w.dest)
		if err == nil {
			var m *kpl.ShardMap
			if m, err = kpl.NewShardMap(shards); err == nil {
				w.shards, w.shardsAt = m, time.Now()
				return true
			}
		}
		if !w.putFailed(ctx, err) {
			return false
		}
	}
	return false
}

// putFailed handles a failed Kinesis call: impairment for a missing stream
// or a denied call, backoff for anything else. It reports false when the
// worker must stop.
func (w *worker) putFailed(ctx context.Context, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	w.m.opts.Logger.Warn("Kinesis call failed", append(w.log(), "err", describeError(err))...)
	if cause := classify(err); cause != "" {
		w.shards = nil
		var ce *CredentialsError
		if errors.As(err, &ce) {
			w.client = nil // make a new one: credentials may appear
		}
		if !w.impaired(cause) {
			return false
		}
	} else if isThrottle(err) {
		w.m.opts.Metrics.throttles.WithLabelValues(w.def.LedgerName, w.id).Inc()
	}
	return w.sleep(ctx)
}

func isThrottle(err error) bool {
	var pte *types.ProvisionedThroughputExceededException
	return errors.As(err, &pte)
}

// pack turns user records into Kinesis records: KPL aggregates per shard
// when aggregation is on, one raw record each when it is off.
func (w *worker) pack(recs []kpl.UserRecord) ([]kpl.Record, error) {
	if !w.def.Aggregation {
		out := make([]kpl.Record, len(recs))
		for i, r := range recs {
			out[i] = kpl.Record{PartitionKey: r.PartitionKey, Data: r.Data, Seqs: []uint64{r.Seq}}
		}
		return out, nil
	}
	agg, err := kpl.NewAggregator(w.shards, w.m.opts.Aggregation)
	if err != nil {
		return nil, err
	}
	var out []kpl.Record
	for _, r := range recs {
		got, err := agg.Add(r)
		if err != nil {
			return nil, err
		}
		out = append(out, got...)
	}
	rest, err := agg.Flush()
	if err != nil {
		return nil, err
	}
	return append(out, rest...), nil
}

// deliver puts user records until Kinesis has acknowledged every one of
// them; kin, when not nil, is recs already packed for the shard map
// packedFor, used if that is still the worker's map. It returns false only
// when the worker must stop (canceled, closing, or FAILED).
func (w *worker) deliver(ctx context.Context, recs []kpl.UserRecord, kin []kpl.Record, packedFor *kpl.ShardMap) bool {
	o := &w.m.opts
	sizes := make(map[uint64]int, len(recs))
	bySeq := make(map[uint64]kpl.UserRecord, len(recs))
	for _, r := range recs {
		sizes[r.Seq] = len(r.Data)
		bySeq[r.Seq] = r
	}
	pending := recs
	for len(pending) > 0 {
		if !w.ensureDestination(ctx) {
			return false
		}
		var err error
		if kin == nil || packedFor == nil || packedFor != w.shards {
			kin, err = w.pack(pending)
		}
		packedFor = nil // a resend (misrouted records) is packed again
		if err != nil {
			o.Logger.Error("journal stream cannot pack records", append(w.log(), "err", err)...)
			if !w.sleep(ctx) {
				return false
			}
			continue
		}
		var misrouted []kpl.UserRecord
		for start := 0; start < len(kin); {
			end, bytes := start, 0
			for end < len(kin) && end-start < maxPutRecords && bytes+kin[end].Size() <= maxPutBytes {
				bytes += kin[end].Size()
				end++
			}
			if end == start {
				end = start + 1
			}
			bad, ok := w.putAll(ctx, kin[start:end], sizes)
			if !ok {
				return false
			}
			for _, k := range bad {
				for _, s := range k.Seqs {
					misrouted = append(misrouted, bySeq[s])
				}
			}
			start = end
		}
		if len(misrouted) > 0 {
			// The shard map was stale (the stream was resharded): an
			// aggregate landed on a shard whose range does not hold all its
			// user records, and KCL consumers would drop some. Send those
			// user records again, packed for the current shards.
			o.Logger.Info("destination resharded: re-sending misrouted aggregates", append(w.log(), "user_records", len(misrouted))...)
			w.shards = nil
		}
		pending = misrouted
	}
	return true
}

// putAll puts one PutRecords-sized batch, retrying only the entries that
// failed, until all are acknowledged. It returns the aggregates that
// Kinesis stored on another shard than the map predicted.
func (w *worker) putAll(ctx context.Context, batch []kpl.Record, sizes map[uint64]int) ([]kpl.Record, bool) {
	o := &w.m.opts
	labels := []string{w.def.LedgerName, w.id}
	var misrouted []kpl.Record
	todo := batch
	for len(todo) > 0 {
		// A failed call may have dropped the client (its credentials
		// failed): make a new one before the retry.
		if w.client == nil && !w.ensureDestination(ctx) {
			return nil, false
		}
		entries := make([]types.PutRecordsRequestEntry, len(todo))
		for i := range todo {
			entries[i] = todo[i].PutRecordsEntry()
		}
		out, err := w.client.PutRecords(ctx, &kinesis.PutRecordsInput{
			StreamName: aws.String(w.dest.Name), StreamARN: aws.String(w.dest.ARN), Records: entries,
		})
		if err != nil {
			o.Metrics.retries.WithLabelValues(labels...).Add(float64(len(todo)))
			if !w.putFailed(ctx, err) {
				return nil, false
			}
			continue
		}
		w.healthy()
		var failed []kpl.Record
		throttled := false
		for i, res := range out.Records {
			if i >= len(todo) {
				break
			}
			k := todo[i]
			if res.ErrorCode != nil {
				failed = append(failed, k)
				if *res.ErrorCode == throttleErrorCode {
					throttled = true
					o.Metrics.throttles.WithLabelValues(labels...).Inc()
				}
				continue
			}
			o.Metrics.kinesisRecords.WithLabelValues(labels...).Inc()
			o.Metrics.perAggregate.WithLabelValues(labels...).Observe(float64(len(k.Seqs)))
			o.Metrics.userRecords.WithLabelValues(labels...).Add(float64(len(k.Seqs)))
			n := 0
			for _, s := range k.Seqs {
				n += sizes[s]
			}
			o.Metrics.userBytes.WithLabelValues(labels...).Add(float64(n))
			if k.Aggregated() && k.ShardID != "" && res.ShardId != nil && *res.ShardId != k.ShardID {
				misrouted = append(misrouted, k)
			}
		}
		if len(out.Records) < len(todo) { // a malformed answer: resend what it did not cover
			failed = append(failed, todo[len(out.Records):]...)
		}
		todo = failed
		if len(todo) > 0 {
			o.Metrics.retries.WithLabelValues(labels...).Add(float64(len(todo)))
			if throttled {
				w.backoff++ // throttling: back off harder
			}
			if !w.sleep(ctx) {
				return nil, false
			}
		}
	}
	return misrouted, true
}
