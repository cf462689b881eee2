package txn

import (
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/strand-db/strand/internal/journal"
	"github.com/strand-db/strand/internal/ledger"
	"github.com/strand-db/strand/internal/store"
	pebblestore "github.com/strand-db/strand/internal/store/pebble"
)

// TestBackupWhileCommitting takes store.Backup copies of a data directory
// while transactions commit, and checks that each copy's journal holds
// every block its tip records claim (journal.CheckJournal: no
// JournalLoss), i.e. that the tip records are copied before the checkpoint:
// a record copied after it could name a block committed in between, and the
// restored ledger would be refused.
func TestBackupWhileCommitting(t *testing.T) {
	dir := t.TempDir()
	st, err := pebblestore.Open(dir, pebblestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cat, err := ledger.Open(st, ledger.Options{Region: "us-east-1", AccountID: "000000000000", MaxLedgers: 5})
	if err != nil {
		t.Fatal(err)
	}
	entry, err := cat.Create(ledger.CreateInput{Name: "l", PermissionsMode: ledger.PermissionsAllowAll}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	tips := store.NewTipFiles(dir)
	e := NewEngine(st, cat, Options{Now: time.Now, Tips: tips})
	t.Cleanup(func() {
		e.Close()
		tips.Close()
		st.Close()
	})
	newClient(t, e).do("CREATE TABLE T")

	var stop atomic.Bool
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl := newClient(t, e)
			for i := 0; !stop.Load(); i++ {
				err := cl.begin()
				if err == nil {
					_, err = cl.exec(fmt.Sprintf("INSERT INTO T VALUE {'w': %d, 'i': %d}", w, i))
				}
				if err == nil {
					err = cl.commit()
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	var copies []string
	for i := 0; i < 15; i++ {
		dst := filepath.Join(t.TempDir(), "copy")
		if err := store.Backup(st, tips, dst); err != nil {
			t.Fatal(err)
		}
		copies = append(copies, dst)
	}
	stop.Store(true)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for _, dst := range copies {
		cst, err := pebblestore.Open(dst, pebblestore.Options{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		loss, err := journal.CheckJournal(cst, store.NewTipFiles(dst), entry.ID, "l")
		cst.Close()
		if err != nil {
			t.Fatal(err)
		}
		if loss != nil {
			t.Fatalf("backup %s: %v", dst, loss)
		}
	}
}
