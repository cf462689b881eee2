package export

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/strand-db/strand/internal/journal"
)

// worker runs one export job until it finishes, is stopped, or the manager
// closes.
type worker struct {
	m       *Manager
	job     Job
	j       journal.Reader
	client  S3API
	cp      checkpoint
	backoff int
}

func (w *worker) log(args ...any) []any {
	return append([]any{"ledger", w.job.LedgerName, "export_id", w.job.ID}, args...)
}

// sleep waits out the next backoff step; false when ctx ended.
func (w *worker) sleep(ctx context.Context) bool {
	o := &w.m.opts
	d := o.RetryBase << min(w.backoff, 16)
	if d > o.RetryMax || d <= 0 {
		d = o.RetryMax
	}
	w.backoff++
	select {
	case <-ctx.Done():
		return false
	case <-time.After(d):
		return true
	}
}

// retry runs fn until it succeeds, ctx ends (false) or fn fails with a
// permanent S3 error, which cancels the job (false).
func (w *worker) retry(ctx context.Context, what string, fn func() error) bool {
	for {
		err := fn()
		if err == nil {
			w.backoff = 0
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		if permanent(err) || errors.Is(err, errNotHeld) {
			if errors.Is(err, errNotHeld) {
				return false
			}
			w.m.opts.Logger.Error("journal export cancelled", w.log("step", what, "err", describeError(err))...)
			w.m.finish(w.job.ID, StatusCancelled, what+": "+describeError(err))
			return false
		}
		w.m.opts.Logger.Warn("journal export step failed; retrying", w.log("step", what, "err", err)...)
		if !w.sleep(ctx) {
			return false
		}
	}
}

func (w *worker) run(ctx context.Context) {
	o := &w.m.opts
	if !w.retry(ctx, "open", func() error {
		if w.j == nil {
			j, err := o.Journals.Journal(w.job.LedgerName)
			if err != nil {
				return err
			}
			w.j = j
		}
		if w.client == nil {
			c, err := o.Clients.Client(ctx, o.Region, w.job.RoleARN)
			if err != nil {
				return err
			}
			w.client = c
		}
		return w.loadCheckpoint()
	}) {
		return
	}
	if !w.cp.Positioned {
		var next uint64
		if !w.retry(ctx, "position", func() error {
			var err error
			next, err = firstAtOrAfter(w.j, w.job.From)
			return err
		}) {
			return
		}
		w.cp = checkpoint{Positioned: true, Next: next}
		if !w.retry(ctx, "checkpoint", w.saveCheckpoint) {
			return
		}
	}
	// Every block stamped before the end time (never after the request) is
	// durable once the barrier returns.
	limit := w.j.Barrier()
	last, err := lastBefore(w.j, w.cp.Next, limit, w.job.End)
	if err != nil {
		if !w.retry(ctx, "find the last block", func() error {
			var err error
			last, err = lastBefore(w.j, w.cp.Next, limit, w.job.End)
			return err
		}) {
			return
		}
	}
	total := w.cp.Blocks + (last - w.cp.Next)
	prog := newProgress(o.Logger, "journal export", w.log(), w.cp.Blocks, total, o.Now)
	w.m.setProgress(w.job.ID, w.cp.Blocks, total)
	for w.cp.Next < last {
		var blocks []*journal.Block
		var body []byte
		if !w.retry(ctx, "read the journal", func() error {
			var err error
			blocks, body, err = w.collect(w.cp.Next, last)
			return err
		}) {
			return
		}
		first, end := blocks[0].Address.SequenceNo, blocks[len(blocks)-1].Address.SequenceNo
		key := dataKey(&w.job, blocks[0].Timestamp, first, end)
		if !w.retry(ctx, "put "+key, func() error { return putObject(ctx, w.client, &w.job, key, body) }) {
			return
		}
		w.cp.Next = end + 1
		w.cp.Keys = append(w.cp.Keys, key)
		w.cp.Blocks += uint64(len(blocks))
		if !w.retry(ctx, "checkpoint", w.saveCheckpoint) {
			return
		}
		w.m.setProgress(w.job.ID, w.cp.Blocks, total)
		prog.update(w.cp.Blocks)
	}
	if !w.retry(ctx, "put the completed manifest", func() error {
		return putObject(ctx, w.client, &w.job, completedManifestKey(&w.job), completedManifest(&w.job, w.cp.Keys))
	}) {
		return
	}
	prog.finish(w.cp.Blocks)
	w.m.finish(w.job.ID, StatusCompleted, "")
}

// collect reads the blocks of the next data object, from first up to (not
// including) last: at most ObjectBlocks blocks or about ObjectBytes bytes,
// all committed in the same hour (the hour names the object's directory).
func (w *worker) collect(first, last uint64) (out []*journal.Block, body []byte, err error) {
	o := &w.m.opts
	size := 0
	for seq := first; seq < last && len(out) < o.ObjectBlocks && size < o.ObjectBytes; seq++ {
		b, ok, err := w.j.Block(seq)
		if err != nil {
			return nil, nil, fmt.Errorf("export: read block %d: %w", seq, err)
		}
		if !ok {
			return nil, nil, fmt.Errorf("export: block %d is missing", seq)
		}
		if len(out) > 0 && !sameHour(out[0].Timestamp, b.Timestamp) {
			break
		}
		enc := encodeBlocks(w.job.Format, []*journal.Block{b})
		out = append(out, b)
		body = append(body, enc...)
		size += len(enc)
	}
	return out, body, nil
}

func sameHour(a, b time.Time) bool {
	return a.UTC().Truncate(time.Hour).Equal(b.UTC().Truncate(time.Hour))
}

// firstAtOrAfter returns the first block stamped at or after t (block
// timestamps never decrease), or Next when there is none.
func firstAtOrAfter(j journal.Reader, t time.Time) (uint64, error) {
	lo, hi := uint64(0), j.Next()
	for lo < hi {
		mid := lo + (hi-lo)/2
		b, ok, err := j.Block(mid)
		if err != nil {
			return 0, err
		}
		if !ok {
			return 0, fmt.Errorf("export: block %d is missing", mid)
		}
		if b.Timestamp.Before(t) {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo, nil
}

// lastBefore returns one past the last block below limit stamped before
// end, searching from lo.
func lastBefore(j journal.Reader, lo, limit uint64, end time.Time) (uint64, error) {
	hi := limit
	if lo > hi {
		return lo, nil
	}
	for lo < hi {
		mid := lo + (hi-lo)/2
		b, ok, err := j.Block(mid)
		if err != nil {
			return 0, err
		}
		if !ok {
			return 0, fmt.Errorf("export: block %d is missing", mid)
		}
		if b.Timestamp.Before(end) {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo, nil
}

func (w *worker) loadCheckpoint() error {
	raw, ok, err := w.m.opts.Store.Get(cpKey(w.job.ID))
	if err != nil {
		return fmt.Errorf("export: checkpoint: %w", err)
	}
	if !ok {
		w.cp = checkpoint{}
		return nil
	}
	if err := json.Unmarshal(raw, &w.cp); err != nil {
		return fmt.Errorf("export: checkpoint: %w", err)
	}
	return nil
}

func (w *worker) saveCheckpoint() error {
	b, err := json.Marshal(&w.cp)
	if err != nil {
		return fmt.Errorf("export: checkpoint: %w", err)
	}
	batch := w.m.opts.Store.NewBatch()
	defer batch.Close()
	if err := w.m.fence(batch, w.job.LedgerID); err != nil {
		return err
	}
	if err := batch.Set(cpKey(w.job.ID), b); err != nil {
		return fmt.Errorf("export: checkpoint: %w", err)
	}
	if err := w.m.opts.Store.Apply(batch); err != nil {
		return fmt.Errorf("export: checkpoint: %w", err)
	}
	return nil
}
