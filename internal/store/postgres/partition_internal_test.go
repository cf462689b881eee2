package pgstore

import (
	"bytes"
	"net/url"
	"testing"
	"time"

	"github.com/strand-db/strand/internal/store/postgres/pgtest"
	"github.com/strand-db/strand/internal/testenv/tcpproxy"
)

// A node cut off from the database between its write transaction's
// statements and its COMMIT leaves that transaction idle, holding the row
// locks of the rows it checked (SELECT ... FOR UPDATE): with a cluster,
// the ledger's fence and lease rows. A partition closes nothing, so the
// database keeps the session, and another node that takes the ledger over
// (it writes those rows) waited as long as the partition lasted: found by
// TestClusterPartition (internal/e2e), where the other node could not
// take the ledger for the whole cut. Now the database ends the idle
// transaction after WriteIdleTimeout: the other node's write goes through
// while the partition lasts, and the cut-off writer's commit fails (it was
// rolled back) rather than succeeding after the heal.
func TestPartitionedWriterReleasesItsRowLocks(t *testing.T) {
	db := pgtest.NewDatabase(t)
	u, err := url.Parse(db)
	if err != nil {
		t.Fatal(err)
	}
	p := tcpproxy.Start(t, u.Host)
	u.Host = p.Addr()
	cut, err := Open(u.String(), Options{WriteIdleTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer cut.Close()
	// The other node gives up after 20 s: without the timeout it waited
	// until the heal.
	other, err := Open(db, Options{OpTimeout: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	key := []byte("l/7AsT1Ly91jDDeKTqyXb0n8/fence")
	swap := func(s *Store, from, to string) error {
		b := s.NewBatch()
		defer b.Close()
		if from != "" {
			_ = b.Expect(key, []byte(from))
		}
		_ = b.Set(key, []byte(to))
		return s.Apply(b)
	}
	if err := swap(other, "", "1"); err != nil {
		t.Fatal(err)
	}

	reached := make(chan struct{})
	cut.beforeCommit = func() { p.Cut(); close(reached) }
	cutErr := make(chan error, 1)
	go func() { cutErr <- swap(cut, "1", "cut") }()
	<-reached
	if err := swap(other, "1", "2"); err != nil {
		t.Fatalf("another writer of the rows the cut-off transaction locked, during the partition: %v", err)
	}
	p.Heal()
	if err := <-cutErr; err == nil {
		t.Fatal("the cut-off writer's commit succeeded after the heal; it was rolled back")
	}
	if v, ok, err := other.Get(key); err != nil || !ok || !bytes.Equal(v, []byte("2")) {
		t.Fatalf("the row after the heal: %q %v %v; want 2", v, ok, err)
	}
}
