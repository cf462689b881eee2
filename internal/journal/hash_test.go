package journal

import (
	"bytes"
	"encoding/base64"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/amzn/ion-go/ion"

	"github.com/strand-db/strand/internal/ionvalue"
	"github.com/strand-db/strand/internal/qldbhash"
)

func b64(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// loadIon decodes a testdata file into its top-level values.
func loadIon(t *testing.T, name string) []*ionvalue.Value {
	t.Helper()
	src, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	vs, err := ionvalue.Decode(src)
	if err != nil {
		t.Fatal(err)
	}
	return vs
}

// unannotated returns a shallow copy of v without annotations.
func unannotated(v *ionvalue.Value) *ionvalue.Value {
	c := *v
	c.Annotations = nil
	return &c
}

func blobs(v *ionvalue.Value) [][]byte {
	var out [][]byte
	for _, e := range v.Elems {
		out = append(out, e.Bytes)
	}
	return out
}

func indexOf(list [][]byte, h []byte) int {
	for i, x := range list {
		if bytes.Equal(x, h) {
			return i
		}
	}
	return -1
}

// TestVehicleRegistrationBlock100 reproduces every hash of the real GetBlock,
// GetRevision and GetDigest output in testdata/vehicle-registration-block100.ion.
func TestVehicleRegistrationBlock100(t *testing.T) {
	vs := loadIon(t, "vehicle-registration-block100.ion")
	if len(vs) != 4 {
		t.Fatalf("%d values in the vector file", len(vs))
	}
	blockIon, blockProof, revisionProof := unannotated(vs[0]), blobs(vs[1]), blobs(vs[2])
	digest := vs[3].Get("digest").Bytes

	b, err := BlockFromIon(blockIon)
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Revisions) != 1 {
		t.Fatalf("%d revisions", len(b.Revisions))
	}
	r := b.Revisions[0]

	t.Run("GetBlock shape", func(t *testing.T) {
		if got, want := ionvalue.MarshalText(b.Ion()), ionvalue.MarshalText(blockIon); got != want {
			t.Errorf("Block.Ion():\n got %s\nwant %s", got, want)
		}
		if r.TableName != "VehicleRegistration" || r.TableID != "BFJKdXgzt9oF4wjMbuxy4G" {
			t.Errorf("revision table %q/%q", r.TableName, r.TableID)
		}
	})
	t.Run("revision hash", func(t *testing.T) {
		if got := qldbhash.Hash(r.Metadata.Ion()); !bytes.Equal(got, b64(t, "vNbkf63AqIvow6E3VraH1FfPrZxyU0OkJucmJGWte1s=")) {
			t.Errorf("H(metadata) = %x", got)
		}
		if got := qldbhash.Hash(r.Data); !bytes.Equal(got, b64(t, "ykAB8EB0tXxIGmJ9Y9mwppjP1Z9S3Iw+vKN1L9ZXW3A=")) {
			t.Errorf("H(data) = %x", got)
		}
		if got := RevisionHash(r.Data, r.Metadata); !bytes.Equal(got, r.Hash) {
			t.Errorf("RevisionHash = %x, block says %x", got, r.Hash)
		}
	})
	t.Run("statementDigest", func(t *testing.T) {
		s := b.TransactionInfo.Statements[0]
		if got := qldbhash.StatementHash(s.Statement, nil); !bytes.Equal(got, s.StatementDigest) {
			t.Errorf("StatementHash = %x, block says %x", got, s.StatementDigest)
		}
	})
	t.Run("entries and block hash", func(t *testing.T) {
		ti := TransactionInfoHash(b.TransactionInfo)
		if i := indexOf(b.EntriesHashList, ti); i != 3 {
			t.Errorf("H(transactionInfo) %x at entriesHashList index %d, want 3", ti, i)
		}
		root := qldbhash.MerkleRoot([][]byte{r.Hash})
		if i := indexOf(b.EntriesHashList, root); i != 1 {
			t.Errorf("revisions root at entriesHashList index %d, want 1", i)
		}
		if got := qldbhash.MerkleRoot(b.EntriesHashList); !bytes.Equal(got, b.EntriesHash) {
			t.Errorf("MerkleRoot(entriesHashList) = %x, entriesHash %x", got, b.EntriesHash)
		}
		if got := qldbhash.Dot(b.EntriesHash, b.PreviousBlockHash); !bytes.Equal(got, b.BlockHash) {
			t.Errorf("dot(entriesHash, previous) = %x, blockHash %x", got, b.BlockHash)
		}
		if err := VerifyBlock(b, b.PreviousBlockHash); err != nil {
			t.Errorf("VerifyBlock: %v", err)
		}
	})
	t.Run("proofs fold to the digest", func(t *testing.T) {
		if got := qldbhash.Fold(b.BlockHash, blockProof); !bytes.Equal(got, digest) {
			t.Errorf("GetBlock proof folds to %x, digest %x", got, digest)
		}
		if got := qldbhash.Fold(r.Hash, revisionProof); !bytes.Equal(got, digest) {
			t.Errorf("GetRevision proof folds to %x, digest %x", got, digest)
		}
		// The revision proof is: revision-tree path, entries-tree path,
		// previousBlockHash, then the block proof (§3.5).
		var want [][]byte
		want = append(want, qldbhash.AuditPath(b.revisionHashes(), 0)...)
		want = append(want, qldbhash.AuditPath(b.EntriesHashList, indexOf(b.EntriesHashList, r.Hash))...)
		want = append(want, b.PreviousBlockHash)
		want = append(want, blockProof...)
		if len(want) != len(revisionProof) {
			t.Fatalf("built a %d-element revision proof, QLDB's has %d", len(want), len(revisionProof))
		}
		for i := range want {
			if !bytes.Equal(want[i], revisionProof[i]) {
				t.Errorf("revision proof element %d: built %x, QLDB %x", i, want[i], revisionProof[i])
			}
		}
	})
	t.Run("GetRevision shape", func(t *testing.T) {
		src := blockIon.Get("revisions").Elems[0]
		if got, want := ionvalue.MarshalText(r.Ion(b.Address)), ionvalue.MarshalText(src); got != want {
			t.Errorf("Revision.Ion:\n got %s\nwant %s", got, want)
		}
	})
}

// TestPersonBlock3Stream reproduces the hashes of a real streamed
// BLOCK_SUMMARY + REVISION_DETAILS pair (testdata/person-block3-stream.ion).
func TestPersonBlock3Stream(t *testing.T) {
	vs := loadIon(t, "person-block3-stream.ion")
	if len(vs) != 2 {
		t.Fatalf("%d values in the vector file", len(vs))
	}
	summary, details := vs[0].Get("payload"), vs[1].Get("payload")
	b, err := BlockFromIon(summary)
	if err != nil {
		t.Fatal(err)
	}
	r, addr, err := RevisionFromIon(details.Get("revision"))
	if err != nil {
		t.Fatal(err)
	}
	if addr != b.Address {
		t.Errorf("revision address %+v, block %+v", addr, b.Address)
	}
	r.TableName, r.TableID = details.Get("tableInfo").Get("tableName").Text, details.Get("tableInfo").Get("tableId").Text
	b.Revisions = []Revision{r}

	if got, want := ionvalue.MarshalText(b.TransactionInfo.Ion()), ionvalue.MarshalText(summary.Get("transactionInfo")); got != want {
		t.Errorf("TransactionInfo.Ion():\n got %s\nwant %s", got, want)
	}
	if got := RevisionHash(r.Data, r.Metadata); !bytes.Equal(got, r.Hash) {
		t.Errorf("RevisionHash = %x, record says %x", got, r.Hash)
	}
	if sum := summary.Get("revisionSummaries").Elems[0]; !bytes.Equal(sum.Get("hash").Bytes, r.Hash) || sum.Get("documentId").Text != r.Metadata.ID {
		t.Errorf("revisionSummaries %s does not match the revision", sum)
	}
	if s := b.TransactionInfo.Statements[0]; !bytes.Equal(qldbhash.StatementHash(s.Statement, nil), s.StatementDigest) {
		t.Errorf("statementDigest mismatch")
	}
	if i := indexOf(b.EntriesHashList, TransactionInfoHash(b.TransactionInfo)); i != 3 {
		t.Errorf("H(transactionInfo) at index %d, want 3", i)
	}
	if i := indexOf(b.EntriesHashList, r.Hash); i != 1 {
		t.Errorf("revision hash at index %d, want 1", i)
	}
	if got := qldbhash.MerkleRoot(b.EntriesHashList); !bytes.Equal(got, b.EntriesHash) {
		t.Errorf("entriesHash mismatch")
	}
	if got := qldbhash.Dot(b.EntriesHash, b.PreviousBlockHash); !bytes.Equal(got, b.BlockHash) {
		t.Errorf("blockHash mismatch")
	}
	if err := VerifyBlock(b, b64(t, "pV28aszpqJH9LOO9oMsACDmXfdzdEW7HYxzuQVIjSDU=")); err != nil {
		t.Errorf("VerifyBlock: %v", err)
	}
}

var (
	t0   = time.Date(2024, 3, 1, 12, 0, 0, 123456789, time.UTC)
	prev = qldbhash.HashString("previous block")
)

// testBlock builds an unsealed block with an insert, an update, a delete and
// a system revision, over three statements (one parameterised and one SELECT).
func testBlock() *Block {
	const tx = "AAAAAAAAAAAAAAAAAAAAAA"
	md := func(id string, v uint64) RevisionMetadata {
		return RevisionMetadata{ID: id, Version: v, TxTime: t0.Add(40 * time.Millisecond), TxID: tx}
	}
	doc := func(n int64) *ionvalue.Value {
		return ionvalue.Struct(
			ionvalue.Field{Name: "VIN", Value: ionvalue.String("1N4AL11D75C109151")},
			ionvalue.Field{Name: "Amount", Value: ionvalue.DecimalValue(ion.MustParseDecimal("90.25"))},
			ionvalue.Field{Name: "N", Value: ionvalue.Int(n)},
		)
	}
	upd := "UPDATE Car SET N = ? WHERE VIN = ?"
	return &Block{
		Address:       BlockAddress{StrandID: "SSSSSSSSSSSSSSSSSSSSSS", SequenceNo: 42},
		TransactionID: tx,
		Timestamp:     t0.Add(50 * time.Millisecond),
		TransactionInfo: TransactionInfo{
			Statements: []StatementInfo{
				{Statement: "SELECT * FROM Car", StartTime: t0, StatementDigest: qldbhash.StatementHash("SELECT * FROM Car", nil)},
				{Statement: "INSERT INTO Car ?", StartTime: t0.Add(time.Millisecond), StatementDigest: qldbhash.StatementHash("INSERT INTO Car ?", []*ionvalue.Value{doc(1)})},
				{Statement: upd, StartTime: t0.Add(2 * time.Millisecond), StatementDigest: qldbhash.StatementHash(upd, []*ionvalue.Value{ionvalue.Int(7), ionvalue.String("1N4AL11D75C109151")})},
			},
			Documents: []DocumentInfo{
				{DocumentID: "DocAAAAAAAAAAAAAAAAAAA", TableName: "Car", TableID: "TabAAAAAAAAAAAAAAAAAAA", Statements: []int{1}},
				{DocumentID: "DocBBBBBBBBBBBBBBBBBBB", TableName: "Car", TableID: "TabAAAAAAAAAAAAAAAAAAA", Statements: []int{2, 2}},
				{DocumentID: "DocCCCCCCCCCCCCCCCCCCC", TableName: "Car", TableID: "TabAAAAAAAAAAAAAAAAAAA", Statements: []int{2}},
			},
		},
		Revisions: []Revision{
			{Data: doc(1), Metadata: md("DocAAAAAAAAAAAAAAAAAAA", 0), TableName: "Car", TableID: "TabAAAAAAAAAAAAAAAAAAA"},
			{Hash: qldbhash.HashString("system entry")},
			{Data: doc(7), Metadata: md("DocBBBBBBBBBBBBBBBBBBB", 3), TableName: "Car", TableID: "TabAAAAAAAAAAAAAAAAAAA"},
			{Data: nil, Metadata: md("DocCCCCCCCCCCCCCCCCCCC", 5), TableName: "Car", TableID: "TabAAAAAAAAAAAAAAAAAAA"},
		},
	}
}

// cloneBlock deep-copies the slices of b (Values are immutable and shared).
func cloneBlock(b *Block) *Block {
	c := *b
	c.BlockHash = bytes.Clone(b.BlockHash)
	c.EntriesHash = bytes.Clone(b.EntriesHash)
	c.PreviousBlockHash = bytes.Clone(b.PreviousBlockHash)
	c.EntriesHashList = nil
	for _, h := range b.EntriesHashList {
		c.EntriesHashList = append(c.EntriesHashList, bytes.Clone(h))
	}
	c.TransactionInfo.Statements = append([]StatementInfo(nil), b.TransactionInfo.Statements...)
	for i := range c.TransactionInfo.Statements {
		c.TransactionInfo.Statements[i].StatementDigest = bytes.Clone(b.TransactionInfo.Statements[i].StatementDigest)
	}
	c.TransactionInfo.Documents = append([]DocumentInfo(nil), b.TransactionInfo.Documents...)
	for i := range c.TransactionInfo.Documents {
		c.TransactionInfo.Documents[i].Statements = append([]int(nil), b.TransactionInfo.Documents[i].Statements...)
	}
	c.Revisions = append([]Revision(nil), b.Revisions...)
	for i := range c.Revisions {
		c.Revisions[i].Hash = bytes.Clone(b.Revisions[i].Hash)
	}
	return &c
}

func TestSealThenVerify(t *testing.T) {
	b := testBlock()
	b.Seal(prev)
	if err := VerifyBlock(b, prev); err != nil {
		t.Fatalf("VerifyBlock after Seal: %v", err)
	}
	if len(b.EntriesHashList) != 2 {
		t.Fatalf("entriesHashList has %d entries", len(b.EntriesHashList))
	}
	if !bytes.Equal(b.EntriesHashList[0], qldbhash.MerkleRoot(b.revisionHashes())) ||
		!bytes.Equal(b.EntriesHashList[1], TransactionInfoHash(b.TransactionInfo)) {
		t.Error("entriesHashList is not [revisions root, H(transactionInfo)]")
	}
	if del := b.Revisions[3]; !bytes.Equal(del.Hash, qldbhash.Hash(del.Metadata.Ion())) {
		t.Error("a deleted document's revision hash is not H(metadata)")
	}
	if sys := b.Revisions[1]; !bytes.Equal(sys.Hash, qldbhash.HashString("system entry")) {
		t.Error("Seal changed a system revision's hash")
	}

	// Through GetBlock Ion text and back, the block still verifies.
	text := ionvalue.MarshalText(b.Ion())
	back, err := ionvalue.DecodeOne([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := BlockFromIon(back)
	if err != nil {
		t.Fatal(err)
	}
	if err := VerifyBlock(parsed, prev); err != nil {
		t.Errorf("VerifyBlock after an Ion text round trip: %v\n%s", err, text)
	}
	if ionvalue.MarshalText(parsed.Ion()) != text {
		t.Errorf("Ion text is not stable through BlockFromIon")
	}
	for _, want := range []string{`txTime:2024-03-01T12:00:00.163Z`, `startTime:2024-03-01T12:00:00.123Z`, `blockTimestamp:2024-03-01T12:00:00.173Z`,
		`{hash:{{`, `metadata:{id:"DocCCCCCCCCCCCCCCCCCCC",version:5`} {
		if !strings.Contains(text, want) {
			t.Errorf("block text lacks %s:\n%s", want, text)
		}
	}
	if strings.Contains(text, `data:null`) {
		t.Errorf("deleted revision has a data field:\n%s", text)
	}
}

func TestVerifyBlockDetectsEveryByte(t *testing.T) {
	sealed := testBlock()
	sealed.Seal(prev)

	// Every byte of every stored hash matters.
	type hashRef struct {
		name string
		get  func(*Block) []byte
	}
	refs := []hashRef{
		{"blockHash", func(b *Block) []byte { return b.BlockHash }},
		{"entriesHash", func(b *Block) []byte { return b.EntriesHash }},
		{"previousBlockHash", func(b *Block) []byte { return b.PreviousBlockHash }},
	}
	for i := range sealed.EntriesHashList {
		refs = append(refs, hashRef{"entriesHashList", func(b *Block) []byte { return b.EntriesHashList[i] }})
	}
	for i := range sealed.Revisions {
		refs = append(refs, hashRef{"revision hash", func(b *Block) []byte { return b.Revisions[i].Hash }})
	}
	for i := range sealed.TransactionInfo.Statements {
		refs = append(refs, hashRef{"statementDigest", func(b *Block) []byte { return b.TransactionInfo.Statements[i].StatementDigest }})
	}
	for _, ref := range refs {
		for i := 0; i < qldbhash.Size; i++ {
			for _, bit := range []byte{0x01, 0x80} {
				b := cloneBlock(sealed)
				ref.get(b)[i] ^= bit
				if err := VerifyBlock(b, sealed.PreviousBlockHash); !errors.Is(err, ErrVerify) {
					t.Fatalf("%s byte %d bit %#x flipped: VerifyBlock = %v", ref.name, i, bit, err)
				}
			}
		}
	}

	// Every recorded fact matters too, and the error names the failed check.
	mutations := []struct {
		name, wantMsg string
		mutate        func(b *Block)
	}{
		{"document data", "revision 0", func(b *Block) {
			b.Revisions[0].Data = b.Revisions[0].Data.With("N", ionvalue.Int(2))
		}},
		{"metadata version", "revision 2", func(b *Block) { b.Revisions[2].Metadata.Version++ }},
		{"metadata txTime", "revision 2", func(b *Block) { b.Revisions[2].Metadata.TxTime = b.Revisions[2].Metadata.TxTime.Add(time.Millisecond) }},
		{"metadata txId", "revision 0", func(b *Block) { b.Revisions[0].Metadata.TxID = "BBBBBBBBBBBBBBBBBBBBBB" }},
		{"metadata id of a deleted doc", "revision 3", func(b *Block) { b.Revisions[3].Metadata.ID = "DocDDDDDDDDDDDDDDDDDDD" }},
		{"deleted doc gets data", "revision 3", func(b *Block) { b.Revisions[3].Data = ionvalue.Struct() }},
		{"statement text", "transactionInfo hash", func(b *Block) { b.TransactionInfo.Statements[0].Statement += " " }},
		{"statement start time", "transactionInfo hash", func(b *Block) {
			b.TransactionInfo.Statements[1].StartTime = b.TransactionInfo.Statements[1].StartTime.Add(time.Millisecond)
		}},
		{"document table name", "transactionInfo hash", func(b *Block) { b.TransactionInfo.Documents[0].TableName = "Cars" }},
		{"document statements", "transactionInfo hash", func(b *Block) { b.TransactionInfo.Documents[1].Statements = []int{2} }},
		{"document statement out of range", "out of range", func(b *Block) { b.TransactionInfo.Documents[1].Statements = []int{3} }},
		{"documents dropped", "transactionInfo hash", func(b *Block) { b.TransactionInfo.Documents = nil }},
		{"revisions reordered", "revisions Merkle root", func(b *Block) {
			b.Revisions[0], b.Revisions[2] = b.Revisions[2], b.Revisions[0]
		}},
		{"revision dropped", "revisions Merkle root", func(b *Block) { b.Revisions = b.Revisions[:3] }},
		{"entry dropped", "entriesHash", func(b *Block) { b.EntriesHashList = b.EntriesHashList[1:] }},
		{"short hash", "not 32 bytes", func(b *Block) { b.BlockHash = b.BlockHash[:31] }},
		{"genesis claims no previous", "does not chain", func(b *Block) { b.PreviousBlockHash = nil }},
	}
	for _, m := range mutations {
		b := cloneBlock(sealed)
		m.mutate(b)
		err := VerifyBlock(b, sealed.PreviousBlockHash)
		if !errors.Is(err, ErrVerify) {
			t.Errorf("%s: VerifyBlock = %v", m.name, err)
			continue
		}
		if !strings.Contains(err.Error(), m.wantMsg) {
			t.Errorf("%s: error %q does not mention %q", m.name, err, m.wantMsg)
		}
	}

	// Chained to the wrong previous block.
	if err := VerifyBlock(sealed, qldbhash.HashString("other")); !errors.Is(err, ErrVerify) || !strings.Contains(err.Error(), "does not chain") {
		t.Errorf("wrong previous hash: %v", err)
	}
	if err := VerifyBlock(nil, nil); !errors.Is(err, ErrVerify) {
		t.Errorf("nil block: %v", err)
	}
}

func TestGenesisAndEmptyBlocks(t *testing.T) {
	b := testBlock()
	b.Revisions = nil
	b.TransactionInfo.Documents = nil
	b.Seal(nil)
	if err := VerifyBlock(b, nil); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b.BlockHash, b.EntriesHash) {
		t.Error("genesis blockHash != entriesHash")
	}
	if len(b.EntriesHashList) != 1 || !bytes.Equal(b.EntriesHash, TransactionInfoHash(b.TransactionInfo)) {
		t.Error("a block without revisions should have entriesHashList [H(transactionInfo)]")
	}
	text := ionvalue.MarshalText(b.Ion())
	for _, want := range []string{"previousBlockHash:{{}}", "transactionInfo:{statements:["} {
		if !strings.Contains(text, want) {
			t.Errorf("genesis block text lacks %s: %s", want, text)
		}
	}
	for _, unwanted := range []string{"revisions:", "documents:"} {
		if strings.Contains(text, unwanted) {
			t.Errorf("genesis block text has %s: %s", unwanted, text)
		}
	}
}

func TestRevisionIon(t *testing.T) {
	addr := BlockAddress{StrandID: "S", SequenceNo: 9}
	md := RevisionMetadata{ID: "D", Version: 2, TxTime: time.Date(2020, 1, 2, 3, 4, 5, 6_000_000, time.FixedZone("x", 3600)), TxID: "T"}
	cases := []struct {
		name string
		r    Revision
		want string
	}{
		{"document", Revision{Hash: []byte{1}, Data: ionvalue.Struct(ionvalue.Field{Name: "a", Value: ionvalue.Int(1)}), Metadata: md},
			`{blockAddress:{strandId:"S",sequenceNo:9},hash:{{AQ==}},data:{a:1},metadata:{id:"D",version:2,txTime:2020-01-02T02:04:05.006Z,txId:"T"}}`},
		{"deleted", Revision{Hash: []byte{1}, Metadata: md},
			`{blockAddress:{strandId:"S",sequenceNo:9},hash:{{AQ==}},metadata:{id:"D",version:2,txTime:2020-01-02T02:04:05.006Z,txId:"T"}}`},
		{"system", Revision{Hash: []byte{1}}, `{hash:{{AQ==}}}`},
	}
	for _, tc := range cases {
		v := tc.r.Ion(addr)
		if got := ionvalue.MarshalText(v); got != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.name, got, tc.want)
		}
		r, gotAddr, err := RevisionFromIon(v)
		if err != nil {
			t.Fatalf("%s: RevisionFromIon: %v", tc.name, err)
		}
		if !tc.r.IsSystem() && gotAddr != addr {
			t.Errorf("%s: address %+v", tc.name, gotAddr)
		}
		if ionvalue.MarshalText(r.Ion(addr)) != tc.want {
			t.Errorf("%s: RevisionFromIon did not round trip", tc.name)
		}
	}
}

func TestBlockFromIonErrors(t *testing.T) {
	good := testBlock()
	good.Seal(prev)
	cases := []struct {
		name   string
		mutate func(v *ionvalue.Value) *ionvalue.Value
	}{
		{"not a struct", func(*ionvalue.Value) *ionvalue.Value { return ionvalue.List() }},
		{"no blockAddress", func(v *ionvalue.Value) *ionvalue.Value { return v.Without("blockAddress") }},
		{"sequenceNo negative", func(v *ionvalue.Value) *ionvalue.Value {
			return v.With("blockAddress", v.Get("blockAddress").With("sequenceNo", ionvalue.Int(-1)))
		}},
		{"blockHash not a blob", func(v *ionvalue.Value) *ionvalue.Value { return v.With("blockHash", ionvalue.String("x")) }},
		{"blockTimestamp null", func(v *ionvalue.Value) *ionvalue.Value {
			return v.With("blockTimestamp", ionvalue.TypedNull(ion.TimestampType))
		}},
		{"entriesHashList element", func(v *ionvalue.Value) *ionvalue.Value {
			return v.With("entriesHashList", ionvalue.List(ionvalue.Int(1)))
		}},
		{"no transactionInfo", func(v *ionvalue.Value) *ionvalue.Value { return v.Without("transactionInfo") }},
		{"revision metadata missing", func(v *ionvalue.Value) *ionvalue.Value {
			r := v.Get("revisions").Elems[0].Without("metadata")
			return v.With("revisions", ionvalue.List(r))
		}},
	}
	for _, tc := range cases {
		_, err := BlockFromIon(tc.mutate(good.Ion()))
		if err == nil {
			t.Errorf("%s: BlockFromIon succeeded", tc.name)
		} else if !strings.HasPrefix(err.Error(), "journal: ") {
			t.Errorf("%s: error %q lacks the package prefix", tc.name, err)
		}
	}
	if _, err := AddressFromIon(ionvalue.Struct()); err == nil || !strings.HasPrefix(err.Error(), "journal: ") {
		t.Errorf("AddressFromIon({}) = %v", err)
	}
}
