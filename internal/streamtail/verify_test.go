package streamtail

import (
	"strings"
	"testing"
	"time"

	"github.com/strand-db/strand/internal/ionvalue"
	"github.com/strand-db/strand/internal/journal"
	"github.com/strand-db/strand/internal/qldbhash"
	"github.com/strand-db/strand/internal/stream/record"
)

const testARN = "arn:aws:qldb:us-east-1:000000000000:stream/l/s"

func sealed(seq uint64, prev []byte, stmt string, revs ...journal.Revision) *journal.Block {
	b := &journal.Block{
		Address:         journal.BlockAddress{StrandID: "strand", SequenceNo: seq},
		TransactionID:   "tx",
		Timestamp:       time.Unix(1700000000, 0).UTC(),
		TransactionInfo: journal.TransactionInfo{Statements: []journal.StatementInfo{{Statement: stmt, StartTime: time.Unix(1700000000, 0).UTC(), StatementDigest: qldbhash.HashString(stmt)}}},
		Revisions:       revs,
	}
	b.Seal(prev)
	return b
}

func summary(b *journal.Block) Delivered {
	s := *b
	s.Revisions = make([]journal.Revision, len(b.Revisions))
	for i, r := range b.Revisions {
		s.Revisions[i] = journal.Revision{Hash: r.Hash, Metadata: journal.RevisionMetadata{ID: r.Metadata.ID}}
	}
	return Delivered{Record: &record.Record{StreamARN: testARN, Type: record.TypeBlockSummary, Block: &s}}
}

func details(b *journal.Block, i int) Delivered {
	return Delivered{Record: &record.Record{StreamARN: testARN, Type: record.TypeRevisionDetails,
		Revision: &record.RevisionDetails{Address: b.Address, Revision: b.Revisions[i]}}}
}

// TestVerifierOrderFree delivers a good chain out of order, with a
// duplicate, and finds nothing; then a block that does not chain, a
// conflicting duplicate and a gap are each reported.
func TestVerifierOrderFree(t *testing.T) {
	rev := journal.Revision{Data: ionvalue.Struct(ionvalue.Field{Name: "a", Value: ionvalue.Int(1)}),
		Metadata: journal.RevisionMetadata{ID: "doc1", Version: 0, TxTime: time.Unix(1700000000, 0).UTC(), TxID: "tx"}}
	b0 := sealed(0, nil, "CREATE TABLE t")
	b1 := sealed(1, b0.BlockHash, "INSERT INTO t VALUE {'a': 1}", rev)
	b2 := sealed(2, b1.BlockHash, "SELECT 1")

	var problems []string
	v := NewVerifier(func(p string) { problems = append(problems, p) })
	for _, d := range []Delivered{summary(b2), summary(b1), summary(b0), summary(b1), details(b1, 0)} {
		v.Add(d)
	}
	if len(problems) != 0 || len(v.Gaps()) != 0 {
		t.Fatalf("good chain: problems %q, gaps %q", problems, v.Gaps())
	}
	if s := v.Summary()[0]; !strings.Contains(s, "3 block summaries (3 verified)") || !strings.Contains(s, "duplicates delivered: 1 blocks") {
		t.Fatalf("summary: %s", s)
	}

	b3bad := sealed(3, b0.BlockHash, "SELECT 2") // chains to the wrong block
	b5 := sealed(5, nil, "SELECT 3")
	v.Add(summary(b3bad))
	v.Add(summary(sealed(2, b1.BlockHash, "SELECT 'other'")))
	v.Add(summary(b5))
	want := []string{"block 3: previousBlockHash", "block 2 delivered twice with different hashes"}
	if len(problems) != len(want) {
		t.Fatalf("problems %q", problems)
	}
	for i, w := range want {
		if !strings.Contains(problems[i], w) {
			t.Errorf("problem %d is %q, want %q", i, problems[i], w)
		}
	}
	if g := v.Gaps(); len(g) != 1 || g[0] != "gap: block 4 is missing" {
		t.Errorf("gaps %q", g)
	}
}
