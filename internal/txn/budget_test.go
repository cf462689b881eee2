package txn

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/strand-db/strand/internal/ionvalue"
	"github.com/strand-db/strand/internal/qldberr"
)

// TestExpiredTransactionReleasesPendingBytes: the janitor frees an expired
// transaction's pending documents without waiting for its client, and the
// client's next command still gets QLDB's expiry error.
func TestExpiredTransactionReleasesPendingBytes(t *testing.T) {
	e, clk := newTestEngine(t, Options{})
	c := newClient(t, e)
	c.do("CREATE TABLE T")
	l, err := e.Ledger("l")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.begin(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.exec("INSERT INTO T VALUE {'d': ?}", fmt.Sprintf("%q", strings.Repeat("x", 50000))); err != nil {
		t.Fatal(err)
	}
	if p := l.PendingBytes(); p < 50000 {
		t.Fatalf("ledger counts %d pending bytes for a 50 KB document", p)
	}
	e.sweep(clk.Now())
	if p := l.PendingBytes(); p < 50000 {
		t.Fatalf("a live transaction's %d pending bytes were freed", p)
	}
	clk.advance(31 * time.Second)
	e.sweep(clk.Now())
	if p := l.PendingBytes(); p != 0 {
		t.Errorf("expired transaction still counts %d pending bytes", p)
	}
	_, err = c.exec("SELECT * FROM T")
	if qe := qldberr.As(err); qe == nil || qe.Type != qldberr.InvalidSession || qe.Message != "Transaction "+c.txID+" has expired" {
		t.Errorf("next command: %v, want InvalidSessionException Transaction %s has expired", err, c.txID)
	}
}

// TestCursorsCountAsPendingBytes: result rows kept for FetchPage count
// against the ledger's quota and are given back as they are fetched.
func TestCursorsCountAsPendingBytes(t *testing.T) {
	e, _ := newTestEngine(t, Options{PageSize: 2, MaxPendingBytesPerLedger: 4000})
	c := newClient(t, e)
	l, err := e.Ledger("l")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.begin(); err != nil {
		t.Fatal(err)
	}
	big := fmt.Sprintf("%q", strings.Repeat("y", 1000))
	// Six rows of 1 KB: four kept behind the token, over 4,000 bytes.
	_, err = c.exec("SELECT VALUE x FROM ? AS x", "["+strings.Repeat(big+",", 5)+big+"]")
	if qe := qldberr.As(err); qe == nil || qe.Type != qldberr.LimitExceeded || !strings.Contains(qe.Message, "4000 bytes") {
		t.Fatalf("six 1 KB rows, 2 per page, 4,000-byte quota: %v, want LimitExceededException", err)
	}
	page, _, err := e.ExecuteStatement(context.Background(), c.token, c.txID, "SELECT VALUE x FROM ? AS x", []Param{{IonText: "[" + big + "," + big + "," + big + "]"}})
	if err != nil {
		t.Fatal(err)
	}
	held := l.PendingBytes()
	if held < 1000 {
		t.Fatalf("one 1 KB row kept for FetchPage; ledger counts %d bytes", held)
	}
	if _, _, err := e.FetchPage(c.token, c.txID, page.NextPageToken); err != nil {
		t.Fatal(err)
	}
	if p := l.PendingBytes(); p >= held-1000 {
		t.Errorf("after the last page the ledger still counts %d bytes (was %d)", p, held)
	}
	if err := e.AbortTransaction(c.token); err != nil {
		t.Fatal(err)
	}
	if p := l.PendingBytes(); p != 0 {
		t.Errorf("after abort the ledger counts %d bytes", p)
	}
}

// TestParameterSizeLimits: a parameter longer than the QLDBSession model
// allows (IonBinary 131,072 bytes, IonText 1,048,576 characters) is a
// BadRequestException naming it, and changes nothing; one at the limit is
// taken. Characters, not bytes, count for IonText.
func TestParameterSizeLimits(t *testing.T) {
	e, _ := newTestEngine(t, Options{})
	c := newClient(t, e)
	c.do("CREATE TABLE T")
	// Ion binary of a string of n bytes, n+8 bytes in all for the n used
	// here: the version marker, the type descriptor, a three-byte VarUInt
	// length and the text.
	binaryString := func(n int) []byte {
		b := []byte{0xE0, 0x01, 0x00, 0xEA, 0x8E}
		b = append(b, ionvalue.AppendVarUint(nil, uint64(n))...)
		return append(b, strings.Repeat("b", n)...)
	}
	if err := c.begin(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		p    Param
		msg  string
	}{
		{"binary over", Param{IonBinary: binaryString(MaxParamBinaryBytes)}, "Parameter 1: IonBinary is 131080 bytes, more than the limit of 131072"},
		{"text over", Param{IonText: `"` + strings.Repeat("é", MaxParamTextChars-1) + `"`}, "Parameter 1: IonText is 1048577 characters, more than the limit of 1048576"},
		{"text at the limit in characters, over it in bytes", Param{IonText: `"` + strings.Repeat("é", MaxParamTextChars-2) + `"`}, ""},
		{"binary at the limit", Param{IonBinary: binaryString(MaxParamBinaryBytes - 8)}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := e.ExecuteStatement(context.Background(), c.token, c.txID, "INSERT INTO T VALUE {'a': ?}", []Param{tc.p})
			if tc.msg == "" {
				// Within the parameter limits; the document is then too large
				// or not, which is another check's business.
				if qe, ok := err.(*qldberr.Error); ok && strings.Contains(qe.Message, "Parameter 1") {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			qe, ok := err.(*qldberr.Error)
			if !ok || qe.Type != qldberr.BadRequest || qe.Message != tc.msg {
				t.Fatalf("error %v, want BadRequestException %q", err, tc.msg)
			}
		})
	}
	if err := e.AbortTransaction(c.token); err != nil {
		t.Fatal(err)
	}
	if rows := c.do("SELECT COUNT(*) FROM T"); rows[0].Fields[0].Value.Int != 0 {
		t.Fatalf("refused parameters wrote %v", rows)
	}
}
