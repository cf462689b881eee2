package journal

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/strand-db/strand/internal/ionvalue"
	"github.com/strand-db/strand/internal/qldbhash"
)

// TestArenaHashesMatchIon checks that the arena-built hashes of revision
// metadata and transactionInfo are byte-identical to hashing the values of
// RevisionMetadata.Ion and TransactionInfo.Ion, over varied shapes: no
// statements, several, no documents, documents with no, one or many
// statement indexes (more than the arena's inline room), odd text and
// timestamps with sub-millisecond parts and other zones.
func TestArenaHashesMatchIon(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 15))
	texts := []string{"", "a", "SELECT * FROM t WHERE x = ?", "\x0b\x0c\x0e", "héllo", "$12"[1:], string(make([]byte, 200))}
	text := func() string { return texts[rng.IntN(len(texts))] }
	when := func() time.Time {
		return time.Unix(rng.Int64N(4e9), rng.Int64N(1e9)).In(time.FixedZone("z", rng.IntN(40000)-20000))
	}
	digest := func() []byte {
		b := make([]byte, 32)
		for i := range b {
			b[i] = byte(rng.IntN(256))
		}
		return b
	}
	for n := 0; n < 300; n++ {
		m := RevisionMetadata{ID: text(), Version: rng.Uint64() >> rng.IntN(64), TxTime: when(), TxID: text()}
		got, err := metadataHash(m)
		if err != nil {
			t.Fatal(err)
		}
		if want := qldbhash.Hash(m.Ion()); !bytes.Equal(got[:], want) {
			t.Fatalf("metadata %+v: arena hash %x, Ion hash %x", m, got, want)
		}

		var ti TransactionInfo
		for i := rng.IntN(4); i > 0; i-- {
			ti.Statements = append(ti.Statements, StatementInfo{Statement: text(), StartTime: when(), StatementDigest: digest()})
		}
		for i := rng.IntN(12); i > 0; i-- {
			d := DocumentInfo{DocumentID: fmt.Sprintf("doc%d", rng.IntN(5)), TableName: text(), TableID: text()}
			for j := rng.IntN(4); j > 0; j-- {
				d.Statements = append(d.Statements, rng.IntN(10))
			}
			ti.Documents = append(ti.Documents, d)
		}
		tih, err := transactionInfoHash(ti)
		if err != nil {
			t.Fatal(err)
		}
		if want := qldbhash.Hash(ti.Ion()); !bytes.Equal(tih, want) {
			t.Fatalf("transactionInfo %+v: arena hash %x, Ion hash %x", ti, tih, want)
		}
	}
	// The errors are those of hashing the Ion value.
	ti := TransactionInfo{Documents: []DocumentInfo{{DocumentID: "$7"}}}
	if _, err := transactionInfoHash(ti); !errors.Is(err, ionvalue.ErrSymbolIDText) {
		t.Fatalf("document id $7: %v, want ErrSymbolIDText", err)
	}
}

// BenchmarkRevisionAndTransactionInfoHash measures hashing one revision's
// metadata and a one-statement, one-document transactionInfo (what every
// single-document block needs).
func BenchmarkRevisionAndTransactionInfoHash(b *testing.B) {
	now := time.Now()
	m := RevisionMetadata{ID: "8Gf5pL0kq2F1wZtA3bXcYd", Version: 3, TxTime: now, TxID: "Hx1pQ9aZk3LmN0bVcXzYt7"}
	ti := TransactionInfo{
		Statements: []StatementInfo{{Statement: "INSERT INTO t ?", StartTime: now, StatementDigest: make([]byte, 32)}},
		Documents:  []DocumentInfo{{DocumentID: m.ID, TableName: "t", TableID: "Ab12", Statements: []int{0}}},
	}
	b.Run("ion-values", func(b *testing.B) { // the way before the arena
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if _, err := qldbhash.HashValue(m.Ion()); err != nil {
				b.Fatal(err)
			}
			if _, err := qldbhash.HashValue(ti.Ion()); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("arena", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if _, err := metadataHash(m); err != nil {
				b.Fatal(err)
			}
			if _, err := transactionInfoHash(ti); err != nil {
				b.Fatal(err)
			}
		}
	})
}
