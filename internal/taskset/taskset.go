// Package taskset runs a manager's background goroutines: one task per
// resource (a journal stream's worker, an export's), each belonging to a
// ledger, so that they can be stopped, and awaited, one at a time, by
// ledger or all at once. It knows nothing of what the tasks do.
//
// A Set never holds its lock while a task runs or while it waits for one,
// so its methods may be called with the caller's own locks held, except
// the Stop methods, which wait: a caller must not hold a lock there that
// the task it stops may take on its way out.
package taskset

import (
	"context"
	"sync"
	"time"
)

// Set is a set of running tasks by id: a task leaves it when it returns.
// The zero Set is ready to use.
type Set struct {
	mu     sync.Mutex
	tasks  map[string]*task
	closed bool // StopAll has run: Start starts nothing
}

type task struct {
	ledgerID string
	cancel   context.CancelFunc
	exited   chan struct{}
}

// Start runs run(ctx) in a new goroutine as the task id of ledger ledgerID
// ("" for a task of the whole manager). ctx is canceled when the task is
// stopped; run should return promptly then. Start does nothing and
// reports false when a task of id is still running or StopAll has run.
func (s *Set) Start(id, ledgerID string, run func(ctx context.Context)) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	if _, running := s.tasks[id]; running {
		return false
	}
	ctx, cancel := context.WithCancel(context.Background())
	t := &task{ledgerID: ledgerID, cancel: cancel, exited: make(chan struct{})}
	if s.tasks == nil {
		s.tasks = map[string]*task{}
	}
	s.tasks[id] = t
	go func() {
		run(ctx)
		cancel()
		s.mu.Lock()
		if s.tasks[id] == t {
			delete(s.tasks, id) // a task that returns leaves the set
		}
		s.mu.Unlock()
		close(t.exited)
	}()
	return true
}

// Stop cancels the task id, if there is one, and waits for it to return.
func (s *Set) Stop(id string) {
	s.stop(func(tid string, _ *task) bool { return tid == id })
}

// StopLedger cancels every task of ledgerID and waits for them all. The
// tasks of the whole manager (ledger "") are not any ledger's: only Stop
// and StopAll stop them.
func (s *Set) StopLedger(ledgerID string) {
	if ledgerID == "" {
		return
	}
	s.stop(func(_ string, t *task) bool { return t.ledgerID == ledgerID })
}

// StopAll cancels every task, waits for them all, and makes every later
// Start a no-op.
func (s *Set) StopAll() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.stop(func(string, *task) bool { return true })
}

func (s *Set) stop(match func(string, *task) bool) {
	s.mu.Lock()
	var waits []chan struct{}
	for id, t := range s.tasks {
		if match(id, t) {
			t.cancel()
			waits = append(waits, t.exited)
			delete(s.tasks, id)
		}
	}
	s.mu.Unlock()
	for _, w := range waits {
		<-w
	}
}

// Every starts, as the task id of the whole manager (ledger ""), a task
// that calls fn every d until it is stopped by Stop or StopAll. It reports
// what Start reports.
func (s *Set) Every(id string, d time.Duration, fn func()) bool {
	return s.Start(id, "", func(ctx context.Context) {
		t := time.NewTicker(d)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				fn()
			}
		}
	})
}
