package stream_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/strand-db/strand/internal/journal"
	"github.com/strand-db/strand/internal/ledger"
	"github.com/strand-db/strand/internal/stream"
)

const testRole = "arn:aws:iam::000000000000:role/qldb-stream"

// TestCancelAndUntagRaceStreamRemoval cancels and retags streams while
// they are being removed (their ledger dropped, their retention expired).
// Cancel and the tag calls used to look the stream up again after
// unlocking and dereferenced nil when it was gone; now they answer
// ResourceNotFoundException or succeed.
func TestCancelAndUntagRaceStreamRemoval(t *testing.T) {
	w := newUnitWorld(t, 3)
	w.open()
	arn := func(id string) (ledger.ARN, string) {
		raw := ledger.StreamARN(unitRegion, unitAccount, "led", id)
		a, err := ledger.ParseARN(raw)
		if err != nil {
			t.Fatal(err)
		}
		return a, raw
	}
	for i := 0; i < 60; i++ {
		id := w.createNamed(fmt.Sprintf("s%d", i), true)
		a, raw := arn(id)
		var wg sync.WaitGroup
		wg.Add(3)
		go func() { defer wg.Done(); _ = w.m.Cancel("led", id) }()
		go func() {
			defer wg.Done()
			for k := 0; k < 50; k++ {
				_ = w.m.Untag(a, raw, []string{"k"})
				_ = w.m.Tag(a, raw, map[string]*string{"k": aws.String("v")})
			}
		}()
		go func() {
			defer wg.Done()
			w.m.Expire(time.Now().Add(30 * 24 * time.Hour))
			w.m.DropLedger(w.j.ledger.ID)
		}()
		wg.Wait()
	}
}

// gatedJournals holds the first read of block gateSeq made after the
// stream's first window was collected (the background prefetch) until the
// Manager has been closed, or a few seconds have passed; it records a read
// that runs after Close returned.
type gatedJournals struct {
	inner     stream.Journals
	limit     atomic.Uint64 // Next reports at most this until block 0 has been read twice
	reads0    atomic.Int32
	entered   chan struct{}
	closed    chan struct{}
	lateReads atomic.Int32
	left      chan struct{} // closed when the held read has returned
	once      sync.Once
}

func (g *gatedJournals) Journal(name string) (journal.Reader, error) {
	j, err := g.inner.Journal(name)
	if err != nil {
		return nil, err
	}
	return gatedJournal{j, g}, nil
}

type gatedJournal struct {
	journal.Reader
	g *gatedJournals
}

func (j gatedJournal) Next() uint64 { return min(j.Reader.Next(), j.g.limit.Load()) }

func (j gatedJournal) Block(seq uint64) (*journal.Block, bool, error) {
	g := j.g
	switch {
	case seq == 0:
		// The first read positions the stream; the second is its first
		// window. After it, the whole journal shows, so the worker
		// prefetches the next window while it puts the first.
		if g.reads0.Add(1) == 2 {
			g.limit.Store(^uint64(0))
		}
	case seq == 1:
		first := false
		g.once.Do(func() { first = true })
		if first {
			close(g.entered)
			select {
			case <-g.closed:
			case <-time.After(3 * time.Second): // a fixed worker waits for this read
			}
			select {
			case <-g.closed:
				g.lateReads.Add(1)
			default:
			}
			defer close(g.left)
		}
	}
	return j.Reader.Block(seq)
}

// hangingClients makes PutRecords hang until its context ends, so that the
// worker is inside a put, with the prefetch read started, when the Manager
// closes.
type hangingClients struct {
	inner   stream.ClientFactory
	entered chan struct{}
}

func (h hangingClients) Client(ctx context.Context, region, role string) (stream.KinesisAPI, error) {
	c, err := h.inner.Client(ctx, region, role)
	if err != nil {
		return nil, err
	}
	return hangingClient{c, h.entered}, nil
}

type hangingClient struct {
	stream.KinesisAPI
	entered chan struct{}
}

func (h hangingClient) PutRecords(ctx context.Context, in *kinesis.PutRecordsInput, opts ...func(*kinesis.Options)) (*kinesis.PutRecordsOutput, error) {
	// Every put waits for the prefetch read to start (a scripted client
	// answers at once, so the put could otherwise finish first), then
	// hangs until the worker is stopped.
	select {
	case <-h.entered:
	case <-ctx.Done():
	}
	<-ctx.Done()
	return nil, ctx.Err()
}

// TestCloseJoinsPrefetch closes the Manager while a worker puts one window
// and reads the next in the background. Close used to return before that
// read finished, so the read ran against a store the server then closed;
// now no journal read happens after Close returns.
func TestCloseJoinsPrefetch(t *testing.T) {
	g := &gatedJournals{entered: make(chan struct{}), closed: make(chan struct{}), left: make(chan struct{})}
	g.limit.Store(1)
	w := newUnitWorld(t, 3)
	w.wrapJ = func(j stream.Journals) stream.Journals { g.inner = j; return g }
	w.wrapC = func(c stream.ClientFactory) stream.ClientFactory { return hangingClients{c, g.entered} }
	w.open()
	w.create(false)
	<-g.entered
	w.close()
	close(g.closed)
	// Wait for the held read to return, wherever it runs.
	select {
	case <-g.left:
	case <-time.After(5 * time.Second):
		t.Fatal("the held journal read never returned")
	}
	if n := g.lateReads.Load(); n != 0 {
		t.Fatalf("%d journal read(s) ran after Manager.Close returned", n)
	}
}
