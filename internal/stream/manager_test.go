package stream_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/strand-db/strand/internal/config"
	"github.com/strand-db/strand/internal/journal"
	"github.com/strand-db/strand/internal/ledger"
	"github.com/strand-db/strand/internal/server/servertest"
	"github.com/strand-db/strand/internal/store"
	pebblestore "github.com/strand-db/strand/internal/store/pebble"
	"github.com/strand-db/strand/internal/stream"
	"github.com/strand-db/strand/internal/testenv/kinesisemu"
	"github.com/strand-db/strand/internal/txn"
)

const testRole = "arn:aws:iam::000000000000:role/qldb-stream"

// world is a stream Manager over a real store holding one ledger with a
// few committed blocks, delivering to a real Kinesis emulator.
type world struct {
	st      store.Store
	cat     *ledger.Catalog
	eng     *txn.Engine
	m       *stream.Manager
	emu     *kinesisemu.Emulator
	ledger  ledger.Ledger
	clients *stream.SDKClients
	mClosed bool
}

// newWorld commits blocks through a real node, stops it, and opens its
// data directory again with the journals and clients wrapped by the given
// functions (nil: unwrapped).
func newWorld(t *testing.T, name string, wrapJ func(stream.Journals) stream.Journals, wrapC func(stream.ClientFactory) stream.ClientFactory) *world {
	t.Helper()
	emu := kinesisemu.StartKinesalite(t, kinesisemu.Stream(name, 1))
	n := servertest.Start(t, nil)
	n.CreateLedger(name)
	drv := n.Driver(name)
	servertest.MustQuery(t, drv, "CREATE TABLE T")
	for i := 0; i < 3; i++ {
		servertest.MustQuery(t, drv, fmt.Sprintf("INSERT INTO T VALUE {'k': %d}", i))
	}
	drv.Shutdown(context.Background())
	n.Stop()

	w := &world{emu: emu}
	var err error
	if w.st, err = pebblestore.Open(n.Config.DataDir, pebblestore.Options{}); err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	if w.cat, err = ledger.Open(w.st, ledger.Options{Region: cfg.Region, AccountID: cfg.AccountID}); err != nil {
		t.Fatal(err)
	}
	if w.ledger, err = w.cat.Describe(name); err != nil {
		t.Fatal(err)
	}
	w.eng = txn.NewEngine(w.st, w.cat, txn.Options{})
	var j stream.Journals = engineJournals{w.eng}
	if wrapJ != nil {
		j = wrapJ(j)
	}
	w.clients = &stream.SDKClients{Endpoint: emu.Endpoint, Credentials: credentials.NewStaticCredentialsProvider("AKIDKINESIS", "kinesis-secret", "")}
	var c stream.ClientFactory = w.clients
	if wrapC != nil {
		c = wrapC(c)
	}
	w.m, err = stream.Open(stream.Options{Region: cfg.Region, AccountID: cfg.AccountID, Clients: c, Journals: j,
		Ledgers: w.cat, Store: w.st, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		RetryBase: 10 * time.Millisecond, RetryMax: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.close)
	return w
}

func (w *world) close() {
	w.closeManager()
	if w.st != nil {
		w.eng.Close()
		w.st.Close()
		w.st = nil
	}
}

func (w *world) closeManager() {
	if !w.mClosed {
		w.mClosed = true
		w.m.Close()
	}
}

func (w *world) create(t *testing.T, name string) string {
	t.Helper()
	start := time.Now().Add(-time.Hour)
	id, err := w.m.Create(context.Background(), stream.CreateInput{LedgerName: w.ledger.Name, RoleARN: testRole,
		StreamName: name, Start: &start, StreamARN: w.emu.StreamARN(w.ledger.Name)})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

type engineJournals struct{ e *txn.Engine }

func (j engineJournals) Journal(name string) (journal.Reader, error) { return j.e.Journal(name) }

// TestCancelAndUntagRaceStreamRemoval cancels and retags streams while
// they are being removed (their ledger dropped, their retention expired).
// Cancel and the tag calls used to look the stream up again after
// unlocking and dereferenced nil when it was gone; now they answer
// ResourceNotFoundException or succeed.
func TestCancelAndUntagRaceStreamRemoval(t *testing.T) {
	w := newWorld(t, "racing", nil, nil)
	arn := func(id string) (ledger.ARN, string) {
		cfg := config.Default()
		raw := ledger.StreamARN(cfg.Region, cfg.AccountID, w.ledger.Name, id)
		a, err := ledger.ParseARN(raw)
		if err != nil {
			t.Fatal(err)
		}
		return a, raw
	}
	for i := 0; i < 60; i++ {
		id := w.create(t, fmt.Sprintf("s%d", i))
		a, raw := arn(id)
		var wg sync.WaitGroup
		wg.Add(3)
		go func() { defer wg.Done(); _ = w.m.Cancel(w.ledger.Name, id) }()
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
			w.m.DropLedger(w.ledger.ID)
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
		}
	}
	return j.Reader.Block(seq)
}

// hangingClients makes PutRecords hang until its context ends once the
// prefetch read has started, so that the worker is inside a put when the
// Manager closes.
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
	select {
	case <-h.entered:
		<-ctx.Done()
		return nil, ctx.Err()
	default:
	}
	return h.KinesisAPI.PutRecords(ctx, in, opts...)
}

// TestCloseJoinsPrefetch closes the Manager while a worker puts one window
// and reads the next in the background. Close used to return before that
// read finished, so the read ran against a store the server then closed;
// now no journal read happens after Close returns.
func TestCloseJoinsPrefetch(t *testing.T) {
	g := &gatedJournals{entered: make(chan struct{}), closed: make(chan struct{})}
	g.limit.Store(1)
	w := newWorld(t, "prefetch", func(j stream.Journals) stream.Journals { g.inner = j; return g },
		func(c stream.ClientFactory) stream.ClientFactory { return hangingClients{c, g.entered} })
	w.create(t, "prefetch")
	<-g.entered
	w.closeManager()
	close(g.closed)
	w.close()
	if n := g.lateReads.Load(); n != 0 {
		t.Fatalf("%d journal read(s) ran after Manager.Close returned", n)
	}
}
