package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"

	"github.com/amzn/ion-go/ion"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/qldbsession"
	"github.com/aws/aws-sdk-go-v2/service/qldbsession/types"

	"github.com/strand-db/strand/internal/ionvalue"
	"github.com/strand-db/strand/internal/qldbhash"
	"github.com/strand-db/strand/internal/server/servertest"
	"github.com/strand-db/strand/internal/testenv"
)

// strField returns a string field of a row, failing when it is absent.
func strField(t testing.TB, row *ionvalue.Value, name string) string {
	t.Helper()
	v := row.Get(name)
	if v == nil || (v.Type != ion.StringType && v.Type != ion.SymbolType) {
		t.Fatalf("row %v has no string field %s", row, name)
	}
	return v.Text
}

// docIDs checks that rows are {documentId: "..."} structs and returns the ids.
func docIDs(t testing.TB, rows []*ionvalue.Value) []string {
	t.Helper()
	out := make([]string, len(rows))
	for i, r := range rows {
		if r.Type != ion.StructType || len(r.Fields) != 1 {
			t.Fatalf("DML row %v is not {documentId}", r)
		}
		out[i] = strField(t, r, "documentId")
		if len(out[i]) != 22 {
			t.Fatalf("documentId %q is not 22 characters", out[i])
		}
	}
	return out
}

// recorder is an HTTP client that keeps the last response body, so tests
// can inspect error bodies exactly as sent.
type recorder struct {
	mu   sync.Mutex
	last []byte
}

func (r *recorder) Do(req *http.Request) (*http.Response, error) {
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	r.last = b
	r.mu.Unlock()
	resp.Body = io.NopCloser(bytes.NewReader(b))
	return resp, nil
}

// lastBody decodes the last response body as a JSON object.
func (r *recorder) lastBody(t testing.TB) map[string]any {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	var m map[string]any
	if err := json.Unmarshal(r.last, &m); err != nil {
		t.Fatalf("response body %q: %v", r.last, err)
	}
	return m
}

// rawSession drives the session API by hand: one session, its open transaction and
// the commit digest computed exactly as the driver does.
type rawSession struct {
	t      testing.TB
	c      *qldbsession.Client
	rec    *recorder
	token  string
	txID   string
	digest *qldbhash.CommitDigest
}

// newRaw starts a session on ledger with a recording client.
func newRaw(t testing.TB, n *servertest.Node, ledger string) *rawSession {
	t.Helper()
	rec := &recorder{}
	c := n.SessionVia(rec)
	r := &rawSession{t: t, c: c, rec: rec}
	out, err := c.SendCommand(bg, &qldbsession.SendCommandInput{StartSession: &types.StartSessionRequest{LedgerName: aws.String(ledger)}})
	if err != nil {
		t.Fatalf("StartSession: %v", err)
	}
	r.token = aws.ToString(out.StartSession.SessionToken)
	return r
}

func (r *rawSession) send(in *qldbsession.SendCommandInput) (*qldbsession.SendCommandOutput, error) {
	in.SessionToken = aws.String(r.token)
	return r.c.SendCommand(bg, in)
}

// begin starts a transaction, failing the test on error.
func (r *rawSession) begin() {
	r.t.Helper()
	out, err := r.send(&qldbsession.SendCommandInput{StartTransaction: &types.StartTransactionRequest{}})
	if err != nil {
		r.t.Fatalf("StartTransaction: %v", err)
	}
	r.txID = aws.ToString(out.StartTransaction.TransactionId)
	r.digest = qldbhash.NewCommitDigest(r.txID)
}

// exec runs a statement in the open transaction, folding it into the
// digest before sending (as the driver does), and returns the first page.
func (r *rawSession) exec(stmt string, params ...any) (*types.Page, error) {
	r.t.Helper()
	holders := make([]types.ValueHolder, len(params))
	vals := make([]*ionvalue.Value, len(params))
	for i, p := range params {
		b, err := ion.MarshalBinary(p)
		if err != nil {
			r.t.Fatalf("marshal parameter %d: %v", i, err)
		}
		holders[i] = types.ValueHolder{IonBinary: b}
		vals[i] = testenv.IonOf(r.t, p)
	}
	r.digest.Add(qldbhash.StatementHash(stmt, vals))
	out, err := r.send(&qldbsession.SendCommandInput{ExecuteStatement: &types.ExecuteStatementRequest{
		TransactionId: aws.String(r.txID), Statement: aws.String(stmt), Parameters: holders}})
	if err != nil {
		return nil, err
	}
	return out.ExecuteStatement.FirstPage, nil
}

// mustExec is exec that fails the test on error and decodes the first page.
func (r *rawSession) mustExec(stmt string, params ...any) []*ionvalue.Value {
	r.t.Helper()
	p, err := r.exec(stmt, params...)
	if err != nil {
		r.t.Fatalf("%s: %v", stmt, err)
	}
	return servertest.DecodePage(r.t, p)
}

// commit commits with the digest computed so far.
func (r *rawSession) commit() error {
	return r.commitDigest(r.digest.Sum())
}

func (r *rawSession) commitDigest(d []byte) error {
	out, err := r.send(&qldbsession.SendCommandInput{CommitTransaction: &types.CommitTransactionRequest{
		TransactionId: aws.String(r.txID), CommitDigest: d}})
	if err != nil {
		return err
	}
	if !bytes.Equal(out.CommitTransaction.CommitDigest, d) {
		return fmt.Errorf("commit returned digest %x, sent %x", out.CommitTransaction.CommitDigest, d)
	}
	return nil
}

func (r *rawSession) abort() error {
	_, err := r.send(&qldbsession.SendCommandInput{AbortTransaction: &types.AbortTransactionRequest{}})
	return err
}
