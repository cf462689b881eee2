package stream_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/strand-db/strand/internal/store"
	"github.com/strand-db/strand/internal/stream"
	"github.com/strand-db/strand/internal/stream/record"
	"github.com/strand-db/strand/internal/testenv"
)

// TestUnitPutOverlapsCheckpointWrite holds the checkpoint write of block 1
// and commits block 2: the worker puts block 2 while that write is still
// in flight (before, every put waited for the previous checkpoint), the
// stored checkpoint meanwhile stays at what was durably written (it never
// runs ahead), and once the write is let go every record has been
// delivered exactly once and the checkpoint covers them all.
func TestUnitPutOverlapsCheckpointWrite(t *testing.T) {
	w := newUnitWorld(t, 1)
	w.open()
	id := w.create(false)
	w.waitDelivered(id, 1)

	held, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	stream.SetCheckpointHook(t, func(string) {
		once.Do(func() {
			close(held)
			<-release
		})
	})
	defer func() {
		select {
		case <-release:
		default:
			close(release)
		}
	}()
	w.j.appendBlock(2) // block 1: delivered, then its checkpoint write is held
	<-held
	w.j.appendBlock(2) // block 2
	testenv.AwaitTrue(t, "block 2 acknowledged while block 1's checkpoint is being written", unitWait, func() bool {
		return countRecords(w.kin.delivered(t))["BLOCK_SUMMARY 2"] > 0
	})
	if got, _ := w.m.Delivered(id); got != 1 {
		t.Fatalf("stored checkpoint %d while the write of 2 is held, want 1", got)
	}
	close(release)
	w.waitDelivered(id, 3)
	if err := sameCounts(countRecords(w.kin.delivered(t)), w.wantRecords(3)); err != nil {
		t.Fatal(err)
	}
}

// checkpointStore wraps the world's store to watch and fail the stream
// checkpoint writes (a fault the in-memory store cannot produce): check
// is called with the position of every checkpoint batch before it is
// applied, and the batch fails when check returns an error.
type checkpointStore struct {
	store.Store
	check func(next uint64) error
}

type watchedBatch struct {
	store.Batch
	cp []byte
}

func (b *watchedBatch) Set(k, v []byte) error {
	if bytes.HasPrefix(k, []byte("sc/")) {
		b.cp = bytes.Clone(v)
	}
	return b.Batch.Set(k, v)
}

func (s *checkpointStore) NewBatch() store.Batch { return &watchedBatch{Batch: s.Store.NewBatch()} }

func (s *checkpointStore) Apply(b store.Batch) error {
	wb, ok := b.(*watchedBatch)
	if !ok {
		return s.Store.Apply(b)
	}
	if wb.cp != nil {
		var cp struct {
			Next uint64 `json:"next"`
		}
		if err := json.Unmarshal(wb.cp, &cp); err != nil {
			return err
		}
		if err := s.check(cp.Next); err != nil {
			return err
		}
	}
	return s.Store.Apply(wb.Batch)
}

// lockedRand is a seeded source shared by the fault injectors.
type lockedRand struct {
	mu sync.Mutex
	r  *rand.Rand
}

func (l *lockedRand) intN(n int) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.r.IntN(n)
}

// TestUnitPipelinedCheckpointsNeverSkipABlock is a property test of the
// pipelined checkpoints. Under seeded random faults (whole PutRecords
// calls and single entries failing, checkpoint writes failing and slowed
// so that puts overlap them) blocks are committed while the stream runs,
// and at a random moment the node "crashes": from then on no checkpoint
// write reaches the store, and the Manager is closed. A Manager reopened on
// the store then delivers the rest. Checked: every checkpoint written
// records only blocks whose records Kinesis had acknowledged, checkpoints
// never go backwards, the reopened stream resumes exactly at the last
// durable checkpoint (it re-sends only what was not checkpointed), and in
// the end every record of every block was acknowledged (at least once).
func TestUnitPipelinedCheckpointsNeverSkipABlock(t *testing.T) {
	const seeds, total = 16, 24
	for seed := uint64(1); seed <= seeds; seed++ {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			rng := &lockedRand{r: rand.New(rand.NewPCG(seed, 7))}
			w := newUnitWorld(t, 3)
			var crashed atomic.Bool
			var mu sync.Mutex
			var written uint64 // newest checkpoint that reached the store
			var overlaps atomic.Int64
			var writing atomic.Int32
			cs := &checkpointStore{Store: w.st, check: func(next uint64) error {
				writing.Add(1)
				defer writing.Add(-1)
				if crashed.Load() {
					return errors.New("injected: the node crashed")
				}
				got := countRecords(w.kin.delivered(t))
				for seq := uint64(0); seq < next; seq++ {
					if got[fmt.Sprintf("BLOCK_SUMMARY %d", seq)] == 0 {
						t.Errorf("checkpoint at %d written before block %d was acknowledged", next, seq)
					}
				}
				switch rng.intN(5) {
				case 0:
					return errors.New("injected: checkpoint write failed")
				case 1, 2:
					time.Sleep(time.Duration(rng.intN(3000)) * time.Microsecond)
				}
				mu.Lock()
				defer mu.Unlock()
				if next < written {
					t.Errorf("checkpoint went back from %d to %d", written, next)
				}
				written = next
				return nil
			}}
			w.kin.script(func(_ context.Context, _ int, entries []types.PutRecordsRequestEntry) (*kinesis.PutRecordsOutput, error) {
				if writing.Load() > 0 {
					overlaps.Add(1)
				}
				switch rng.intN(6) {
				case 0:
					return nil, errInternal
				case 1:
					out := &kinesis.PutRecordsOutput{Records: make([]types.PutRecordsResultEntry, len(entries)), FailedRecordCount: aws.Int32(0)}
					for i := range out.Records {
						if rng.intN(2) == 0 {
							out.Records[i].ErrorCode, out.Records[i].ErrorMessage = aws.String("InternalFailure"), aws.String("injected")
							*out.FailedRecordCount++
						}
					}
					return out, nil
				}
				return nil, nil
			}, nil, nil)
			open := func() *stream.Manager {
				m, err := stream.Open(stream.Options{Region: unitRegion, AccountID: unitAccount, Clients: w.kin, Journals: w.j,
					Ledgers: w.cat, Store: cs, Logger: quietLogger(), RetryBase: time.Millisecond, RetryMax: 2 * time.Millisecond})
				if err != nil {
					t.Fatal(err)
				}
				return m
			}
			w.m = open()
			id := w.create(rng.intN(2) == 0)
			crashAt := 5 + uint64(rng.intN(total-8))
			for w.j.log.Next() < crashAt {
				w.j.appendBlock(1 + rng.intN(3))
				if rng.intN(2) == 0 {
					time.Sleep(time.Duration(rng.intN(2000)) * time.Microsecond)
				}
			}
			crashed.Store(true)
			w.m.Close()
			w.closed = true
			atCrash, _ := w.m.Delivered(id)
			before := len(w.kin.delivered(t))

			crashed.Store(false)
			w.m, w.closed = open(), false
			for w.j.log.Next() < total {
				w.j.appendBlock(1 + rng.intN(3))
			}
			testenv.AwaitTrue(t, "every block delivered after the restart", 20*time.Second, func() bool {
				got, _ := w.m.Delivered(id)
				return got >= total
			})
			all := w.kin.delivered(t)
			resumed := int64(-1)
			for _, r := range all[before:] {
				if r.Type == record.TypeBlockSummary {
					if resumed < 0 || int64(r.Block.Address.SequenceNo) < resumed {
						resumed = int64(r.Block.Address.SequenceNo)
					}
				}
			}
			if resumed != int64(atCrash) {
				t.Errorf("after the restart the first block sent again is %d, want the checkpoint at the crash, %d", resumed, atCrash)
			}
			got, want := countRecords(all), w.wantRecords(total)
			for k := range want {
				if got[k] == 0 {
					t.Errorf("%s never acknowledged", k)
				}
			}
			for k := range got {
				if want[k] == 0 && k != "CONTROL CREATED" {
					t.Errorf("%s acknowledged but not in the journal", k)
				}
			}
			t.Logf("crash at block %d, checkpoint %d; puts overlapping a checkpoint write: %d", crashAt, atCrash, overlaps.Load())
		})
	}
}

// TestUnitGathersDuringPut holds a put and commits two blocks meanwhile:
// the worker reads (and encodes) them while the put is still held, not
// after it returns (before, only blocks committed before the put started
// were read ahead), and then delivers them, each record once.
func TestUnitGathersDuringPut(t *testing.T) {
	w := newUnitWorld(t, 1)
	reads := &blockReads{}
	stream.SetBlockSourceHook(t, stream.BlockSourceHook{Read: reads.read})
	entered, release := make(chan struct{}), make(chan struct{})
	var hold atomic.Bool
	w.kin.script(func(ctx context.Context, _ int, _ []types.PutRecordsRequestEntry) (*kinesis.PutRecordsOutput, error) {
		if hold.CompareAndSwap(true, false) {
			close(entered)
			select {
			case <-release:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		return nil, nil
	}, nil, nil)
	w.open()
	id := w.create(true)
	w.waitDelivered(id, 1)
	hold.Store(true)
	w.j.appendBlock(2) // block 1: its put is held
	<-entered
	w.j.appendBlock(2) // blocks 2 and 3, committed during the put
	w.j.appendBlock(1)
	testenv.AwaitTrue(t, "blocks 2 and 3 read while the put of block 1 is held", unitWait, func() bool {
		mem, store := reads.count(id, 2, 4)
		return mem+store >= 2
	})
	close(release)
	w.waitDelivered(id, 4)
	if err := sameCounts(countRecords(w.kin.delivered(t)), w.wantRecords(4)); err != nil {
		t.Fatal(err)
	}
}

// TestUnitFirstWindowIsOnePut streams a journal that needs three
// PutRecords calls (raw records, 500 per call) and holds the second call:
// the first call's blocks are checkpointed meanwhile, because a window
// read before any put holds at most one call's worth (before, the whole
// backlog up to 10,000 records was read, and checkpointed only after
// every call of it was acknowledged).
func TestUnitFirstWindowIsOnePut(t *testing.T) {
	w := newUnitWorld(t, 400) // CREATED + 400 × (summary + 2 revisions): 1,201 records
	entered, release := make(chan struct{}), make(chan struct{})
	w.kin.script(func(ctx context.Context, n int, _ []types.PutRecordsRequestEntry) (*kinesis.PutRecordsOutput, error) {
		if n == 2 {
			close(entered)
			select {
			case <-release:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		return nil, nil
	}, nil, nil)
	w.open()
	id := w.create(false)
	<-entered
	testenv.AwaitTrue(t, "the first call's blocks checkpointed while the second call is held", unitWait, func() bool {
		got, _ := w.m.Delivered(id)
		return got > 0
	})
	close(release)
	w.waitDelivered(id, 400)
	if err := sameCounts(countRecords(w.kin.delivered(t)), w.wantRecords(400)); err != nil {
		t.Fatal(err)
	}
}
