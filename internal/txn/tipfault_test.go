package txn

import (
	"errors"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/strand-db/strand/internal/journal"
	"github.com/strand-db/strand/internal/ledger"
	"github.com/strand-db/strand/internal/qldberr"
	"github.com/strand-db/strand/internal/store"
	pebblestore "github.com/strand-db/strand/internal/store/pebble"
)

// faultyTips wraps the real tip record files and fails Record while fail
// is set, as a full disk or a failed fdatasync under the tips directory
// would.
type faultyTips struct {
	*store.TipFiles
	fail  atomic.Pointer[error]
	calls atomic.Int64
}

func (f *faultyTips) Record(rec store.TipRecord) error {
	f.calls.Add(1)
	if err := f.fail.Load(); err != nil {
		return *err
	}
	return f.TipFiles.Record(rec)
}

// openTipsEngine opens an engine over the Pebble store in dir with tips,
// creating ledger l when it is missing; the function closes both.
func openTipsEngine(t testing.TB, dir string, tips journal.Tips) (*Engine, func()) {
	t.Helper()
	st, err := pebblestore.Open(dir, pebblestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cat, err := ledger.Open(st, ledger.Options{Region: "us-east-1", AccountID: "000000000000", MaxLedgers: 5})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cat.Describe("l"); err != nil {
		if _, err := cat.Create(ledger.CreateInput{Name: "l", PermissionsMode: ledger.PermissionsAllowAll}, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	e := NewEngine(st, cat, Options{Tips: tips})
	return e, func() { e.Close(); _ = st.Close() }
}

// TestTipRecordFaultStopsCommits: when the acknowledged-tip record cannot
// be written (ENOSPC on the write, EIO on the fdatasync), the commit it
// covers is not acknowledged, the ledger refuses further commits with a
// clear error while reads go on, and after a restart with the fault
// cleared every acknowledged commit is there, the unacknowledged one
// reappears recorded (its block was durable in the store), and commits
// chain on.
func TestTipRecordFaultStopsCommits(t *testing.T) {
	for _, fault := range []error{syscall.ENOSPC, syscall.EIO} {
		t.Run(fault.Error(), func(t *testing.T) {
			dir := t.TempDir()
			open := func(tips *faultyTips) (*Engine, func()) {
				e, closeAll := openTipsEngine(t, dir, tips)
				return e, func() { closeAll(); _ = tips.Close() }
			}
			tips := &faultyTips{TipFiles: store.NewTipFiles(dir)}
			e, closeAll := open(tips)
			c := newClient(t, e)
			c.do("CREATE TABLE T")
			c.do("INSERT INTO T VALUE {'n': 1}")

			err := fault
			tips.fail.Store(&err)
			if err := c.begin(); err != nil {
				t.Fatal(err)
			}
			if _, err := c.exec("INSERT INTO T VALUE {'n': 2}"); err != nil {
				t.Fatal(err)
			}
			cerr := c.commit()
			if cerr == nil {
				t.Fatal("a commit whose tip record failed was acknowledged")
			}
			var qe *qldberr.Error
			if !errors.As(cerr, &qe) || !strings.Contains(qe.Message, "l") {
				t.Errorf("commit error %v: want a QLDB error naming the ledger", cerr)
			}
			// The fault is over, but the ledger does not trust its tip record
			// until a restart: later commits are refused, not acknowledged.
			tips.fail.Store(nil)
			calls := tips.calls.Load()
			if err := c.begin(); err == nil {
				if _, err := c.exec("INSERT INTO T VALUE {'n': 3}"); err == nil {
					if err := c.commit(); err == nil {
						t.Fatal("a commit after a failed tip record was acknowledged before a restart")
					}
				}
			}
			if tips.calls.Load() != calls {
				t.Errorf("the tip record was written again after its failure, before a restart")
			}
			// Reads go on.
			r := newClient(t, e)
			if err := r.begin(); err != nil {
				t.Fatalf("a read transaction after the fault: %v", err)
			}
			rows, err := r.exec("SELECT n FROM T WHERE n = 1")
			if err != nil || len(rows) != 1 {
				t.Fatalf("read after the fault: %d rows, %v", len(rows), err)
			}
			closeAll()

			// Restart with the fault cleared.
			tips = &faultyTips{TipFiles: store.NewTipFiles(dir)}
			e, closeAll = open(tips)
			defer closeAll()
			l, err := e.Ledger("l")
			if err != nil {
				t.Fatalf("reopen: %v", err)
			}
			rec, ok, err := tips.Load(l.ID)
			if err != nil || !ok || rec.Next != l.Next() {
				t.Fatalf("tip record after restart: %+v %v %v, journal has %d blocks", rec, ok, err, l.Next())
			}
			c = newClient(t, e)
			c.do("INSERT INTO T VALUE {'n': 4}")
			rows = c.do("SELECT VALUE n FROM T")
			got := map[string]bool{}
			for _, v := range rows {
				got[v.String()] = true
			}
			if !got["1"] || !got["4"] || got["3"] {
				t.Errorf("documents after restart: %v; want 1 and 4 (and 2 if its block was durable), never 3", got)
			}
		})
	}
}
