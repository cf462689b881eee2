package journal

import (
	"fmt"
	"testing"
	"time"

	"github.com/strand-db/strand/internal/ionvalue"
)

// TestDecodeBlockTables: DecodeBlock gives every document revision the table
// of its transactionInfo document, for a block of a few documents (a scan)
// and of many (a map), and the block still verifies.
func TestDecodeBlockTables(t *testing.T) {
	for _, n := range []int{3, 16, 17, 200} {
		b := testBlock()
		b.TransactionInfo.Documents = nil
		b.Revisions = nil
		for i := 0; i < n; i++ {
			id := fmt.Sprintf("Doc%019d", i)
			table, tableID := fmt.Sprintf("T%d", i%3), fmt.Sprintf("Tab%019d", i%3)
			b.TransactionInfo.Documents = append(b.TransactionInfo.Documents, DocumentInfo{DocumentID: id, TableName: table, TableID: tableID, Statements: []int{1}})
			b.Revisions = append(b.Revisions, Revision{Data: ionvalue.Int(int64(i)), TableName: table, TableID: tableID,
				Metadata: RevisionMetadata{ID: id, TxTime: t0.Add(40 * time.Millisecond), TxID: b.TransactionID}})
		}
		b.Seal(prev)
		raw, err := EncodeBlock(b)
		if err != nil {
			t.Fatal(err)
		}
		got, err := DecodeBlock(raw)
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range got.Revisions {
			if r.TableName != b.Revisions[i].TableName || r.TableID != b.Revisions[i].TableID {
				t.Fatalf("%d documents: revision %d has table %q/%q, want %q/%q", n, i, r.TableName, r.TableID, b.Revisions[i].TableName, b.Revisions[i].TableID)
			}
		}
		if err := VerifyBlock(got, prev); err != nil {
			t.Fatalf("%d documents: %v", n, err)
		}
	}
}
