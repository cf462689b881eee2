package taskset

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
)

// blocker is a task that runs until it is canceled, counting its runs and
// the ones that have returned.
type blocker struct {
	started, returned atomic.Int64
}

func (b *blocker) run(ctx context.Context) {
	b.started.Add(1)
	<-ctx.Done()
	b.returned.Add(1)
}

func TestStopWaitsForTheTask(t *testing.T) {
	var s Set
	var b blocker
	if !s.Start("a", "L1", b.run) {
		t.Fatal("Start refused on an empty set")
	}
	if s.Start("a", "L1", b.run) {
		t.Fatal("a second task of a running id was started")
	}
	s.Stop("a")
	if b.returned.Load() != 1 {
		t.Fatalf("Stop returned before the task: %d returned", b.returned.Load())
	}
	if !s.Start("a", "L1", b.run) {
		t.Fatal("Start refused after Stop")
	}
	s.StopAll()
	if b.started.Load() != 2 || b.returned.Load() != 2 {
		t.Fatalf("started %d, returned %d", b.started.Load(), b.returned.Load())
	}
	s.Stop("nothing") // no task of that id: a no-op
}

func TestStopLedgerStopsOnlyItsTasks(t *testing.T) {
	var s Set
	var l1, l2 blocker
	for _, id := range []string{"a", "b", "c"} {
		s.Start(id, "L1", l1.run)
	}
	s.Start("d", "L2", l2.run)
	var whole blocker
	s.Start("expiry", "", whole.run)
	s.StopLedger("")
	if whole.returned.Load() != 0 {
		t.Fatal("StopLedger(\"\") stopped a task of the whole manager")
	}
	s.StopLedger("L1")
	if l1.returned.Load() != 3 {
		t.Fatalf("%d of L1's 3 tasks returned", l1.returned.Load())
	}
	if l2.returned.Load() != 0 {
		t.Fatal("StopLedger stopped another ledger's task")
	}
	s.StopAll()
	if l2.returned.Load() != 1 || whole.returned.Load() != 1 {
		t.Fatal("StopAll left a task running")
	}
	if s.Start("e", "L2", l2.run) {
		t.Fatal("Start ran a task after StopAll")
	}
}

// A task that returns by itself leaves the set: its id may start again.
func TestReturnedTaskLeavesTheSet(t *testing.T) {
	var s Set
	done := make(chan struct{})
	s.Start("a", "L1", func(context.Context) { close(done) })
	<-done
	deadline := time.Now().Add(10 * time.Second)
	for !s.Start("a", "L1", func(context.Context) {}) {
		if time.Now().After(deadline) {
			t.Fatal("a task that returned still holds its id")
		}
		time.Sleep(time.Millisecond)
	}
	s.StopAll()
}

// Starts and stops from many goroutines at once (run under -race).
func TestConcurrentStartStop(t *testing.T) {
	var s Set
	var b blocker
	doneAll := make(chan struct{})
	for g := 0; g < 8; g++ {
		go func(g int) {
			defer func() { doneAll <- struct{}{} }()
			for i := 0; i < 200; i++ {
				id := string(rune('a' + (g+i)%4))
				s.Start(id, "L", b.run)
				if i%3 == 0 {
					s.Stop(id)
				}
				if i%50 == 0 {
					s.StopLedger("L")
				}
			}
		}(g)
	}
	for g := 0; g < 8; g++ {
		<-doneAll
	}
	s.StopAll()
	if b.started.Load() != b.returned.Load() {
		t.Fatalf("started %d tasks, %d returned", b.started.Load(), b.returned.Load())
	}
}

func TestEveryCallsUntilStopped(t *testing.T) {
	var s Set
	var n atomic.Int64
	reached := make(chan struct{})
	s.Every("tick", time.Millisecond, func() {
		if n.Add(1) == 3 {
			close(reached)
		}
	})
	<-reached
	s.StopLedger("") // a task of the whole manager is no ledger's
	s.Stop("tick")
	after := n.Load()
	time.Sleep(5 * time.Millisecond)
	if after < 3 || n.Load() != after {
		t.Fatalf("fn called %d times before Stop returned, %d after", after, n.Load())
	}
}
