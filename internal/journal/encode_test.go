package journal

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/strand-db/strand/internal/ionvalue"
)

// randomIon returns a random Ion value of at most depth levels: scalars of
// every kind the stored documents use, symbols (also as the top value, whose
// text ion-go interns before its field name), annotations, field names that
// repeat and that are system symbols, lists, s-expressions and structs.
func randomIon(rng *rand.Rand, depth int) *ionvalue.Value {
	names := []string{"k", "v", "name", "symbols", "id", "hash", "metadata", "x y", "é", ""}
	name := func() string { return names[rng.IntN(len(names))] }
	var v *ionvalue.Value
	kind := rng.IntN(12)
	if depth <= 0 && kind >= 9 {
		kind = rng.IntN(9)
	}
	switch kind {
	case 0:
		v = ionvalue.Int(rng.Int64() >> rng.IntN(64))
	case 1:
		v = ionvalue.String(name())
	case 2:
		v = ionvalue.Symbol(name())
	case 3:
		v = ionvalue.Float(rng.NormFloat64())
	case 4:
		v = ionvalue.Bool(rng.IntN(2) == 0)
	case 5:
		v = ionvalue.Blob(bytes.Repeat([]byte{byte(rng.IntN(256))}, rng.IntN(20)))
	case 6:
		v = ionvalue.TimeMillis(time.UnixMilli(rng.Int64N(4e12)))
	case 7:
		v = ionvalue.Null()
	case 8:
		v = ionvalue.String(string(bytes.Repeat([]byte("ab"), rng.IntN(200))))
	case 9, 10:
		var fs []ionvalue.Field
		for i := rng.IntN(5); i > 0; i-- {
			fs = append(fs, ionvalue.Field{Name: name(), Value: randomIon(rng, depth-1)})
		}
		v = ionvalue.Struct(fs...)
	default:
		var es []*ionvalue.Value
		for i := rng.IntN(4); i > 0; i-- {
			es = append(es, randomIon(rng, depth-1))
		}
		v = ionvalue.List(es...)
	}
	if rng.IntN(8) == 0 {
		v.Annotations = []string{name(), "ann"}
	}
	return v
}

// randomBlock returns a block of random shape: no or several statements,
// documents and revisions (system, live, deleted, redacted), large sequence
// numbers, odd timestamps and hashes of every length, with or without
// redactionInfo.
func randomBlock(rng *rand.Rand) *Block {
	texts := []string{"", "a", "INSERT INTO T VALUE ?", "héllo", "$12"[1:], "symbols", string(make([]byte, 300))}
	text := func() string { return texts[rng.IntN(len(texts))] }
	when := func() time.Time {
		return time.Unix(rng.Int64N(4e9), rng.Int64N(1e9)).In(time.FixedZone("z", rng.IntN(40000)-20000))
	}
	hash := func() []byte {
		switch rng.IntN(6) {
		case 0:
			return nil
		case 1:
			return []byte{}
		}
		b := make([]byte, 32)
		for i := range b {
			b[i] = byte(rng.IntN(256))
		}
		return b
	}
	b := &Block{
		Address:           BlockAddress{StrandID: text(), SequenceNo: rng.Uint64() >> rng.IntN(65)},
		TransactionID:     text(),
		Timestamp:         when(),
		BlockHash:         hash(),
		EntriesHash:       hash(),
		PreviousBlockHash: hash(),
	}
	for i := rng.IntN(4); i > 0; i-- {
		b.EntriesHashList = append(b.EntriesHashList, hash())
	}
	for i := rng.IntN(4); i > 0; i-- {
		b.TransactionInfo.Statements = append(b.TransactionInfo.Statements, StatementInfo{Statement: text(), StartTime: when(), StatementDigest: hash()})
	}
	for i := rng.IntN(4); i > 0; i-- {
		d := DocumentInfo{DocumentID: fmt.Sprintf("doc%d", rng.IntN(5)), TableName: text(), TableID: text()}
		for j := rng.IntN(4); j > 0; j-- {
			d.Statements = append(d.Statements, rng.IntN(10))
		}
		b.TransactionInfo.Documents = append(b.TransactionInfo.Documents, d)
	}
	for i := rng.IntN(4); i > 0; i-- {
		r := Revision{Hash: hash()}
		if rng.IntN(4) != 0 {
			r.Metadata = RevisionMetadata{ID: fmt.Sprintf("doc%d", rng.IntN(5)), Version: rng.Uint64() >> rng.IntN(65), TxTime: when(), TxID: text()}
			switch rng.IntN(4) {
			case 0: // deleted
			case 1:
				r.DataHash = hash()
				if r.DataHash == nil {
					r.DataHash = []byte{}
				}
			default:
				r.Data = randomIon(rng, 4)
			}
		}
		b.Revisions = append(b.Revisions, r)
	}
	if rng.IntN(5) == 0 {
		b.RedactionInfo = randomIon(rng, 3)
	}
	return b
}

// checkEncoders fails unless EncodeBlock(b) and EncodeRevision (and
// AppendRevision) of each of b's revisions give exactly MarshalBinary's
// bytes of Block.Ion and Revision.Ion, or both fail.
func checkEncoders(t *testing.T, b *Block) {
	t.Helper()
	got, gerr := EncodeBlock(b)
	want, werr := ionvalue.MarshalBinary(b.Ion())
	if (gerr != nil) != (werr != nil) || !bytes.Equal(got, want) {
		t.Fatalf("block %s:\nEncodeBlock   %x (err %v)\nMarshalBinary %x (err %v)", ionvalue.MarshalText(b.Ion()), got, gerr, want, werr)
	}
	for _, r := range b.Revisions {
		got, gerr := EncodeRevision(r, b.Address)
		want, werr := ionvalue.MarshalBinary(r.Ion(b.Address))
		if (gerr != nil) != (werr != nil) || !bytes.Equal(got, want) {
			t.Fatalf("revision %s:\nEncodeRevision %x (err %v)\nMarshalBinary  %x (err %v)", ionvalue.MarshalText(r.Ion(b.Address)), got, gerr, want, werr)
		}
		prefix := []byte("prefix")
		app, aerr := AppendRevision(prefix, r, b.Address)
		if (aerr != nil) != (werr != nil) || (aerr == nil && !bytes.Equal(app, append(prefix, want...))) {
			t.Fatalf("revision %s:\nAppendRevision %x (err %v)\nMarshalBinary  %x (err %v)", ionvalue.MarshalText(r.Ion(b.Address)), app, aerr, want, werr)
		}
	}
}

// TestDirectEncodersMatchIon checks that the direct block and revision
// encoders write byte for byte what MarshalBinary writes for Block.Ion and
// Revision.Ion: over 1,000 random blocks, the two real QLDB blocks in
// testdata, sealed blocks, and inputs both must refuse (a document id of
// the form $<digits>, data nested too deep at its place in the block).
func TestDirectEncodersMatchIon(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 1))
	for n := 0; n < 1000; n++ {
		checkEncoders(t, randomBlock(rng))
	}

	vr, err := BlockFromIon(unannotated(loadIon(t, "vehicle-registration-block100.ion")[0]))
	if err != nil {
		t.Fatal(err)
	}
	checkEncoders(t, vr)
	vs := loadIon(t, "person-block3-stream.ion")
	pb, err := BlockFromIon(vs[0].Get("payload"))
	if err != nil {
		t.Fatal(err)
	}
	r, _, err := RevisionFromIon(vs[1].Get("payload").Get("revision"))
	if err != nil {
		t.Fatal(err)
	}
	pb.Revisions = []Revision{r}
	checkEncoders(t, pb)

	// A sealed block, as the committer writes it.
	sb := &Block{Address: BlockAddress{StrandID: "JdxjkR9bSYB5jMHWcI464T", SequenceNo: 7}, TransactionID: "tx", Timestamp: time.Now(),
		TransactionInfo: TransactionInfo{Statements: []StatementInfo{{Statement: "INSERT INTO T VALUE ?", StartTime: time.Now(), StatementDigest: make([]byte, 32)}},
			Documents: []DocumentInfo{{DocumentID: "d1", TableName: "T", TableID: "t1", Statements: []int{0}}}},
		Revisions: []Revision{{Data: ionvalue.Struct(ionvalue.Field{Name: "k", Value: ionvalue.Int(1)}), Metadata: RevisionMetadata{ID: "d1", TxTime: time.Now(), TxID: "tx"}}}}
	sb.Seal(make([]byte, 32))
	checkEncoders(t, sb)

	// Refused alike.
	bad := randomBlock(rng)
	bad.TransactionInfo.Documents = []DocumentInfo{{DocumentID: "$7"}}
	if _, err := EncodeBlock(bad); !errors.Is(err, ionvalue.ErrSymbolIDText) {
		t.Errorf("document id $7: %v, want ErrSymbolIDText", err)
	}
	checkEncoders(t, bad)
	for extra := 0; extra < 4; extra++ { // data whose depth limit falls at its place in the block
		deep := ionvalue.Int(1)
		for i := 0; i < ionvalue.MaxStoredDepth-3+extra; i++ {
			deep = ionvalue.List(deep)
		}
		db := &Block{Address: BlockAddress{StrandID: "s"}, Revisions: []Revision{{Data: deep, Metadata: RevisionMetadata{ID: "d"}}}}
		checkEncoders(t, db)
		db.Revisions = nil
		db.RedactionInfo = deep
		checkEncoders(t, db)
	}
}

// singleDocumentBlock is the block of one INSERT of a small document: what
// the commit benchmark writes.
func singleDocumentBlock() *Block {
	now := time.Now()
	b := &Block{Address: BlockAddress{StrandID: "JdxjkR9bSYB5jMHWcI464T", SequenceNo: 12345}, TransactionID: "8Ytz2jHkx1f4mLqA0bC9dE", Timestamp: now,
		TransactionInfo: TransactionInfo{Statements: []StatementInfo{{Statement: "INSERT INTO T VALUE {'k': ?, 'v': 'abcdefghijklmnopqrstuvwxyz'}", StartTime: now, StatementDigest: make([]byte, 32)}},
			Documents: []DocumentInfo{{DocumentID: "5PLf9SXwndd63lPaSIa0O6", TableName: "T", TableID: "Fd6Yx7Xm0Wl1q2b3c4d5e6", Statements: []int{0}}}},
		Revisions: []Revision{{Data: ionvalue.Struct(ionvalue.Field{Name: "k", Value: ionvalue.Int(12345)}, ionvalue.Field{Name: "v", Value: ionvalue.String("abcdefghijklmnopqrstuvwxyz")}),
			Metadata: RevisionMetadata{ID: "5PLf9SXwndd63lPaSIa0O6", TxTime: now, TxID: "8Ytz2jHkx1f4mLqA0bC9dE"}, TableName: "T", TableID: "Fd6Yx7Xm0Wl1q2b3c4d5e6"}}}
	b.Seal(make([]byte, 32))
	return b
}

// BenchmarkEncodeBlockAndRevision encodes what a single-document commit
// stores: the block and its revision's committed view, directly and
// through the generic Value encoder (old path).
//
//	go test ./internal/journal -run '^$' -bench EncodeBlockAndRevision
func BenchmarkEncodeBlockAndRevision(b *testing.B) {
	blk := singleDocumentBlock()
	b.Run("direct", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := EncodeBlock(blk); err != nil {
				b.Fatal(err)
			}
			if _, err := EncodeRevision(blk.Revisions[0], blk.Address); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("value", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := ionvalue.MarshalBinary(blk.Ion()); err != nil {
				b.Fatal(err)
			}
			if _, err := ionvalue.MarshalBinary(blk.Revisions[0].Ion(blk.Address)); err != nil {
				b.Fatal(err)
			}
		}
	})
}
