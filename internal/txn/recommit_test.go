package txn

import (
	"bytes"
	"context"
	"testing"

	"github.com/strand-db/strand/internal/qldberr"
	"github.com/strand-db/strand/internal/store"
)

// The same CommitTransaction sent again gets the first one's answer rather
// than "No open transaction": a node that forwarded a commit and lost the
// answer learns that it committed (and nothing is written twice), also
// when the first request was cancelled while the commit waited for its
// group. A different digest is refused.
func TestRepeatedCommitGetsItsOutcome(t *testing.T) {
	tips := &heldTips{Tips: store.NewTipFiles(t.TempDir())}
	e, _ := newTestEngine(t, Options{Tips: tips})
	cl := newClient(t, e)
	cl.do("CREATE TABLE T")

	if err := cl.begin(); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.exec("INSERT INTO T VALUE {'a': 1}"); err != nil {
		t.Fatal(err)
	}
	digest := cl.digest.Sum()
	first, _, err := e.CommitTransaction(context.Background(), cl.token, cl.txID, digest)
	if err != nil {
		t.Fatal(err)
	}
	again, io, err := e.CommitTransaction(context.Background(), cl.token, cl.txID, digest)
	if err != nil || !bytes.Equal(again, first) || io.WriteIOs != 1 {
		t.Fatalf("the same commit again: digest %x, %+v, %v; want the first answer (%x, 1 write)", again, io, err, first)
	}
	if _, _, err := e.CommitTransaction(context.Background(), cl.token, cl.txID, []byte("other")); errType(err) != qldberr.BadRequest {
		t.Fatalf("the same transaction with another digest: %v; want BadRequestException", err)
	}

	// Cancelled while its group is held, then sent again: the repeat waits
	// for the outcome and reports the commit.
	tips.arm()
	if err := cl.begin(); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.exec("INSERT INTO T VALUE {'a': 2}"); err != nil {
		t.Fatal(err)
	}
	digest = cl.digest.Sum()
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, _, err := e.CommitTransaction(ctx, cl.token, cl.txID, digest)
		errc <- err
	}()
	<-tips.entered
	cancel()
	if err := <-errc; errType(err) != qldberr.BadRequest {
		t.Fatalf("cancelled commit: %v", err)
	}
	type answer struct {
		digest []byte
		err    error
	}
	repeat := make(chan answer, 1)
	go func() {
		d, _, err := e.CommitTransaction(context.Background(), cl.token, cl.txID, digest)
		repeat <- answer{d, err}
	}()
	tips.release()
	if a := <-repeat; a.err != nil || !bytes.Equal(a.digest, digest) {
		t.Fatalf("the cancelled commit sent again: %x %v; want its digest (it committed)", a.digest, a.err)
	}
	if rows := cl.do("SELECT VALUE a FROM T"); len(rows) != 2 {
		t.Fatalf("%d documents, want 2 (each commit once)", len(rows))
	}
}
