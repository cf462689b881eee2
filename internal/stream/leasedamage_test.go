package stream_test

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/strand-db/strand/internal/cluster"
	"github.com/strand-db/strand/internal/journal"
	"github.com/strand-db/strand/internal/store"
	"github.com/strand-db/strand/internal/stream"
	"github.com/strand-db/strand/internal/testenv"
)

// syncBuffer is a log destination safe for the workers' goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// A checkpoint write refused because the ledger's fence row is damaged
// (not because another node took the ledger) is named as damage: the
// stream becomes IMPAIRED, the log names the row and strand repair lease,
// and the worker keeps retrying, so that it delivers again once the row is
// restored. It used to stop as if the ledger had been handed over to
// another node, silently, with no node left to resume the stream.
func TestCheckpointRefusedByDamagedFenceIsNamed(t *testing.T) {
	w := newUnitWorld(t, 2)
	id := w.j.ledger.ID
	leases := cluster.New(cluster.Options{Store: w.st, NodeID: "a", URL: "http://a", TTL: time.Hour, Logger: quietLogger()})
	if _, held, err := leases.Acquire(id); err != nil || !held {
		t.Fatalf("Acquire: %v, %v", held, err)
	}
	var logs syncBuffer
	m, err := stream.Open(stream.Options{Region: unitRegion, AccountID: unitAccount, Clients: w.kin, Journals: w.j,
		Ledgers: w.cat, Store: w.st, Logger: slog.New(slog.NewTextHandler(&logs, nil)),
		RetryBase: time.Millisecond, RetryMax: 5 * time.Millisecond, Ownership: leases})
	if err != nil {
		t.Fatal(err)
	}
	w.m = m
	sid := w.create(true)
	w.waitDelivered(sid, 2)

	fenceKey := journal.LedgerLayout(id).Fence
	fence, _, err := w.st.Get(fenceKey)
	if err != nil {
		t.Fatal(err)
	}
	put := func(v []byte) {
		t.Helper()
		b := w.st.NewBatch()
		defer b.Close()
		if err := b.Set(fenceKey, v); err != nil {
			t.Fatal(err)
		}
		if err := w.st.Apply(b); err != nil {
			t.Fatal(err)
		}
	}
	bad := bytes.Clone(fence)
	bad[len(bad)-1] ^= 0x40
	put(bad)
	w.j.appendBlock(1)
	w.waitStatus(sid, stream.StatusImpaired, "")
	testenv.AwaitTrue(t, "the damage logged", unitWait, func() bool {
		return strings.Contains(logs.String(), "lease metadata is damaged")
	})
	out := logs.String()
	for _, want := range []string{string(fenceKey), "strand repair lease"} {
		if !strings.Contains(out, want) {
			t.Errorf("log does not name %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "held by another node") {
		t.Errorf("log blames another node for damaged lease metadata:\n%s", out)
	}

	put(fence) // restored: the same worker resumes
	w.waitDelivered(sid, 3)
	w.waitStatus(sid, stream.StatusActive, "")
}

// conflictStore wraps the unit world's store: the first write it refuses
// with store.ErrConflict runs onConflict before the refusal reaches the
// writer.
type conflictStore struct {
	store.Store
	once       sync.Once
	onConflict func()
}

func (c *conflictStore) Apply(b store.Batch) error {
	err := c.Store.Apply(b)
	if errors.Is(err, store.ErrConflict) {
		c.once.Do(c.onConflict)
	}
	return err
}

// A checkpoint write refused by a damaged fence row that is repaired
// before the worker looks at why (the repair lands between the refusal and
// the check) is retried: the row holds this node's token again, so no
// other node took the ledger. The worker used to stop as if one had,
// leaving the stream undelivered on the node that holds its ledger.
func TestCheckpointRefusedThenFenceRepairedResumes(t *testing.T) {
	w := newUnitWorld(t, 2)
	id := w.j.ledger.ID
	leases := cluster.New(cluster.Options{Store: w.st, NodeID: "a", URL: "http://a", TTL: time.Hour, Logger: quietLogger()})
	if _, held, err := leases.Acquire(id); err != nil || !held {
		t.Fatalf("Acquire: %v, %v", held, err)
	}
	fenceKey := journal.LedgerLayout(id).Fence
	fence, _, err := w.st.Get(fenceKey)
	if err != nil {
		t.Fatal(err)
	}
	put := func(v []byte) {
		b := w.st.NewBatch()
		defer b.Close()
		if err := b.Set(fenceKey, v); err != nil {
			t.Error(err)
			return
		}
		if err := w.st.Apply(b); err != nil {
			t.Error(err)
		}
	}
	cs := &conflictStore{Store: w.st, onConflict: func() { put(fence) }}
	m, err := stream.Open(stream.Options{Region: unitRegion, AccountID: unitAccount, Clients: w.kin, Journals: w.j,
		Ledgers: w.cat, Store: cs, Logger: quietLogger(),
		RetryBase: time.Millisecond, RetryMax: 5 * time.Millisecond, Ownership: leases})
	if err != nil {
		t.Fatal(err)
	}
	w.m = m
	sid := w.create(true)
	w.waitDelivered(sid, 2)

	bad := bytes.Clone(fence)
	bad[len(bad)-1] ^= 0x40
	put(bad)
	w.j.appendBlock(1)
	w.waitDelivered(sid, 3)
	w.waitStatus(sid, stream.StatusActive, "")
}
