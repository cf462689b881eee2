package servertest

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/qldbsession"
	"github.com/aws/aws-sdk-go-v2/service/qldbsession/types"
	"github.com/aws/smithy-go"
	"github.com/awslabs/amazon-qldb-driver-go/v3/qldbdriver"

	"github.com/strand-db/strand/internal/config"
	"github.com/strand-db/strand/internal/ionvalue"
	"github.com/strand-db/strand/internal/journal"
	"github.com/strand-db/strand/internal/server/plainbody"
	"github.com/strand-db/strand/internal/txn"
)

// StartLedger starts a node (cfg adjusted by mutate, as for Start), creates
// one ledger and returns the node and a driver on it.
func StartLedger(t testing.TB, name string, mutate func(*config.Config)) (*Node, *qldbdriver.QLDBDriver) {
	t.Helper()
	n := Start(t, mutate)
	n.CreateLedger(name)
	return n, n.Driver(name)
}

// SessionVia returns a session-API client signing with the test
// credentials whose requests go through next (behind plainbody, see
// HTTPClient): a pooled transport, or a recorder of response bodies.
func (n *Node) SessionVia(next plainbody.Doer) *qldbsession.Client {
	return qldbsession.NewFromConfig(n.AWSConfig(AccessKeyID, SecretAccessKey), func(o *qldbsession.Options) {
		o.BaseEndpoint = aws.String(n.URL())
		o.HTTPClient = HTTPClient(next)
	})
}

// PooledDriver is Driver with up to conc concurrent transactions over an
// HTTP client that keeps up to 4×conc idle connections. The SDK's default
// keeps only 10 per host, so at high concurrency most requests would dial
// a new connection: benchmarks would measure TCP set-up, and long tests
// would pile up thousands of TIME_WAIT sockets.
func (n *Node) PooledDriver(ledgerName string, conc int, opts ...func(*qldbdriver.DriverOptions)) *qldbdriver.QLDBDriver {
	n.t.Helper()
	hc := awshttp.NewBuildableClient().WithTransportOptions(func(tr *http.Transport) {
		tr.MaxIdleConns = 4 * conc
		tr.MaxIdleConnsPerHost = 4 * conc
	})
	return n.driver(ledgerName, n.SessionVia(hc), append([]func(*qldbdriver.DriverOptions){func(o *qldbdriver.DriverOptions) {
		o.MaxConcurrentTransactions = conc
	}}, opts...))
}

// LedgerEngine returns the engine of an open ledger, whose journal tests
// read directly; it fails the test when there is no such ledger.
func (n *Node) LedgerEngine(name string) *txn.LedgerEngine {
	n.t.Helper()
	l, err := n.Sessions().Ledger(name)
	if err != nil {
		n.t.Fatalf("servertest: ledger %s: %v", name, err)
	}
	return l
}

// Blocks reads every durable block of l, failing on a gap.
func Blocks(t testing.TB, l *txn.LedgerEngine) []*journal.Block {
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

// VerifyChain checks every block of l with journal.VerifyBlock against its
// predecessor, that addresses are dense and on one strand, and that the
// tip is the last block; it returns the blocks.
func VerifyChain(t testing.TB, l *txn.LedgerEngine) []*journal.Block {
	t.Helper()
	bs := Blocks(t, l)
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

// HasStatement reports whether the block lists a statement equal to s
// (ignoring surrounding white space).
func HasStatement(b *journal.Block, s string) bool {
	for _, st := range b.TransactionInfo.Statements {
		if strings.TrimSpace(st.Statement) == s {
			return true
		}
	}
	return false
}

// DecodeBlock decodes a journal block from Ion, binary or text (as stored,
// or as GetBlock returns it in IonText), failing the test on error.
func DecodeBlock(t testing.TB, data []byte) *journal.Block {
	t.Helper()
	v, err := ionvalue.DecodeOne(data)
	if err != nil {
		t.Fatalf("block: %v", err)
	}
	b, err := journal.BlockFromIon(v)
	if err != nil {
		t.Fatalf("block: %v", err)
	}
	return b
}

// DecodePage decodes every value of a session API result page.
func DecodePage(t testing.TB, p *types.Page) []*ionvalue.Value {
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

// APIError fails the test unless err is an AWS API error, and returns it.
func APIError(t testing.TB, err error) smithy.APIError {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("want an AWS API error, got %v", err)
	}
	return ae
}

// WantAPIError fails the test unless err is an AWS API error of type code
// with a message, sent with HTTP status; it returns the error.
func WantAPIError(t testing.TB, err error, code string, status int) smithy.APIError {
	t.Helper()
	if err == nil {
		t.Fatalf("want %s, got success", code)
	}
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("want API error %s, got %v", code, err)
	}
	if ae.ErrorCode() != code {
		t.Fatalf("want error code %s, got %s (%s)", code, ae.ErrorCode(), ae.ErrorMessage())
	}
	if ae.ErrorMessage() == "" {
		t.Errorf("%s has an empty message", code)
	}
	var re *awshttp.ResponseError
	if !errors.As(err, &re) {
		t.Fatalf("no HTTP response in %v", err)
	}
	if re.HTTPStatusCode() != status {
		t.Errorf("%s: want HTTP %d, got %d", code, status, re.HTTPStatusCode())
	}
	return ae
}

// StatementError returns the session API's Code and Message of a
// statement-level BadRequestException. Depending on the SDK version the
// exception is typed (*types.BadRequestException with Code, because the
// X-Amzn-ErrorType header wins) or a smithy.GenericAPIError whose Code is
// the numeric code (older SDKs let the body's Code win).
func StatementError(t testing.TB, err error) (code, msg string) {
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

// Commit runs statements (without parameters) in one driver transaction
// and fails the test when it does not commit.
func Commit(t testing.TB, drv *qldbdriver.QLDBDriver, stmts ...string) {
	t.Helper()
	_, err := drv.Execute(context.Background(), func(tx qldbdriver.Transaction) (any, error) {
		for _, s := range stmts {
			if _, err := tx.Execute(s); err != nil {
				return nil, err
			}
		}
		return nil, nil
	})
	if err != nil {
		t.Fatalf("%v: %v", stmts, err)
	}
}
