package stream

import (
	"context"

	"github.com/strand-db/strand/internal/stream/kpl"
)

// The delivery pipeline of a worker.
//
// A block committed while a PutRecords call is in flight waits for that
// call and then for its own. Two more steps used to sit on that path: the
// synced checkpoint write after each put, and the encoding of the blocks
// published during the put. Both now overlap the put:
//
//   - Checkpoints are pipelined. Once Kinesis has acknowledged window k the
//     worker starts writing its checkpoint in the background and goes on to
//     put window k+1; before it starts another checkpoint write it waits
//     for the one in flight (settleCheckpoint), so at most one write is in
//     flight and positions are written in order. A checkpoint only ever
//     records a position Kinesis acknowledged (it is started after the
//     acknowledgement), never runs ahead of it, and never goes backwards.
//     What a crash can make the stream send again is what was acknowledged
//     but not yet durably checkpointed: at most the window whose checkpoint
//     was in flight and the window being put (one window more than when
//     each put waited for its checkpoint). A failed write is retried with
//     the newest acknowledged position, synchronously, before the next put,
//     as before; a refused one (the stream removed, or the ledger held by
//     another node) stops the worker. The write in flight is always joined
//     before the worker returns, so no checkpoint write outlives it.
//   - Windows are gathered during the put (gatherDuring): a goroutine
//     encodes every block published while the put runs, as it is
//     published, into the next window, and packs the records into KPL
//     aggregates as they come; when the put returns it tops the window up
//     with whatever was published since (usually nothing) and hands it
//     over, ready to put. Records keep the journal's order: the window
//     still starts at the acknowledged position and holds consecutive
//     blocks.
//   - A window read synchronously (the first one, or after the worker was
//     idle) holds at most one PutRecords call's worth of records, so that
//     the first put of a backfill starts early and the next window is
//     gathered during it; gathered windows take up to MaxWindowRecords.
//
// Nothing on this path sleeps or polls: the worker and the gatherer wake on
// the journal's publish (Log.Changed).

// cpWrite is a checkpoint write in flight.
type cpWrite struct {
	cp   checkpoint
	done chan error // receives the write's result, once
}

// startCheckpoint starts durably writing cp in the background. The caller
// settles the write in flight first (at most one at a time).
func (w *worker) startCheckpoint(cp checkpoint) {
	done := make(chan error, 1)
	w.inflight = &cpWrite{cp: cp, done: done}
	go func() { done <- w.saveCheckpoint(cp) }()
}

// checkpointDone is the result channel of the write in flight (nil, which
// blocks forever in a select, when none is).
func (w *worker) checkpointDone() <-chan error {
	if w.inflight == nil {
		return nil
	}
	return w.inflight.done
}

// settleCheckpoint waits for the checkpoint write in flight, if any, and
// handles its result (see checkpointSettled). It reports false when the
// worker must stop.
func (w *worker) settleCheckpoint(ctx context.Context) bool {
	if w.inflight == nil {
		return true
	}
	return w.checkpointSettled(ctx, <-w.inflight.done)
}

// checkpointSettled handles err, the result of the write in flight: when
// it failed, the newest acknowledged position (w.cp) is written
// synchronously, with backoff, until it is durable. It reports false when
// the worker must stop: the write was refused (see checkpointRefused) or
// ctx ended during a backoff.
func (w *worker) checkpointSettled(ctx context.Context, err error) bool {
	written := w.inflight.cp
	w.inflight = nil
	for err != nil {
		if w.checkpointRefused(err) || !w.sleep(ctx) {
			return false
		}
		written = w.cp
		err = w.saveCheckpoint(written)
	}
	w.durable = written
	w.faultCleared()
	return true
}

// joinCheckpoint waits for the write in flight and ignores its result (the
// worker is returning: a lost write only means sending again).
func (w *worker) joinCheckpoint() {
	if w.inflight != nil {
		<-w.inflight.done
		w.inflight = nil
	}
}

// gatherer encodes the blocks published while a put runs into the window
// that follows it, and packs them into KPL aggregates as it goes.
type gatherer struct {
	stop chan struct{}
	out  chan window
}

// gatherDuring starts gathering the window that starts at block start
// (CREATED already acknowledged) until finish is called. With aggregation
// on and shards set, the window's records are also packed for shards (the
// worker's shard map when the put began; deliver packs again if the map
// changed meanwhile, or if packing failed here).
func (w *worker) gatherDuring(start uint64, shards *kpl.ShardMap) *gatherer {
	g := &gatherer{stop: make(chan struct{}), out: make(chan window, 1)}
	go func() {
		win := window{start: start, next: start}
		var agg *kpl.Aggregator
		if w.def.Aggregation && shards != nil {
			agg, _ = kpl.NewAggregator(shards, w.m.opts.Aggregation)
		}
		packed := 0 // records of win.recs added to agg
		look := func() {
			if win.err != nil || win.reachedEnd || win.full() || win.next >= w.j.Next() {
				return
			}
			w.extend(&win)
			for ; agg != nil && packed < len(win.recs); packed++ {
				r := win.recs[packed]
				r.Seq = uint64(packed) // as numbered will number it
				got, err := agg.Add(r)
				if err != nil {
					agg, win.kin = nil, nil // deliver packs, and handles the error
					break
				}
				win.kin = append(win.kin, got...)
			}
		}
		for {
			changed := w.j.Changed()
			look()
			select {
			case <-g.stop:
				look() // what was published since the last look
				if agg != nil {
					if rest, err := agg.Flush(); err == nil {
						win.kin, win.packedFor = append(win.kin, rest...), shards
					}
				}
				if win.packedFor == nil {
					win.kin = nil
				}
				g.out <- win
				return
			case <-changed:
			}
		}
	}()
	return g
}

// finish stops the gatherer and returns its window.
func (g *gatherer) finish() window {
	close(g.stop)
	return <-g.out
}

// full reports whether the window reached its size bounds.
func (win *window) full() bool {
	return len(win.recs) >= MaxWindowRecords || win.size >= MaxWindowBytes
}

// extend appends to win the records of the blocks published after it
// (within the window's bounds). On a read error win.err is set and win
// keeps what it had.
func (w *worker) extend(win *window) {
	recs, next, size, reachedEnd, err := w.collectInto(win.recs, win.size, win.next, true, MaxWindowRecords, MaxWindowBytes)
	if err != nil {
		win.err = err
		return
	}
	win.recs, win.next, win.size, win.reachedEnd = recs, next, size, reachedEnd
}

// numbered sets each record's Seq to its index in the window (deliver
// matches acknowledgements by it).
func numbered(recs []kpl.UserRecord) []kpl.UserRecord {
	for i := range recs {
		recs[i].Seq = uint64(i)
	}
	return recs
}
