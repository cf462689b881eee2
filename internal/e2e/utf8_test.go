package e2e

import (
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/qldbsession"
	"github.com/aws/aws-sdk-go-v2/service/qldbsession/types"

	"github.com/strand-db/strand/internal/qldbhash"
	"github.com/strand-db/strand/internal/server/servertest"
	"github.com/strand-db/strand/internal/testenv"
)

// TestInvalidUTF8IonTextRefused sends an Ion text parameter whose string
// holds a byte that is not UTF-8 (in the IonBinary member: the SDK's JSON
// encoding would replace the byte in IonText, and the server reads either
// member as text when it lacks the binary version marker). It must be refused: stored, its binary
// encoding could never be decoded again, so the block holding it would be
// unreadable by GetBlock, the verifier and journal streams.
func TestInvalidUTF8IonTextRefused(t *testing.T) {
	n, drv := servertest.StartLedger(t, "badutf8", nil)
	servertest.MustQuery(t, drv, "CREATE TABLE T")
	raw := newRaw(t, n, "badutf8")
	raw.begin()
	const stmt = "INSERT INTO T VALUE {'a': ?}"
	_, err := raw.send(&qldbsession.SendCommandInput{ExecuteStatement: &types.ExecuteStatementRequest{
		TransactionId: aws.String(raw.txID), Statement: aws.String(stmt),
		Parameters: []types.ValueHolder{{IonBinary: []byte("{b: \"x\xccy\"}")}}}})
	var bre *types.BadRequestException
	if !errors.As(err, &bre) {
		t.Fatalf("error %v (%T), want BadRequestException", err, err)
	}
	if msg, want := bre.ErrorMessage(), "Parameter 1: Ion text is not valid UTF-8"; msg != want {
		t.Fatalf("message %q, want %q", msg, want)
	}
	raw.digest.Add(qldbhash.HashString(stmt))
	if err := raw.commit(); err != nil {
		t.Fatalf("commit after the refusal: %v", err)
	}
	if rows := servertest.MustQuery(t, drv, "SELECT COUNT(*) AS n FROM T"); len(rows) != 1 || rows[0].Get("n").Int != 0 {
		t.Fatalf("documents after the refusal: %v", testenv.IonTexts(rows))
	}
	servertest.VerifyChain(t, n.LedgerEngine("badutf8"))
}

// TestMalformedBinaryIonRefused sends binary Ion parameters that broke the
// server: a broken local symbol table on which ion-go's reader panics (found
// by FuzzDecodeBinary), an int declaring 2 TB at the top level, and two
// local symbol tables in sorted structs, whose contents ion-go misreads as
// a top-level blob of 1.6 and 200 TB (found by FuzzMarshalBinary,
// 2026-12-07). The last three ended the process with an unrecoverable
// out-of-memory error. Each must be a client error, with nothing written,
// and the server must go on serving.
func TestMalformedBinaryIonRefused(t *testing.T) {
	n, drv := servertest.StartLedger(t, "badion", nil)
	servertest.MustQuery(t, drv, "CREATE TABLE T")
	for _, p := range []struct{ name, bin string }{
		{"broken local symbol table", "\xe0\x01\x00\xea\xe7\x81\x83\xd4\x86\x7f00"},
		{"int declaring 2 TB", "\xe0\x01\x00\xea.@\b\x00\x00*\xe0\x01\x00k\xf9"},
		{"symbol table field name past its struct", "\xe0\x01\x00\xea\xee\x93\x81\x83\xd1\x8f\xae00000\x81\x83\xd1000000"},
		{"sorted struct symbol table", "\xe0\x01\x00\xea\xee\x93\x81\x83\xd1\x8f\xae000000\x81\x8300\x810\xd10\x830000"},
	} {
		raw := newRaw(t, n, "badion")
		raw.begin()
		_, err := raw.send(&qldbsession.SendCommandInput{ExecuteStatement: &types.ExecuteStatementRequest{
			TransactionId: aws.String(raw.txID), Statement: aws.String("INSERT INTO T VALUE {'a': ?}"),
			Parameters: []types.ValueHolder{{IonBinary: []byte(p.bin)}}}})
		var bre *types.BadRequestException
		if !errors.As(err, &bre) {
			t.Fatalf("%s: error %v (%T), want BadRequestException", p.name, err, err)
		}
		t.Logf("%s: %s", p.name, bre.ErrorMessage())
	}
	if rows := servertest.MustQuery(t, drv, "SELECT COUNT(*) AS n FROM T"); len(rows) != 1 || rows[0].Get("n").Int != 0 {
		t.Fatalf("documents after the refusals: %v", testenv.IonTexts(rows))
	}
}
