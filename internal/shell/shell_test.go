package shell

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/qldbsession"
	"github.com/aws/aws-sdk-go-v2/service/qldbsession/types"

	"github.com/strand-db/strand/internal/server/servertest"
)

// faultySender passes commands to a real server, except that it fails the
// first ExecuteStatement with InvalidSessionException (as if the session had
// expired) and the first CommitTransaction with OccConflictException (after
// aborting the transaction on the server, which is what a real conflict
// leaves behind): faults the server does not produce on demand.
type faultySender struct {
	next                  Sender
	failedExec, failedOCC bool
}

func (f *faultySender) SendCommand(ctx context.Context, in *qldbsession.SendCommandInput, opts ...func(*qldbsession.Options)) (*qldbsession.SendCommandOutput, error) {
	if in.ExecuteStatement != nil && !f.failedExec {
		f.failedExec = true
		return nil, &types.InvalidSessionException{Message: strPtr("session expired (injected)")}
	}
	if in.CommitTransaction != nil && !f.failedOCC {
		f.failedOCC = true
		if _, err := f.next.SendCommand(ctx, &qldbsession.SendCommandInput{SessionToken: in.SessionToken, AbortTransaction: &types.AbortTransactionRequest{}}); err != nil {
			return nil, err
		}
		return nil, &types.OccConflictException{Message: strPtr("conflict (injected)")}
	}
	return f.next.SendCommand(ctx, in, opts...)
}

func strPtr(s string) *string { return &s }

// TestAutoCommitRetries runs a script whose insert meets a lost session and
// then an OCC conflict: auto-commit runs it again each time, it is
// committed exactly once, and the script succeeds.
func TestAutoCommitRetries(t *testing.T) {
	node := servertest.Start(t, nil)
	node.CreateLedger("retry")
	drv := node.Driver("retry")
	servertest.Commit(t, drv, "CREATE TABLE t")

	f := &faultySender{next: node.Session(servertest.AccessKeyID, servertest.SecretAccessKey)}
	var out, errOut bytes.Buffer
	code := Run(context.Background(), Options{Ledger: "retry", Client: f,
		Lines: NewPipeReader(strings.NewReader("INSERT INTO t VALUE {'a': 1};\n")), Out: &out, Err: &errOut})
	if code != 0 || !f.failedExec || !f.failedOCC {
		t.Fatalf("exit %d (faults injected: session %v, OCC %v)\nstderr:\n%s", code, f.failedExec, f.failedOCC, errOut.String())
	}
	rows := servertest.MustQuery(t, drv, "SELECT COUNT(*) AS n FROM t")
	if len(rows) != 1 || rows[0].Get("n").Int != 1 {
		t.Fatalf("documents after the retried insert: %v", rows)
	}
}
