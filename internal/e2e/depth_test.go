package e2e

import (
	"errors"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/qldbsession"
	"github.com/aws/aws-sdk-go-v2/service/qldbsession/types"

	"github.com/strand-db/strand/internal/ionvalue"
	"github.com/strand-db/strand/internal/qldbhash"
	"github.com/strand-db/strand/internal/server/servertest"
	"github.com/strand-db/strand/internal/testenv"
)

// deepBinary is n nested lists around the int 1 as an Ion binary stream.
func deepBinary(n int) []byte {
	rev := []byte{0x01, 0x21} // int 1, reversed
	for i := 0; i < n; i++ {
		l := len(rev)
		if l < 14 {
			rev = append(rev, 0xB0|byte(l))
			continue
		}
		var vu []byte
		for x := l; ; x >>= 7 {
			vu = append(vu, byte(x&0x7F)) // least significant group first
			if x < 0x80 {
				break
			}
		}
		vu[0] |= 0x80 // the end bit goes on the last byte written
		rev = append(rev, vu...)
		rev = append(rev, 0xBE)
	}
	out := []byte{0xE0, 0x01, 0x00, 0xEA}
	for j := len(rev) - 1; j >= 0; j-- {
		out = append(out, rev[j])
	}
	return out
}

func deepText(n int) string { return strings.Repeat("[", n) + "1" + strings.Repeat("]", n) }

// TestDeepIonRefused sends ExecuteStatement parameters and Ion literals
// nested deeper than ionvalue.MaxDepth, in Ion binary and Ion text, just over
// the limit and far beyond it, with the goroutine stack capped at 4 MB.
// Before the limit the server's recursive Ion reader and ion-hash-go's reader
// overflowed the stack on the deep cases (a fatal error that ends the
// process) and accepted the others. Each must be a BadRequestException
// naming the limit; nothing is written, the transaction stays usable and the
// server keeps serving.
func TestDeepIonRefused(t *testing.T) {
	n, drv := servertest.StartLedger(t, "deepion", nil)
	servertest.MustQuery(t, drv, "CREATE TABLE T")
	servertest.MustQuery(t, drv, "INSERT INTO T VALUE {'a': 1}")
	// A document at the limit is accepted (the struct is one level).
	servertest.MustQuery(t, drv, "INSERT INTO T VALUE {'a': ?}", textParam(t, deepText(ionvalue.MaxDepth-1)))

	old := debug.SetMaxStack(4 << 20)
	defer debug.SetMaxStack(old)

	const stmt = "INSERT INTO T VALUE {'a': ?}"
	params := []struct {
		name   string
		holder types.ValueHolder
	}{
		{"binary, limit+1", types.ValueHolder{IonBinary: deepBinary(ionvalue.MaxDepth + 1)}},
		{"binary, 30000", types.ValueHolder{IonBinary: deepBinary(30_000)}},
		{"text, limit+1", types.ValueHolder{IonText: aws.String(deepText(ionvalue.MaxDepth + 1))}},
		{"text, 100000", types.ValueHolder{IonText: aws.String(deepText(100_000))}},
	}
	raw := newRaw(t, n, "deepion")
	raw.begin()
	for _, p := range params {
		_, err := raw.send(&qldbsession.SendCommandInput{ExecuteStatement: &types.ExecuteStatementRequest{
			TransactionId: aws.String(raw.txID), Statement: aws.String(stmt), Parameters: []types.ValueHolder{p.holder}}})
		if err == nil {
			t.Fatalf("%s: accepted", p.name)
		}
		var bre *types.BadRequestException
		if !errors.As(err, &bre) {
			t.Fatalf("%s: error %v (%T), want BadRequestException", p.name, err, err)
		}
		if msg, want := bre.ErrorMessage(), "Parameter 1: Ion nesting depth exceeds the limit of 1000"; msg != want {
			t.Fatalf("%s: message %q, want %q", p.name, msg, want)
		}
		// The server folds a failed statement into the commit digest with
		// the parameters it could hash before the failing one: none here.
		raw.digest.Add(qldbhash.HashString(stmt))
	}
	// The transaction is still usable, and commits without the refused
	// statements.
	const sel = "SELECT VALUE t.a FROM T AS t WHERE t.a = 1"
	if rows := raw.mustExec(sel); len(rows) != 1 {
		t.Fatalf("transaction after the errors: %d rows", len(rows))
	}
	if err := raw.commit(); err != nil {
		t.Fatalf("commit after the errors: %v", err)
	}

	// Ion literals and documents built by a statement, through the driver.
	for _, c := range []struct {
		stmt   string
		params []any
		want   string
	}{
		{"INSERT INTO T VALUE {'a': `" + deepText(ionvalue.MaxDepth+1) + "`}", nil, "Ion nesting depth exceeds the limit of 1000"},
		{"INSERT INTO T VALUE {'a': `" + deepText(40_000) + "`}", nil, "Ion nesting depth exceeds the limit of 1000"},
		{"INSERT INTO T VALUE {'a': [?]}", []any{textParam(t, deepText(ionvalue.MaxDepth-1))}, "Ion nesting depth exceeds the limit of 1000"},
		// A result a statement builds around the document at the limit.
		{"SELECT VALUE " + strings.Repeat("[", 9) + "t" + strings.Repeat("]", 9) + " FROM T AS t", nil, "Ion nesting depth exceeds the limit of 1008"},
	} {
		_, err := servertest.Query(drv, c.stmt, c.params...)
		if err == nil {
			t.Fatalf("%.60s...: accepted", c.stmt)
		}
		if _, msg := servertest.StatementError(t, err); !strings.Contains(msg, c.want) {
			t.Fatalf("%.60s...: message %q, want it to contain %q", c.stmt, msg, c.want)
		}
	}

	// Nothing was written and the server still serves.
	if rows := servertest.MustQuery(t, drv, "SELECT COUNT(*) AS n FROM T"); len(rows) != 1 || rows[0].Get("n").Int != 2 {
		t.Fatalf("documents after the refusals: %v", testenv.IonTexts(rows))
	}
	found := false
	for _, b := range servertest.VerifyChain(t, n.LedgerEngine("deepion")) {
		if servertest.HasStatement(b, sel) {
			found = true
			if len(b.TransactionInfo.Statements) != 1 || len(b.Revisions) != 0 {
				t.Fatalf("block %d of the raw transaction: %d statements, %d revisions; want only the SELECT",
					b.Address.SequenceNo, len(b.TransactionInfo.Statements), len(b.Revisions))
			}
		}
		for _, st := range b.TransactionInfo.Statements {
			if strings.Contains(st.Statement, "[?]") || strings.Contains(st.Statement, "`") {
				t.Fatalf("block %d records a refused statement %.60q", b.Address.SequenceNo, st.Statement)
			}
		}
	}
	if !found {
		t.Fatal("the raw transaction's block is missing")
	}
}
