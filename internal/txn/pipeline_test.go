package txn

import (
	"errors"
	"syscall"
	"testing"
	"time"

	"github.com/strand-db/strand/internal/journal"
	"github.com/strand-db/strand/internal/qldberr"
	"github.com/strand-db/strand/internal/store"
)

// gatedTips wraps the real tip record files; while armed, Record announces
// itself on entered and waits for release to say whether it fails.
type gatedTips struct {
	*store.TipFiles
	armed   chan struct{} // closed: gate Record
	entered chan struct{}
	release chan error
}

func (g *gatedTips) Record(rec store.TipRecord) error {
	select {
	case <-g.armed:
		g.entered <- struct{}{}
		if err := <-g.release; err != nil {
			return err
		}
	default:
	}
	return g.TipFiles.Record(rec)
}

// TestCommitPipelinesBehindTipRecord: while one group's tip record is
// being written, the committer builds and applies the next group (so the
// two flushes overlap), but acknowledges it only after the record before
// it. When that record fails, neither group is acknowledged; both are
// durable and reappear, recorded, after a restart.
func TestCommitPipelinesBehindTipRecord(t *testing.T) {
	for _, recordErr := range []error{nil, syscall.EIO} {
		name := "record succeeds"
		if recordErr != nil {
			name = "record fails"
		}
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			open := func(tips journal.Tips) (*Engine, func()) { return openTipsEngine(t, dir, tips) }
			tips := &gatedTips{TipFiles: store.NewTipFiles(dir), armed: make(chan struct{}),
				entered: make(chan struct{}), release: make(chan error)}
			e, closeAll := open(tips)
			a, b := newClient(t, e), newClient(t, e)
			a.do("CREATE TABLE T")
			l, err := e.Ledger("l")
			if err != nil {
				t.Fatal(err)
			}
			before := l.Next()

			commit := func(c *client, n string) <-chan error {
				if err := c.begin(); err != nil {
					t.Fatal(err)
				}
				if _, err := c.exec("INSERT INTO T VALUE {'n': " + n + "}"); err != nil {
					t.Fatal(err)
				}
				done := make(chan error, 1)
				go func() { done <- c.commit() }()
				return done
			}
			close(tips.armed)
			aDone := commit(a, "1")
			<-tips.entered // a's group is applied; its record waits
			bDone := commit(b, "2")
			deadline := time.Now().Add(20 * time.Second)
			for {
				if _, ok, err := l.Block(before + 1); err != nil {
					t.Fatal(err)
				} else if ok {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("the next group was not applied while the tip record of the one before it was being written")
				}
				time.Sleep(5 * time.Millisecond)
			}
			select {
			case err := <-bDone:
				t.Fatalf("the second commit was answered (%v) before the tip record of the first", err)
			case err := <-aDone:
				t.Fatalf("the first commit was answered (%v) before its tip record", err)
			default:
			}
			if l.Next() != before {
				t.Fatalf("Next moved to %d before any tip record was written", l.Next())
			}

			tips.release <- recordErr
			if recordErr == nil {
				<-tips.entered // b's record
				tips.release <- nil
			}
			aErr, bErr := <-aDone, <-bDone
			if recordErr == nil {
				if aErr != nil || bErr != nil || l.Next() != before+2 {
					t.Fatalf("commits %v, %v; Next %d, want %d", aErr, bErr, l.Next(), before+2)
				}
				closeAll()
				return
			}
			if aErr == nil || bErr == nil {
				t.Fatalf("after a failed tip record: first commit %v, second %v; neither may be acknowledged", aErr, bErr)
			}
			if l.Next() != before {
				t.Fatalf("Next moved to %d after the failed record", l.Next())
			}
			closeAll()

			// Restart: both blocks were durable in the store, and come back recorded.
			plain := store.NewTipFiles(dir)
			e, closeAll = open(plain)
			defer closeAll()
			l, err = e.Ledger("l")
			if err != nil {
				t.Fatalf("reopen: %v", err)
			}
			rec, ok, err := plain.Load(l.ID)
			if err != nil || !ok || rec.Next != l.Next() || l.Next() != before+2 {
				t.Fatalf("after restart: tip record %+v %v %v, journal %d blocks, want %d", rec, ok, err, l.Next(), before+2)
			}
			for _, err := range []error{aErr, bErr} {
				var qe *qldberr.Error
				if !errors.As(err, &qe) || qe.Type != qldberr.InternalFailure {
					t.Errorf("commit error %v: want InternalFailure (it may or may not be in the journal)", err)
				}
			}
		})
	}
}
