package e2e

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/qldb"
	"github.com/awslabs/amazon-qldb-driver-go/v3/qldbdriver"

	"github.com/strand-db/strand/internal/audit"
	"github.com/strand-db/strand/internal/ionvalue"
	"github.com/strand-db/strand/internal/journal"
	"github.com/strand-db/strand/internal/qldbhash"
	"github.com/strand-db/strand/internal/server/servertest"
	"github.com/strand-db/strand/internal/testenv"
)

// TestRedactRevision (issue 13, item 4) redacts a past revision with EXEC
// redact_revision through the QLDB Go driver and checks what QLDB
// documents: the statement returns {blockAddress, tableId, documentId,
// version}; history() then shows the revision with dataHash (the Ion hash
// of the removed data) in place of data and the same hash; GetBlock and
// GetRevision show it so, and the revision still proves against a digest;
// every block still verifies and the offline audit (strand verify) passes.
// It also checks QLDB's refusals: the latest revision, a deletion, an
// already redacted revision, a second redaction in one transaction, an
// unknown block or document, and malformed arguments.
func TestRedactRevision(t *testing.T) {
	const name = "redact"
	n, drv := servertest.StartLedger(t, name, nil)
	c := n.QLDB(servertest.AccessKeyID, servertest.SecretAccessKey)
	tid := tableID(t, servertest.MustQuery(t, drv, "CREATE TABLE Person"))
	ids := servertest.MustQuery(t, drv, "INSERT INTO Person << {'name': 'a', 'ssn': '111'}, {'name': 'b', 'ssn': '222'} >>")
	docA, docB := ids[0].Get("documentId").Text, ids[1].Get("documentId").Text
	servertest.MustQuery(t, drv, "UPDATE Person SET ssn = 'gone' WHERE name = 'a'")
	servertest.MustQuery(t, drv, "DELETE FROM Person WHERE name = 'b'")

	hist := func(doc string) []*ionvalue.Value {
		return servertest.MustQuery(t, drv, "SELECT * FROM history(Person) AS h WHERE h.metadata.id = ?", doc)
	}
	ha := hist(docA)
	if len(ha) != 2 {
		t.Fatalf("history of A: %v", testenv.IonTexts(ha))
	}
	v0 := ha[0]
	addr, err := journal.AddressFromIon(v0.Get("blockAddress"))
	if err != nil {
		t.Fatal(err)
	}
	oldData := v0.Get("data")
	wantDataHash := qldbhash.Hash(oldData)

	stmtErr := func(t *testing.T, err error, want string) {
		t.Helper()
		if err == nil {
			t.Fatalf("no error, want one containing %q", want)
		}
		if _, msg := servertest.StatementError(t, err); !strings.Contains(msg, want) {
			t.Fatalf("error %q, want it to contain %q", msg, want)
		}
	}
	once := n.Driver(name, func(o *qldbdriver.DriverOptions) { o.RetryPolicy.MaxRetryLimit = 0 })
	exec := func(stmt string, args ...any) ([]*ionvalue.Value, error) {
		return servertest.Query(once, stmt, args...)
	}
	addrParam := map[string]any{"strandId": addr.StrandID, "sequenceNo": int64(addr.SequenceNo)}
	latest := ha[1]
	latestAddr := latest.Get("blockAddress")

	t.Run("refusals", func(t *testing.T) {
		_, err := exec("EXEC redact_revision ?, ?, ?", map[string]any{"strandId": addr.StrandID, "sequenceNo": latestAddr.Get("sequenceNo").Int}, tid, docA)
		stmtErr(t, err, "is the latest revision")
		hb := hist(docB)
		if len(hb) != 2 {
			t.Fatalf("history of B: %v", testenv.IonTexts(hb))
		}
		del := hb[1].Get("blockAddress")
		_, err = exec("EXEC redact_revision ?, ?, ?", map[string]any{"strandId": addr.StrandID, "sequenceNo": del.Get("sequenceNo").Int}, tid, docB)
		stmtErr(t, err, "holds no data to redact")
		_, err = exec("EXEC redact_revision ?, ?, ?", map[string]any{"strandId": addr.StrandID, "sequenceNo": int64(9999)}, tid, docA)
		stmtErr(t, err, "no block 9999")
		_, err = exec("EXEC redact_revision ?, ?, ?", addrParam, tid, "NoSuchDocument00000000")
		stmtErr(t, err, "wrote no revision of document")
		_, err = exec("EXEC redact_revision ?, ?, ?", addrParam, "NoSuchTable00000000000", docA)
		stmtErr(t, err, "no table with id")
		_, err = exec("EXEC redact_revision ?, ?, ?", map[string]any{"strandId": "other", "sequenceNo": int64(addr.SequenceNo)}, tid, docA)
		stmtErr(t, err, "is not the strand")
		_, err = exec("EXEC redact_revision 'x', ?, ?", tid, docA)
		stmtErr(t, err, "the block address is string")
		_, err = exec("EXEC redact_revision ?, ?", addrParam, tid)
		stmtErr(t, err, "takes three arguments")
		_, err = exec("EXEC no_such_proc")
		stmtErr(t, err, "No such stored procedure")
		// Nothing was redacted by any of these.
		if got := hist(docA)[0]; got.Get("data") == nil {
			t.Fatalf("a refused redaction changed history: %s", got)
		}
	})

	var rows []*ionvalue.Value
	t.Run("redact", func(t *testing.T) {
		_, err := once.Execute(bg, func(tx qldbdriver.Transaction) (any, error) {
			var err error
			lit := fmt.Sprintf("EXEC REDACT_REVISION `{strandId: %q, sequenceNo: %d}`, '%s', '%s'", addr.StrandID, addr.SequenceNo, tid, docA)
			if rows, err = servertest.Rows(tx, lit); err != nil {
				return nil, err
			}
			// A second redaction in the same transaction is refused; the
			// transaction still commits the first.
			_, err2 := tx.Execute("EXEC redact_revision ?, ?, ?", addrParam, tid, docB)
			if err2 == nil || !strings.Contains(err2.Error(), "one redaction per transaction") {
				return nil, fmt.Errorf("second redaction in one transaction: %v", err2)
			}
			return nil, nil
		})
		if err != nil {
			t.Fatal(err)
		}
		want := fmt.Sprintf("{blockAddress:{strandId:%q,sequenceNo:%d},tableId:%q,documentId:%q,version:0}", addr.StrandID, addr.SequenceNo, tid, docA)
		if len(rows) != 1 || !ionvalue.Equal(rows[0], testenv.Ion(t, want)) {
			t.Fatalf("EXEC redact_revision returned %v, want %s", testenv.IonTexts(rows), want)
		}
	})

	t.Run("history", func(t *testing.T) {
		got := hist(docA)
		r0 := got[0]
		if r0.Get("data") != nil || !bytes.Equal(r0.Get("dataHash").Bytes, wantDataHash) {
			t.Fatalf("redacted revision in history: %s; want dataHash %x and no data", r0, wantDataHash)
		}
		if !bytes.Equal(r0.Get("hash").Bytes, v0.Get("hash").Bytes) || !ionvalue.Equal(r0.Get("metadata"), v0.Get("metadata")) {
			t.Fatalf("redaction changed the hash or metadata: %s, was %s", r0, v0)
		}
		if !ionvalue.Equal(got[1], latest) {
			t.Fatalf("the latest revision changed: %s, was %s", got[1], latest)
		}
		_, err := exec("EXEC redact_revision ?, ?, ?", addrParam, tid, docA)
		stmtErr(t, err, "already redacted")
		// The user view is untouched.
		if rows := servertest.MustQuery(t, drv, "SELECT ssn FROM Person WHERE name = 'a'"); len(rows) != 1 || rows[0].Get("ssn").Text != "gone" {
			t.Fatalf("user view: %v", testenv.IonTexts(rows))
		}
	})

	t.Run("journal", func(t *testing.T) {
		l := n.LedgerEngine(name)
		bs := servertest.VerifyChain(t, l)
		var last *journal.Block
		for _, b := range bs {
			if b.RedactionInfo != nil {
				if last != nil {
					t.Fatalf("blocks %d and %d both have redactionInfo", last.Address.SequenceNo, b.Address.SequenceNo)
				}
				last = b
			}
		}
		if last == nil || !servertest.HasStatement(last, fmt.Sprintf("EXEC REDACT_REVISION `{strandId: %q, sequenceNo: %d}`, '%s', '%s'", addr.StrandID, addr.SequenceNo, tid, docA)) {
			t.Fatalf("no block with redactionInfo holds the redaction")
		}
		if want := journal.RedactionInfo(journal.RedactionTarget{Block: addr, TableID: tid, DocumentID: docA}); !ionvalue.Equal(last.RedactionInfo, want) {
			t.Errorf("redactionInfo %s, want %s", last.RedactionInfo, want)
		}
		d := vfGetDigest(t, c, name)
		out, err := c.GetBlock(bg, &qldb.GetBlockInput{Name: aws.String(name), BlockAddress: vfAddr(addr.StrandID, addr.SequenceNo)})
		if err != nil {
			t.Fatal(err)
		}
		b := servertest.DecodeBlock(t, []byte(*out.Block.IonText))
		i, ok := b.DocumentRevision(docA)
		if !ok || !b.Revisions[i].IsRedacted() || b.Revisions[i].Data != nil || !bytes.Equal(b.Revisions[i].DataHash, wantDataHash) {
			t.Fatalf("GetBlock revision of A: %+v", b.Revisions)
		}
		if err := journal.VerifyBlock(b, bs[addr.SequenceNo].PreviousBlockHash); err != nil {
			t.Fatalf("GetBlock's redacted block does not verify: %v", err)
		}
		rv, err := c.GetRevision(bg, &qldb.GetRevisionInput{Name: aws.String(name), BlockAddress: vfAddr(addr.StrandID, addr.SequenceNo),
			DocumentId: aws.String(docA), DigestTipAddress: vfAddr(addr.StrandID, d.seq)})
		if err != nil {
			t.Fatal(err)
		}
		rev, _, err := journal.RevisionFromIon(testenv.Ion(t, *rv.Revision.IonText))
		if err != nil || !rev.IsRedacted() {
			t.Fatalf("GetRevision: %s: %v", *rv.Revision.IonText, err)
		}
		if h, err := rev.Rehash(); err != nil || !bytes.Equal(h, rev.Hash) {
			t.Fatalf("GetRevision's redacted revision rehashes to %x (%v), hash %x", h, err, rev.Hash)
		}
		if got := qldbhash.Fold(rev.Hash, vfProof(t, rv.Proof)); !bytes.Equal(got, d.digest) {
			t.Fatalf("the redacted revision's proof folds to %x, digest %x", got, d.digest)
		}
	})

	t.Run("audit", func(t *testing.T) {
		n.Stop()
		st := n.OpenStore()
		defer st.Close()
		rep, err := audit.Run(st, audit.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if !rep.OK() {
			t.Fatalf("audit after a redaction: %v", rep.FirstFailure())
		}
	})
}
