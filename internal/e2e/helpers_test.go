package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/amzn/ion-go/ion"
	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/qldbsession"
	"github.com/aws/aws-sdk-go-v2/service/qldbsession/types"
	"github.com/aws/smithy-go"
	"github.com/awslabs/amazon-qldb-driver-go/v3/qldbdriver"

	"github.com/strand-db/strand/internal/config"
	"github.com/strand-db/strand/internal/ionvalue"
	"github.com/strand-db/strand/internal/journal"
	"github.com/strand-db/strand/internal/qldbhash"
	"github.com/strand-db/strand/internal/server/servertest"
	"github.com/strand-db/strand/internal/txn"
)

// startLedger starts a node (cfg adjusted by mutate), creates one ledger and
// returns the node and a driver on it.
func startLedger(t testing.TB, name string, mutate func(*config.Config)) (*servertest.Node, *qldbdriver.QLDBDriver) {
	t.Helper()
	n := servertest.Start(t, mutate)
	n.CreateLedger(name)
	return n, n.Driver(name)
}

// pooledDriver returns a driver on ledger whose HTTP client keeps up to
// 4×conc idle connections. The SDK's default keeps only 10 per host, so at
// high concurrency most requests would dial a new connection: benchmarks
// would measure TCP set-up, and long tests would pile up thousands of
// TIME_WAIT sockets.
func pooledDriver(t testing.TB, n *servertest.Node, ledger string, conc int, opts ...func(*qldbdriver.DriverOptions)) *qldbdriver.QLDBDriver {
	t.Helper()
	hc := awshttp.NewBuildableClient().WithTransportOptions(func(tr *http.Transport) {
		tr.MaxIdleConns = 4 * conc
		tr.MaxIdleConnsPerHost = 4 * conc
	})
	c := qldbsession.NewFromConfig(n.AWSConfig(servertest.AccessKeyID, servertest.SecretAccessKey), func(o *qldbsession.Options) {
		o.BaseEndpoint = aws.String(n.URL())
		o.HTTPClient = servertest.HTTPClient(hc)
	})
	drv, err := qldbdriver.New(ledger, c, func(o *qldbdriver.DriverOptions) {
		o.LoggerVerbosity = qldbdriver.LogOff
		o.MaxConcurrentTransactions = conc
		for _, f := range opts {
			f(o)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { drv.Shutdown(bg) })
	return drv
}

// ledgerOf returns the engine of a ledger, whose journal the tests read.
func ledgerOf(t testing.TB, n *servertest.Node, name string) *txn.LedgerEngine {
	t.Helper()
	l, err := n.Sessions().Ledger(name)
	if err != nil {
		t.Fatalf("ledger %s: %v", name, err)
	}
	return l
}

// Statement helpers shared with the other test packages (see servertest).
var (
	queryRows = servertest.Rows
	runStmt   = servertest.Query
	mustStmt  = servertest.MustQuery
)

// ionv parses one Ion text value.
func ionv(t testing.TB, text string) *ionvalue.Value {
	t.Helper()
	v, err := ionvalue.DecodeOne([]byte(text))
	if err != nil {
		t.Fatalf("bad Ion in test %q: %v", text, err)
	}
	return v
}

// ionOf converts a Go value to an Ion value the way the driver sends it.
func ionOf(t testing.TB, x any) *ionvalue.Value {
	t.Helper()
	b, err := ion.MarshalBinary(x)
	if err != nil {
		t.Fatalf("marshal %#v: %v", x, err)
	}
	v, err := ionvalue.DecodeOne(b)
	if err != nil {
		t.Fatalf("decode %#v: %v", x, err)
	}
	return v
}

func ionTexts(vs []*ionvalue.Value) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = v.String()
	}
	sort.Strings(out)
	return out
}

// sameRows reports whether got and want hold the same values as multisets
// (result order is unspecified in QLDB), comparing with ionvalue.Equal.
func sameRows(got, want []*ionvalue.Value) bool {
	if len(got) != len(want) {
		return false
	}
	used := make([]bool, len(got))
next:
	for _, w := range want {
		for i, g := range got {
			if !used[i] && ionvalue.Equal(g, w) {
				used[i] = true
				continue next
			}
		}
		return false
	}
	return true
}

// wantRows fails unless rows equal the Ion text values want (any order).
func wantRows(t testing.TB, what string, rows []*ionvalue.Value, want ...string) {
	t.Helper()
	wv := make([]*ionvalue.Value, len(want))
	for i, w := range want {
		wv[i] = ionv(t, w)
	}
	if !sameRows(rows, wv) {
		t.Errorf("%s:\n got  %v\n want %v", what, ionTexts(rows), ionTexts(wv))
	}
}

// field returns a string field of a row, failing when it is absent.
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

// statementError extracts the session API's Code and Message of a
// statement-level BadRequestException. Depending on the SDK version the
// exception is typed (*types.BadRequestException with Code, because the
// X-Amzn-ErrorType header wins) or a smithy.GenericAPIError whose Code is
// the numeric code (older SDKs let the body's Code win).
func statementError(t testing.TB, err error) (code, msg string) {
	t.Helper()
	var bre *types.BadRequestException
	if errors.As(err, &bre) {
		return aws.ToString(bre.Code), bre.ErrorMessage()
	}
	var ge *smithy.GenericAPIError
	if errors.As(err, &ge) {
		return ge.Code, ge.Message
	}
	t.Fatalf("error %v (%T) is not a statement error (BadRequestException)", err, err)
	return "", ""
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

// raw drives the session API by hand: one session, its open transaction and
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
	c := qldbsession.NewFromConfig(n.AWSConfig(servertest.AccessKeyID, servertest.SecretAccessKey), func(o *qldbsession.Options) {
		o.BaseEndpoint = aws.String(n.URL())
		o.HTTPClient = servertest.HTTPClient(rec)
	})
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
		vals[i] = ionOf(r.t, p)
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
	return decodePage(r.t, p)
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

func decodePage(t testing.TB, p *types.Page) []*ionvalue.Value {
	t.Helper()
	out := make([]*ionvalue.Value, len(p.Values))
	for i, h := range p.Values {
		v, err := ionvalue.DecodeOne(h.IonBinary)
		if err != nil {
			t.Fatalf("page value %d: %v", i, err)
		}
		out[i] = v
	}
	return out
}

// blocks reads every durable block of l, failing on a gap.
func journalBlocks(t testing.TB, l *txn.LedgerEngine) []*journal.Block {
	t.Helper()
	n := l.Next()
	out := make([]*journal.Block, 0, n)
	for seq := uint64(0); seq < n; seq++ {
		b, ok, err := l.Block(seq)
		if err != nil || !ok {
			t.Fatalf("block %d of %d: ok=%v err=%v", seq, n, ok, err)
		}
		out = append(out, b)
	}
	return out
}

// verifyChain checks every block of l with journal.VerifyBlock against its
// predecessor and that addresses are dense and on one strand; it returns
// the blocks.
func verifyChain(t testing.TB, l *txn.LedgerEngine) []*journal.Block {
	t.Helper()
	bs := journalBlocks(t, l)
	var prev []byte
	for i, b := range bs {
		if b.Address.SequenceNo != uint64(i) || b.Address.StrandID != l.StrandID {
			t.Errorf("block %d has address %+v, want {%s %d}", i, b.Address, l.StrandID, i)
		}
		if err := journal.VerifyBlock(b, prev); err != nil {
			t.Errorf("block %d: %v", i, err)
		}
		prev = b.BlockHash
	}
	if _, tip, ok := l.Tip(); len(bs) > 0 && (!ok || !bytes.Equal(tip, prev)) {
		t.Errorf("Tip hash %x, last block hash %x", tip, prev)
	}
	return bs
}

// hasStatement reports whether the block lists a statement equal to s.
func hasStatement(b *journal.Block, s string) bool {
	for _, st := range b.TransactionInfo.Statements {
		if strings.TrimSpace(st.Statement) == s {
			return true
		}
	}
	return false
}
