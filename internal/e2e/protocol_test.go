package e2e

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/qldbsession"
	"github.com/aws/aws-sdk-go-v2/service/qldbsession/types"
	"github.com/awslabs/amazon-qldb-driver-go/v3/qldbdriver"

	"github.com/strand-db/strand/internal/config"
	"github.com/strand-db/strand/internal/qldbhash"
	"github.com/strand-db/strand/internal/server/servertest"
	"github.com/strand-db/strand/internal/testenv"
)

// wantBadRequest fails unless err is a typed BadRequestException (no Code)
// whose message contains msg.
func wantBadRequest(t testing.TB, err error, msg string) {
	t.Helper()
	var bre *types.BadRequestException
	if !errors.As(err, &bre) {
		t.Fatalf("error %v (%T), want *types.BadRequestException %q", err, err, msg)
	}
	if !strings.Contains(bre.ErrorMessage(), msg) {
		t.Errorf("BadRequestException %q, want it to contain %q", bre.ErrorMessage(), msg)
	}
}

// wantISE fails unless err is a typed InvalidSessionException whose message
// matches re and whose body had no Code member.
func wantISE(t testing.TB, r *rawSession, err error, re string) {
	t.Helper()
	var ise *types.InvalidSessionException
	if !errors.As(err, &ise) {
		t.Fatalf("error %v (%T), want *types.InvalidSessionException", err, err)
	}
	if !regexp.MustCompile(re).MatchString(ise.ErrorMessage()) {
		t.Errorf("InvalidSessionException %q does not match %q", ise.ErrorMessage(), re)
	}
	if ise.Code != nil {
		t.Errorf("InvalidSessionException carries Code %q", *ise.Code)
	}
	if r != nil {
		for k := range r.rec.lastBody(t) {
			if strings.EqualFold(k, "code") {
				t.Errorf("InvalidSessionException body has a %s member", k)
			}
		}
	}
}

// TestTransactionExpiry shortens the 30 s transaction timeout: a statement
// or commit after it gets InvalidSessionException "Transaction <id> has
// expired", which the driver does not retry, and the session is gone.
func TestTransactionExpiry(t *testing.T) {
	const timeout = 300 * time.Millisecond
	n, drv := servertest.StartLedger(t, "expiry", func(c *config.Config) { c.TxTimeout = timeout })
	l := n.LedgerEngine("expiry")
	servertest.MustQuery(t, drv, "CREATE TABLE T")

	for _, atCommit := range []bool{false, true} {
		t.Run(fmt.Sprintf("at commit %v", atCommit), func(t *testing.T) {
			before := l.Next()
			attempts := 0
			var txID string
			_, err := drv.Execute(bg, func(tx qldbdriver.Transaction) (any, error) {
				attempts++
				txID = tx.ID()
				if _, err := servertest.Rows(tx, "INSERT INTO T VALUE {'a': 1}"); err != nil {
					return nil, err
				}
				time.Sleep(timeout + 200*time.Millisecond)
				if atCommit {
					return nil, nil
				}
				_, err := servertest.Rows(tx, "SELECT * FROM T")
				return nil, err
			})
			wantISE(t, nil, err, "^Transaction "+regexp.QuoteMeta(txID)+" has expired$")
			if attempts != 1 {
				t.Errorf("the driver ran the function %d times; an expired transaction must not be retried", attempts)
			}
			if l.Next() != before {
				t.Errorf("the expired transaction wrote a block")
			}
		})
	}
	testenv.WantValues(t, "nothing committed", servertest.MustQuery(t, drv, "SELECT COUNT(*) FROM T"), `{_1:0}`)

	// On a raw session: the session is discarded with the transaction.
	r := newRaw(t, n, "expiry")
	r.begin()
	time.Sleep(timeout + 200*time.Millisecond)
	_, err := r.exec("SELECT * FROM T")
	wantISE(t, r, err, "^Transaction "+r.txID+" has expired$")
	_, err = r.send(&qldbsession.SendCommandInput{StartTransaction: &types.StartTransactionRequest{}})
	wantISE(t, r, err, ".")
}

// TestCommitDigestMismatch commits with a digest that differs from the
// statements sent: BadRequestException "Digests don't match", nothing
// written, and the session usable afterwards.
func TestCommitDigestMismatch(t *testing.T) {
	n, drv := servertest.StartLedger(t, "digest", nil)
	l := n.LedgerEngine("digest")
	servertest.MustQuery(t, drv, "CREATE TABLE T")
	cases := []struct {
		name   string
		digest func(r *rawSession, withoutLast []byte) []byte
	}{
		{"flipped bit", func(r *rawSession, _ []byte) []byte {
			d := r.digest.Sum()
			d[7] ^= 0x10
			return d
		}},
		{"statement left out", func(_ *rawSession, withoutLast []byte) []byte { return withoutLast }},
		{"other transaction id", func(r *rawSession, _ []byte) []byte {
			d := qldbhash.NewCommitDigest(strings.Repeat("A", 22))
			d.Add(qldbhash.HashString("INSERT INTO T VALUE {'a': 1}"))
			return d.Sum()
		}},
		{"short", func(r *rawSession, _ []byte) []byte { return r.digest.Sum()[:16] }},
	}
	r := newRaw(t, n, "digest")
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r.t = t
			r.begin()
			r.mustExec("INSERT INTO T VALUE {'a': 1}")
			withoutLast := r.digest.Sum()
			r.mustExec("INSERT INTO T VALUE {'a': 2}")
			before := l.Next()
			d := c.digest(r, withoutLast)
			if bytes.Equal(d, r.digest.Sum()) {
				t.Fatal("test digest equals the real one")
			}
			wantBadRequest(t, r.commitDigest(d), "Digests don't match")
			if after := l.Next(); after != before {
				t.Errorf("a mismatched commit wrote a block: Next %d -> %d", before, after)
			}
			// The session is still usable.
			r.begin()
			testenv.WantValues(t, "nothing written", r.mustExec("SELECT COUNT(*) FROM T"), `{_1:0}`)
			if err := r.commit(); err != nil {
				t.Fatalf("commit after a mismatch: %v", err)
			}
		})
	}
}

// TestSessionCommands covers the session-level rules of SendCommand.
func TestSessionCommands(t *testing.T) {
	n, drv := servertest.StartLedger(t, "cmds", nil)
	servertest.MustQuery(t, drv, "CREATE TABLE T")

	t.Run("StartTransaction twice", func(t *testing.T) {
		r := newRaw(t, n, "cmds")
		r.begin()
		_, err := r.send(&qldbsession.SendCommandInput{StartTransaction: &types.StartTransactionRequest{}})
		wantBadRequest(t, err, "Transaction already open")
		// The first transaction is intact.
		r.mustExec("SELECT * FROM T")
		if err := r.commit(); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("AbortTransaction without a transaction", func(t *testing.T) {
		r := newRaw(t, n, "cmds")
		if err := r.abort(); err != nil {
			t.Fatalf("abort with no transaction: %v", err)
		}
		r.begin()
		if err := r.abort(); err != nil {
			t.Fatalf("abort: %v", err)
		}
		if err := r.abort(); err != nil {
			t.Fatalf("second abort: %v", err)
		}
	})
	t.Run("abort writes nothing", func(t *testing.T) {
		l := n.LedgerEngine("cmds")
		r := newRaw(t, n, "cmds")
		r.begin()
		r.mustExec("INSERT INTO T VALUE {'aborted': true}")
		before := l.Next()
		if err := r.abort(); err != nil {
			t.Fatal(err)
		}
		if l.Next() != before {
			t.Error("abort wrote a block")
		}
		testenv.WantValues(t, "after abort", servertest.MustQuery(t, drv, "SELECT COUNT(*) FROM T WHERE aborted = true"), `{_1:0}`)
	})
	t.Run("statement without a transaction", func(t *testing.T) {
		r := newRaw(t, n, "cmds")
		_, err := r.send(&qldbsession.SendCommandInput{ExecuteStatement: &types.ExecuteStatementRequest{
			TransactionId: aws.String(strings.Repeat("A", 22)), Statement: aws.String("SELECT * FROM T")}})
		wantBadRequest(t, err, "No open transaction")
	})
	t.Run("statement with another transaction id", func(t *testing.T) {
		r := newRaw(t, n, "cmds")
		r.begin()
		_, err := r.send(&qldbsession.SendCommandInput{ExecuteStatement: &types.ExecuteStatementRequest{
			TransactionId: aws.String(strings.Repeat("A", 22)), Statement: aws.String("SELECT * FROM T")}})
		wantBadRequest(t, err, "")
	})
	t.Run("unknown session token", func(t *testing.T) {
		r := newRaw(t, n, "cmds")
		r.token = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
		_, err := r.send(&qldbsession.SendCommandInput{StartTransaction: &types.StartTransactionRequest{}})
		wantISE(t, r, err, ".")
	})
	t.Run("ended session", func(t *testing.T) {
		r := newRaw(t, n, "cmds")
		if _, err := r.send(&qldbsession.SendCommandInput{EndSession: &types.EndSessionRequest{}}); err != nil {
			t.Fatal(err)
		}
		_, err := r.send(&qldbsession.SendCommandInput{StartTransaction: &types.StartTransactionRequest{}})
		wantISE(t, r, err, ".")
	})
	t.Run("StartSession on a missing ledger", func(t *testing.T) {
		c := n.Session(servertest.AccessKeyID, servertest.SecretAccessKey)
		_, err := c.SendCommand(bg, &qldbsession.SendCommandInput{StartSession: &types.StartSessionRequest{LedgerName: aws.String("no-such-ledger")}})
		wantBadRequest(t, err, "no-such-ledger")
		var bre *types.BadRequestException
		if errors.As(err, &bre) && bre.Code != nil {
			t.Errorf("StartSession on a missing ledger carries Code %q; the driver's tests expect a typed exception without one", *bre.Code)
		}
		// Through the driver, too.
		d := n.Driver("no-such-ledger")
		_, err = d.Execute(bg, func(tx qldbdriver.Transaction) (any, error) { return nil, nil })
		wantBadRequest(t, err, "no-such-ledger")
	})
}

// TestSessionLimit: past MaxSessionsPerLedger, StartSession gets
// LimitExceededException; ending a session frees its slot.
func TestSessionLimit(t *testing.T) {
	n, _ := servertest.StartLedger(t, "limit", func(c *config.Config) { c.MaxSessionsPerLedger = 2 })
	// StartLedger's driver holds no session until used.
	r1 := newRaw(t, n, "limit")
	newRaw(t, n, "limit")
	c := n.Session(servertest.AccessKeyID, servertest.SecretAccessKey)
	start := &qldbsession.SendCommandInput{StartSession: &types.StartSessionRequest{LedgerName: aws.String("limit")}}
	_, err := c.SendCommand(bg, start)
	var lee *types.LimitExceededException
	if !errors.As(err, &lee) {
		t.Fatalf("third StartSession: %v (%T), want *types.LimitExceededException", err, err)
	}
	if _, err := r1.send(&qldbsession.SendCommandInput{EndSession: &types.EndSessionRequest{}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.SendCommand(bg, start); err != nil {
		t.Fatalf("StartSession after EndSession freed a slot: %v", err)
	}
}

// TestFetchPage: a result larger than a page comes back as a first page with
// a NextPageToken; FetchPage returns the rest; the driver reads all rows.
func TestFetchPage(t *testing.T) {
	const rows = 450
	n, drv := servertest.StartLedger(t, "paging", nil)
	servertest.MustQuery(t, drv, "CREATE TABLE T")
	for i := 0; i < rows; i += 40 {
		_, err := drv.Execute(bg, func(tx qldbdriver.Transaction) (any, error) {
			for j := i; j < i+40 && j < rows; j++ {
				if _, err := tx.Execute("INSERT INTO T VALUE {'n': ?}", j); err != nil {
					return nil, err
				}
			}
			return nil, nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}

	r := newRaw(t, n, "paging")
	r.begin()
	page, err := r.exec("SELECT VALUE n FROM T")
	if err != nil {
		t.Fatal(err)
	}
	var got []int64
	pages := 0
	for {
		pages++
		for _, v := range servertest.DecodePage(t, page) {
			got = append(got, v.Int)
		}
		if page.NextPageToken == nil {
			break
		}
		out, err := r.send(&qldbsession.SendCommandInput{FetchPage: &types.FetchPageRequest{
			TransactionId: aws.String(r.txID), NextPageToken: page.NextPageToken}})
		if err != nil {
			t.Fatalf("FetchPage %d: %v", pages, err)
		}
		page = out.FetchPage.Page
	}
	if pages != 3 || len(got) != rows {
		t.Errorf("raw paging: %d pages, %d rows; want 3 pages (200+200+50), %d rows", pages, len(got), rows)
	}
	if err := r.commit(); err != nil {
		t.Fatalf("commit after FetchPage (FetchPage is not in the digest): %v", err)
	}

	all := servertest.MustQuery(t, drv, "SELECT VALUE n FROM T")
	seen := map[int64]bool{}
	for _, v := range all {
		seen[v.Int] = true
	}
	if len(all) != rows || len(seen) != rows {
		t.Errorf("driver read %d rows (%d distinct), want %d", len(all), len(seen), rows)
	}
}

// TestQuotas: QLDB's per-transaction limits fail with a clear message and
// write nothing.
func TestQuotas(t *testing.T) {
	n, drv := servertest.StartLedger(t, "quotas", nil)
	l := n.LedgerEngine("quotas")
	servertest.MustQuery(t, drv, "CREATE TABLE Q")
	big := strings.Repeat("x", 70*1024)
	bag := make([]string, 41)
	for i := range bag {
		bag[i] = fmt.Sprintf("{'i': %d}", i)
	}
	cases := []struct {
		name string
		fn   func(tx qldbdriver.Transaction) (any, error)
		msg  string
	}{
		{"41 documents in 41 statements", func(tx qldbdriver.Transaction) (any, error) {
			for i := 0; i < 41; i++ {
				if _, err := tx.Execute("INSERT INTO Q VALUE {'i': ?}", i); err != nil {
					return nil, err
				}
			}
			return nil, nil
		}, "limit of 40 documents per transaction"},
		{"41 documents in one statement", func(tx qldbdriver.Transaction) (any, error) {
			return tx.Execute("INSERT INTO Q << " + strings.Join(bag, ", ") + " >>")
		}, "limit of 40 documents per transaction"},
		{"document over 128 KB", func(tx qldbdriver.Transaction) (any, error) {
			return tx.Execute("INSERT INTO Q VALUE {'a': ?, 'b': ?}", big, big)
		}, "exceeds the limit of 131072 bytes"},
		{"document grown over 128 KB by UPDATE", func(tx qldbdriver.Transaction) (any, error) {
			if _, err := tx.Execute("INSERT INTO Q VALUE {'a': ?}", big); err != nil {
				return nil, err
			}
			return tx.Execute("UPDATE Q SET b = ?", big)
		}, "exceeds the limit of 131072 bytes"},
		{"parameter over 128 KB of Ion binary", func(tx qldbdriver.Transaction) (any, error) {
			return tx.Execute("INSERT INTO Q VALUE {'a': ?}", strings.Repeat("x", 131072))
		}, "more than the limit of 131072"},
		{"document of shared parts over 128 KB", func(tx qldbdriver.Transaction) (any, error) {
			// 1,000 references to one 70 KB string: 70 MB encoded, which
			// the encoder no longer writes out before refusing it.
			if _, err := tx.Execute("INSERT INTO Q VALUE {'a': ?}", big); err != nil {
				return nil, err
			}
			return tx.Execute("UPDATE Q AS q SET q.b = [" + strings.TrimSuffix(strings.Repeat("q.a, ", 1000), ", ") + "]")
		}, "exceeds the limit of 131072 bytes"},
		{"value of 2^60 shared parts", func(tx qldbdriver.Transaction) (any, error) {
			var b strings.Builder
			b.WriteString("SELECT COUNT(*) FROM <<[1, 1]>> AS a0")
			for i := 1; i < 60; i++ {
				fmt.Fprintf(&b, ", <<[a%d, a%d]>> AS a%d", i-1, i-1, i)
			}
			return tx.Execute(b.String())
		}, "builds a value of more than"},
		{"statement over 100,000 characters", func(tx qldbdriver.Transaction) (any, error) {
			s := "SELECT * FROM Q WHERE a = '" + strings.Repeat("y", 100000) + "'"
			return tx.Execute(s)
		}, "100000 characters"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := l.Next()
			attempts := 0
			_, err := drv.Execute(bg, func(tx qldbdriver.Transaction) (any, error) {
				attempts++
				return c.fn(tx)
			})
			if err == nil {
				t.Fatal("the transaction succeeded")
			}
			if !strings.Contains(err.Error(), c.msg) {
				t.Errorf("error %q, want it to mention %q", err, c.msg)
			}
			var lee *types.LimitExceededException
			var bre *types.BadRequestException
			if !errors.As(err, &lee) && !errors.As(err, &bre) {
				t.Errorf("error %T, want LimitExceededException or BadRequestException", err)
			}
			if attempts != 1 {
				t.Errorf("retried %d times", attempts-1)
			}
			if l.Next() != before {
				t.Error("a transaction over quota wrote a block")
			}
			testenv.WantValues(t, "nothing written", servertest.MustQuery(t, drv, "SELECT COUNT(*) FROM Q"), `{_1:0}`)
		})
	}
	// Exactly at the limits is fine.
	_, err := drv.Execute(bg, func(tx qldbdriver.Transaction) (any, error) {
		return tx.Execute("INSERT INTO Q << " + strings.Join(bag[:40], ", ") + " >>")
	})
	if err != nil {
		t.Errorf("40 documents in one transaction: %v", err)
	}
}
