package txn

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/strand-db/strand/internal/journal"
	"github.com/strand-db/strand/internal/qldberr"
	"github.com/strand-db/strand/internal/store"
)

// heldTips wraps the real tip records and, once armed, holds the committer
// inside Record (after the group's batch is durable, before any transaction
// of the group is acknowledged) until released: a commit then waits for
// its group as long as the test wants.
type heldTips struct {
	journal.Tips
	mu      sync.Mutex
	hold    chan struct{} // nil: pass through
	entered chan struct{}
}

func (h *heldTips) arm() {
	h.mu.Lock()
	h.hold, h.entered = make(chan struct{}), make(chan struct{}, 1)
	h.mu.Unlock()
}

func (h *heldTips) release() {
	h.mu.Lock()
	close(h.hold)
	h.hold = nil
	h.mu.Unlock()
}

func (h *heldTips) Record(rec store.TipRecord) error {
	h.mu.Lock()
	hold, entered := h.hold, h.entered
	h.mu.Unlock()
	if hold != nil {
		select {
		case entered <- struct{}{}:
		default:
		}
		<-hold
	}
	return h.Tips.Record(rec)
}

// A commit whose request context is cancelled while it waits for its group
// commit returns at once with BadRequestException, without the outcome; the
// group already had it, so it still commits (as CommitTransaction
// documents), and the session stays usable.
func TestCommitCancelledWhileWaitingForGroup(t *testing.T) {
	tips := &heldTips{Tips: store.NewTipFiles(t.TempDir())}
	e, _ := newTestEngine(t, Options{Tips: tips})
	cl := newClient(t, e)
	cl.do("CREATE TABLE T")

	tips.arm()
	if err := cl.begin(); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.exec("INSERT INTO T VALUE {'a': 1}"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, _, err := e.CommitTransaction(ctx, cl.token, cl.txID, cl.digest.Sum())
		errc <- err
	}()
	<-tips.entered // the committer holds the group with our transaction
	cancel()
	var err error
	select {
	case err = <-errc:
	case <-time.After(20 * time.Second): // a guard against a hang, not a timing assert
		tips.release()
		t.Fatal("CommitTransaction did not return after its context was cancelled while its group was held")
	}
	if errType(err) != qldberr.BadRequest || !strings.Contains(err.Error(), "cancelled") {
		t.Fatalf("cancelled commit: got %v, want BadRequestException ... cancelled", err)
	}
	tips.release()

	// The session is usable; the next commit is queued behind the held
	// group, so once it is acknowledged the cancelled one's outcome is final.
	cl.do("INSERT INTO T VALUE {'a': 2}")
	rows := cl.do("SELECT VALUE a FROM T")
	if len(rows) != 2 {
		t.Fatalf("got %d documents, want 2 (the cancelled commit's group had taken it)", len(rows))
	}
}
