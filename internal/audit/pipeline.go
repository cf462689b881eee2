package audit

import (
	"sync"
	"sync/atomic"
)

// batchSize is the number of items a worker handles at a time.
const batchSize = 256

// orderedMap runs work on the items produce emits, on workers goroutines,
// and hands each item and its result to consume in the order produce
// emitted them, on the calling goroutine. produce runs on its own goroutine
// and must stop when emit returns false, which happens once consume has
// returned false (then the remaining results are dropped). work must be safe
// for concurrent use. orderedMap returns produce's error.
func orderedMap[In, Out any](workers int, produce func(emit func(In) bool) error, work func(In) Out, consume func(In, Out) bool) error {
	type batch struct {
		in   []In
		out  []Out
		done chan struct{}
	}
	if workers < 1 {
		workers = 1
	}
	todo := make(chan *batch, 2*workers)
	order := make(chan *batch, 4*workers)
	var stop atomic.Bool
	var wg sync.WaitGroup
	for i := 0; i < workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range todo {
				if !stop.Load() {
					b.out = make([]Out, len(b.in))
					for j, in := range b.in {
						b.out[j] = work(in)
					}
				}
				close(b.done)
			}
		}()
	}
	var produceErr error
	go func() {
		defer close(order)
		defer close(todo)
		cur := &batch{done: make(chan struct{})}
		flush := func() {
			todo <- cur
			order <- cur
			cur = &batch{done: make(chan struct{})}
		}
		produceErr = produce(func(in In) bool {
			if stop.Load() {
				return false
			}
			cur.in = append(cur.in, in)
			if len(cur.in) == batchSize {
				flush()
			}
			return true
		})
		if len(cur.in) > 0 {
			flush()
		}
	}()
	for b := range order {
		<-b.done
		if stop.Load() {
			continue // drain
		}
		for j := range b.in {
			if !consume(b.in[j], b.out[j]) {
				stop.Store(true)
				break
			}
		}
	}
	wg.Wait()
	return produceErr
}
