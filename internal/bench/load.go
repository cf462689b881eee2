package bench

import (
	"context"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// worker runs one operation; it is called from one goroutine only.
type worker func(ctx context.Context) error

// point describes one measured point: conc workers (made by newWorker)
// loop over their operation for d, optionally paced to rate operations per
// second in all (0: as fast as they can).
type point struct {
	name      string
	unit      string
	conc      int
	d         time.Duration
	rate      int
	newWorker func(i int) (worker, error)
	// cpu, when set, returns the server's cumulative CPU time; the row
	// then reports it per operation.
	cpu func() (time.Duration, error)
}

// maxErrors ends a point early: a run that fails this often measures the
// failures, not the server.
const maxErrors = 100

// run measures p, printing a progress line about every second to progress.
func (p point) run(ctx context.Context, progress io.Writer) (Row, error) {
	workers := make([]worker, p.conc)
	for i := range workers {
		w, err := p.newWorker(i)
		if err != nil {
			return Row{}, fmt.Errorf("bench: %s: %w", p.name, err)
		}
		workers[i] = w
	}
	// Warm up: one operation per worker (sessions open, connections dial).
	var wg sync.WaitGroup
	var firstErr atomic.Value
	for _, w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := w(ctx); err != nil {
				firstErr.CompareAndSwap(nil, err)
			}
		}()
	}
	wg.Wait()
	if err, _ := firstErr.Load().(error); err != nil {
		return Row{}, fmt.Errorf("bench: %s: warm-up: %w", p.name, err)
	}

	var cpu0 time.Duration
	if p.cpu != nil {
		c, err := p.cpu()
		if err != nil {
			p.cpu = nil
		}
		cpu0 = c
	}
	var ops, errs atomic.Int64
	var lat latencies
	runCtx, cancel := context.WithTimeout(ctx, p.d)
	defer cancel()
	var interval time.Duration
	if p.rate > 0 {
		interval = time.Duration(float64(time.Second) * float64(p.conc) / float64(p.rate))
	}
	start := time.Now()
	for i, w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			mine := make([]time.Duration, 0, 1024)
			next := start.Add(time.Duration(i) * interval / time.Duration(p.conc))
			for runCtx.Err() == nil {
				if interval > 0 {
					if d := time.Until(next); d > 0 {
						select {
						case <-time.After(d):
						case <-runCtx.Done():
						}
						if runCtx.Err() != nil {
							break
						}
					}
					next = next.Add(interval)
				}
				t0 := time.Now()
				if err := w(runCtx); err != nil {
					if runCtx.Err() != nil {
						break
					}
					firstErr.CompareAndSwap(nil, err)
					if errs.Add(1) >= maxErrors {
						cancel()
					}
					continue
				}
				mine = append(mine, time.Since(t0))
				ops.Add(1)
			}
			lat.add(mine)
		}()
	}
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				el := time.Since(start)
				fmt.Fprintf(progress, "bench: %s conc=%d: %4.0fs/%.0fs %d %s, %.0f %s/s\n",
					p.name, p.conc, el.Seconds(), p.d.Seconds(), ops.Load(), p.unit, float64(ops.Load())/el.Seconds(), p.unit)
			}
		}
	}()
	wg.Wait()
	close(done)
	elapsed := time.Since(start)
	row := Row{Name: p.name, Concurrency: p.conc, Ops: ops.Load(), Errors: errs.Load(), Seconds: elapsed.Seconds(), Unit: p.unit}
	row.PerSecond = float64(row.Ops) / elapsed.Seconds()
	lat.fill(&row)
	if p.cpu != nil && row.Ops > 0 {
		if c, err := p.cpu(); err == nil {
			row.ServerCPUus = float64((c - cpu0).Microseconds()) / float64(row.Ops)
		}
	}
	if errs.Load() >= maxErrors {
		err, _ := firstErr.Load().(error)
		return row, fmt.Errorf("bench: %s conc=%d: %d errors, the first: %w", p.name, p.conc, errs.Load(), err)
	}
	if e, _ := firstErr.Load().(error); e != nil && row.Errors > 0 {
		fmt.Fprintf(progress, "bench: %s conc=%d: %d operations failed, the first: %v\n", p.name, p.conc, row.Errors, e)
	}
	return row, nil
}
