package stream_test

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/strand-db/strand/internal/cluster"
	"github.com/strand-db/strand/internal/ledger"
	"github.com/strand-db/strand/internal/qldberr"
	"github.com/strand-db/strand/internal/stream"
)

// CancelJournalKinesisStream is acknowledged only once the CANCELED status
// is durable. On a shared store, a node that lost its ledger's lease
// between routing the request and writing the status used to answer
// success with the stream CANCELED in its memory only: the next owner
// loaded the stream as ACTIVE and ran it again, an acknowledged
// cancellation lost. Now the request gets a retryable 503
// CapacityExceededException, the stream runs on unchanged, and a retry on
// the owner cancels it for good. A create or tag change that loses the
// ledger gets the same answer instead of a 500.
func TestCancelIsAcknowledgedOnlyWhenDurable(t *testing.T) {
	w := newUnitWorld(t, 2)
	id := w.j.ledger.ID
	leases := cluster.New(cluster.Options{Store: w.st, NodeID: "a", URL: "http://a", TTL: time.Hour, Logger: quietLogger()})
	if _, held, err := leases.Acquire(id); err != nil || !held {
		t.Fatalf("Acquire: %v, %v", held, err)
	}
	m, err := stream.Open(stream.Options{Region: unitRegion, AccountID: unitAccount, Clients: w.kin, Journals: w.j,
		Ledgers: w.cat, Store: w.st, Logger: quietLogger(), RetryBase: time.Millisecond, RetryMax: 5 * time.Millisecond, Ownership: leases})
	if err != nil {
		t.Fatal(err)
	}
	w.m = m
	sid := w.create(true)
	w.waitDelivered(sid, 2)
	stored := func() string {
		t.Helper()
		raw, ok, err := w.st.Get([]byte("sd/" + sid))
		if err != nil || !ok {
			t.Fatalf("stored definition: %v %v", ok, err)
		}
		var d stream.Definition
		if err := json.Unmarshal(raw, &d); err != nil {
			t.Fatal(err)
		}
		return d.Status
	}

	// The lease goes (to another node, or it ran out) under the request.
	if err := leases.Release(id); err != nil {
		t.Fatal(err)
	}
	err = m.Cancel("led", sid)
	var qe *qldberr.Error
	if !errors.As(err, &qe) || qe.Type != qldberr.CapacityExceeded {
		t.Fatalf("Cancel without the lease: %v; want CapacityExceededException", err)
	}
	if s := stored(); s != stream.StatusActive {
		t.Fatalf("stored status after the refused cancel: %s", s)
	}
	if d := w.describe(sid); d.Status != stream.StatusActive {
		t.Fatalf("status in memory after the refused cancel: %s", d.Status)
	}
	raw := ledger.StreamARN(unitRegion, unitAccount, "led", sid)
	a, err := ledger.ParseARN(raw)
	if err != nil {
		t.Fatal(err)
	}
	v := "v"
	if err := m.Tag(a, raw, map[string]*string{"k": &v}); !errors.As(err, &qe) || qe.Type != qldberr.CapacityExceeded {
		t.Fatalf("TagResource without the lease: %v; want CapacityExceededException", err)
	}

	// Back on the owner: the retry cancels it, durably.
	if _, held, err := leases.Acquire(id); err != nil || !held {
		t.Fatalf("Acquire again: %v, %v", held, err)
	}
	if err := m.Cancel("led", sid); err != nil {
		t.Fatalf("Cancel on the owner: %v", err)
	}
	if s := stored(); s != stream.StatusCanceled {
		t.Fatalf("stored status after the cancel: %s", s)
	}
}
