package record

import (
	"bytes"
	"encoding/hex"
	"testing"

	"github.com/strand-db/strand/internal/ionvalue"
	"github.com/strand-db/strand/internal/journal"
	"github.com/strand-db/strand/internal/qldbhash"
)

// The hashes in the decoded records must recompute from the decoded typed
// data with QLDB's rules; this proves that Decode loses nothing a stream
// consumer needs to verify the journal (DMV-JAVA validateStreamRecordsHashChain).

func txInfoValue(ti journal.TransactionInfo) *ionvalue.Value {
	var stmts []*ionvalue.Value
	for _, s := range ti.Statements {
		stmts = append(stmts, ionvalue.Struct(
			ionvalue.Field{Name: "statement", Value: ionvalue.String(s.Statement)},
			ionvalue.Field{Name: "startTime", Value: ionvalue.TimeMillis(s.StartTime)},
			ionvalue.Field{Name: "statementDigest", Value: ionvalue.Blob(s.StatementDigest)},
		))
	}
	var docs []ionvalue.Field
	for _, d := range ti.Documents {
		var idx []*ionvalue.Value
		for _, i := range d.Statements {
			idx = append(idx, ionvalue.Int(int64(i)))
		}
		docs = append(docs, ionvalue.Field{Name: d.DocumentID, Value: ionvalue.Struct(
			ionvalue.Field{Name: "tableName", Value: ionvalue.String(d.TableName)},
			ionvalue.Field{Name: "tableId", Value: ionvalue.String(d.TableID)},
			ionvalue.Field{Name: "statements", Value: ionvalue.List(idx...)},
		)})
	}
	return ionvalue.Struct(
		ionvalue.Field{Name: "statements", Value: ionvalue.List(stmts...)},
		ionvalue.Field{Name: "documents", Value: ionvalue.Struct(docs...)},
	)
}

func metadataValue(m journal.RevisionMetadata) *ionvalue.Value {
	return ionvalue.Struct(
		ionvalue.Field{Name: "id", Value: ionvalue.String(m.ID)},
		ionvalue.Field{Name: "version", Value: ionvalue.Int(int64(m.Version))},
		ionvalue.Field{Name: "txTime", Value: ionvalue.TimeMillis(m.TxTime)},
		ionvalue.Field{Name: "txId", Value: ionvalue.String(m.TxID)},
	)
}

func containsHash(list [][]byte, h []byte) bool {
	for _, x := range list {
		if bytes.Equal(x, h) {
			return true
		}
	}
	return false
}

// checkBlockHashes verifies txInfo ∈ entriesHashList, revisionsRoot ∈
// entriesHashList, entriesHash and blockHash.
func checkBlockHashes(t *testing.T, name string, b *journal.Block) {
	t.Helper()
	if h := qldbhash.Hash(txInfoValue(b.TransactionInfo)); !containsHash(b.EntriesHashList, h) {
		t.Errorf("%s: transactionInfo hash %x not in entriesHashList", name, h)
	}
	var revs [][]byte
	for _, r := range b.Revisions {
		revs = append(revs, r.Hash)
	}
	if root := qldbhash.MerkleRoot(revs); len(revs) > 0 && !containsHash(b.EntriesHashList, root) {
		t.Errorf("%s: revisions root %x not in entriesHashList", name, root)
	}
	if got := qldbhash.MerkleRoot(b.EntriesHashList); !bytes.Equal(got, b.EntriesHash) {
		t.Errorf("%s: entriesHash %x, recomputed %x", name, b.EntriesHash, got)
	}
	if got := qldbhash.Dot(b.EntriesHash, b.PreviousBlockHash); !bytes.Equal(got, b.BlockHash) {
		t.Errorf("%s: blockHash %x, recomputed %x", name, b.BlockHash, got)
	}
}

func checkRevisionHash(t *testing.T, name string, rev journal.Revision) {
	t.Helper()
	got := qldbhash.Dot(qldbhash.Hash(metadataValue(rev.Metadata)), qldbhash.Hash(rev.Data))
	if !bytes.Equal(got, rev.Hash) {
		t.Errorf("%s: revision hash %x, recomputed %x", name, rev.Hash, got)
	}
}

func TestCapturedHashesRecompute(t *testing.T) {
	blocks, revisions := 0, 0
	for _, c := range loadCaptured(t) {
		rec, err := Decode(c.data)
		if err != nil {
			t.Fatal(err)
		}
		switch rec.Type {
		case TypeBlockSummary:
			checkBlockHashes(t, c.name, rec.Block)
			blocks++
		case TypeRevisionDetails:
			checkRevisionHash(t, c.name, rec.Revision.Revision)
			revisions++
		}
	}
	if blocks != 3 || revisions != 4 {
		t.Errorf("checked %d blocks and %d revisions", blocks, revisions)
	}
}

func TestTextVectorHashesRecompute(t *testing.T) {
	vs := loadTextVectors(t)
	bs, err := fromValue(vs[0])
	if err != nil {
		t.Fatal(err)
	}
	rd, err := fromValue(vs[1])
	if err != nil {
		t.Fatal(err)
	}
	checkBlockHashes(t, "person block 3", bs.Block)
	checkRevisionHash(t, "person revision", rd.Revision.Revision)
	// A statement without parameters has statementDigest = H(ion_string(statement)).
	s := bs.Block.TransactionInfo.Statements[0]
	if got := qldbhash.HashString(s.Statement); !bytes.Equal(got, s.StatementDigest) {
		t.Errorf("statementDigest %s, recomputed %s", hex.EncodeToString(s.StatementDigest), hex.EncodeToString(got))
	}
	// The same checks pass after an encode/decode cycle.
	for _, r := range []*Record{bs, rd} {
		enc, err := r.Encode()
		if err != nil {
			t.Fatal(err)
		}
		back, err := Decode(enc)
		if err != nil {
			t.Fatal(err)
		}
		if back.Block != nil {
			checkBlockHashes(t, "re-decoded block", back.Block)
		} else {
			checkRevisionHash(t, "re-decoded revision", back.Revision.Revision)
		}
	}
}
