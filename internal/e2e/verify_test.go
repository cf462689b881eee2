package e2e

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/qldb"
	"github.com/aws/aws-sdk-go-v2/service/qldb/types"
	"github.com/awslabs/amazon-qldb-driver-go/v3/qldbdriver"

	"github.com/strand-db/strand/internal/config"
	"github.com/strand-db/strand/internal/ionvalue"
	"github.com/strand-db/strand/internal/journal"
	"github.com/strand-db/strand/internal/qldbhash"
	"github.com/strand-db/strand/internal/server/servertest"
	"github.com/strand-db/strand/internal/testenv"
	"github.com/strand-db/strand/internal/testenv/ledgerfill"
)

// Tests of GetDigest, GetBlock and GetRevision (reference §3.5–3.6, §4):
// every proof is folded from its leaf with dot, as QLDB's verifiers do, and
// compared with a digest GetDigest returned at that tip.

// vfDigest is one GetDigest answer.
type vfDigest struct {
	digest []byte
	tip    string // DigestTipAddress.IonText as returned
	seq    uint64
}

func vfGetDigest(t testing.TB, c *qldb.Client, name string) vfDigest {
	t.Helper()
	out, err := c.GetDigest(bg, &qldb.GetDigestInput{Name: aws.String(name)})
	if err != nil {
		t.Fatalf("GetDigest: %v", err)
	}
	if len(out.Digest) != qldbhash.Size || out.DigestTipAddress == nil || out.DigestTipAddress.IonText == nil {
		t.Fatalf("GetDigest: malformed answer %+v", out)
	}
	a := vfAddress(t, *out.DigestTipAddress.IonText)
	return vfDigest{digest: out.Digest, tip: *out.DigestTipAddress.IonText, seq: a.SequenceNo}
}

// vfAddress parses a block address the way a client does: as Ion.
func vfAddress(t testing.TB, text string) journal.BlockAddress {
	t.Helper()
	a, err := journal.AddressFromIon(testenv.Ion(t, text))
	if err != nil {
		t.Fatalf("address %q: %v", text, err)
	}
	return a
}

// vfProof parses Proof.IonText, an Ion list of 32-byte blobs.
func vfProof(t testing.TB, h *types.ValueHolder) [][]byte {
	t.Helper()
	if h == nil || h.IonText == nil {
		t.Fatal("no proof in the answer")
	}
	v, err := ionvalue.DecodeOne([]byte(*h.IonText))
	if err != nil || v.Type.String() != "list" {
		t.Fatalf("proof %q is not an Ion list: %v", *h.IonText, err)
	}
	out := make([][]byte, len(v.Elems))
	for i, e := range v.Elems {
		if e.Type.String() != "blob" || len(e.Bytes) != qldbhash.Size {
			t.Fatalf("proof element %d is not a 32-byte blob: %s", i, e)
		}
		out[i] = e.Bytes
	}
	return out
}

func vfAddr(strand string, seq uint64) *types.ValueHolder {
	return &types.ValueHolder{IonText: aws.String(fmt.Sprintf("{strandId:%q,sequenceNo:%d}", strand, seq))}
}

// vfCheckFold checks that the proof folds from leaf to the digest, and that
// flipping one bit of the leaf, of the digest or of a proof element breaks
// the check.
func vfCheckFold(t testing.TB, r *rand.Rand, what string, leaf []byte, proof [][]byte, digest []byte) {
	t.Helper()
	if got := qldbhash.Fold(leaf, proof); !bytes.Equal(got, digest) {
		t.Fatalf("%s: proof folds to %x, digest is %x", what, got, digest)
	}
	flip := func(b []byte) []byte {
		c := bytes.Clone(b)
		c[r.IntN(len(c))] ^= 1 << r.IntN(8)
		return c
	}
	if bytes.Equal(qldbhash.Fold(flip(leaf), proof), digest) {
		t.Errorf("%s: a flipped leaf bit still verifies", what)
	}
	if bytes.Equal(qldbhash.Fold(leaf, proof), flip(digest)) {
		t.Errorf("%s: a flipped digest bit still verifies", what)
	}
	if len(proof) > 0 {
		p := append([][]byte(nil), proof...)
		i := r.IntN(len(p))
		p[i] = flip(p[i])
		if bytes.Equal(qldbhash.Fold(leaf, p), digest) {
			t.Errorf("%s: a flipped bit in proof element %d still verifies", what, i)
		}
	}
}

// vfExec runs statements in one driver transaction and returns the ids of
// the documents the DML statements touched.
func vfExec(t testing.TB, drv *qldbdriver.QLDBDriver, stmts ...func(tx qldbdriver.Transaction) (qldbdriver.Result, error)) []string {
	t.Helper()
	res, err := drv.Execute(bg, func(tx qldbdriver.Transaction) (any, error) {
		var ids []string
		for _, s := range stmts {
			r, err := s(tx)
			if err != nil {
				return nil, err
			}
			for r.Next(tx) {
				v, err := ionvalue.DecodeOne(r.GetCurrentData())
				if err != nil {
					return nil, err
				}
				if id := v.Get("documentId"); id != nil {
					ids = append(ids, id.Text)
				}
			}
			if err := r.Err(); err != nil {
				return nil, err
			}
		}
		return ids, nil
	})
	if err != nil {
		t.Fatalf("transaction: %v", err)
	}
	return res.([]string)
}

func vfStmt(stmt string, params ...any) func(tx qldbdriver.Transaction) (qldbdriver.Result, error) {
	return func(tx qldbdriver.Transaction) (qldbdriver.Result, error) { return tx.Execute(stmt, params...) }
}

// vfHistory returns every committed revision of table, in committed-view
// shape, as the DMV sample reads them.
func vfHistory(t testing.TB, drv *qldbdriver.QLDBDriver, table string) []*ionvalue.Value {
	t.Helper()
	return servertest.MustQuery(t, drv, "SELECT * FROM history("+table+")")
}

// TestVerificationProofs grows a ledger with a random workload (inserts,
// updates, deletes, several documents per block, DDL in the same
// transactions as DML), takes digests at several moments, then checks
// GetBlock and GetRevision proofs for many blocks and revisions against each
// older digest, and every digest against the Merkle root of the block hashes
// up to its tip.
func TestVerificationProofs(t *testing.T) {
	const name = "proofs"
	n := servertest.Start(t, nil)
	n.CreateLedger(name)
	c := n.QLDB(servertest.AccessKeyID, servertest.SecretAccessKey)
	drv := n.Driver(name)
	r := rand.New(rand.NewPCG(7, 11))

	_, err := c.GetDigest(bg, &qldb.GetDigestInput{Name: aws.String(name)})
	vfWantError(t, err, "ResourcePreconditionNotMetException", 412, "")

	var live []string
	ids := vfExec(t, drv, vfStmt("CREATE TABLE Car"), vfStmt("INSERT INTO Car ?", map[string]any{"VIN": "V0", "n": 0}))
	live = append(live, ids...)
	vfExec(t, drv, vfStmt("CREATE INDEX ON Car (VIN)"))
	var digests []vfDigest
	for i := 1; i <= 90; i++ {
		var stmts []func(qldbdriver.Transaction) (qldbdriver.Result, error)
		deleted := map[string]bool{}
		for k := 0; k < 1+r.IntN(4); k++ {
			switch op := r.IntN(10); {
			case op < 5 || len(live) < 3:
				stmts = append(stmts, vfStmt("INSERT INTO Car ?", map[string]any{"VIN": fmt.Sprintf("V%d-%d", i, k), "n": i, "tags": []any{"a", k}}))
			case op < 9:
				stmts = append(stmts, vfStmt("UPDATE Car AS c BY id SET c.n = ? WHERE id = ?", i*100+k, live[r.IntN(len(live))]))
			default:
				j := r.IntN(len(live))
				stmts = append(stmts, vfStmt("DELETE FROM Car AS c BY id WHERE id = ?", live[j]))
				deleted[live[j]] = true
				live = append(live[:j], live[j+1:]...)
			}
		}
		for _, id := range vfExec(t, drv, stmts...) {
			if !deleted[id] && !vfContains(live, id) {
				live = append(live, id) // an insert
			}
		}
		if i%10 == 0 || r.IntN(8) == 0 {
			digests = append(digests, vfGetDigest(t, c, name))
		}
	}
	final := vfGetDigest(t, c, name)
	digests = append(digests, final)
	l := n.LedgerEngine(name)
	strand := l.StrandID
	if a := vfAddress(t, final.tip); a.StrandID != strand || a.SequenceNo != l.Next()-1 {
		t.Fatalf("final tip %s, ledger strand %s next %d", final.tip, strand, l.Next())
	}

	// Every block, through GetBlock without a tip: no proof, the journal's
	// own Ion text, and a valid hash chain.
	blocks := make([]*journal.Block, final.seq+1)
	for seq := range blocks {
		out, err := c.GetBlock(bg, &qldb.GetBlockInput{Name: aws.String(name), BlockAddress: vfAddr(strand, uint64(seq))})
		if err != nil {
			t.Fatalf("GetBlock %d: %v", seq, err)
		}
		if out.Proof != nil {
			t.Errorf("GetBlock %d without a tip returned a proof", seq)
		}
		b := servertest.DecodeBlock(t, []byte(*out.Block.IonText))
		var prev []byte
		if seq > 0 {
			prev = blocks[seq-1].BlockHash
		}
		if err := journal.VerifyBlock(b, prev); err != nil {
			t.Fatalf("GetBlock %d: %v", seq, err)
		}
		stored, _, err := l.Block(uint64(seq))
		if err != nil {
			t.Fatal(err)
		}
		if want := ionvalue.MarshalText(stored.Ion()); *out.Block.IonText != want {
			t.Fatalf("GetBlock %d text:\n got %s\nwant %s", seq, *out.Block.IonText, want)
		}
		blocks[seq] = b
	}
	hashes := make([][]byte, len(blocks))
	for i, b := range blocks {
		hashes[i] = b.BlockHash
	}
	for _, d := range digests {
		if root := qldbhash.MerkleRoot(hashes[:d.seq+1]); !bytes.Equal(root, d.digest) {
			t.Fatalf("digest at tip %d is %x; the Merkle root of block hashes 0..%d is %x", d.seq, d.digest, d.seq, root)
		}
	}

	// Block proofs: for each digest, random blocks up to its tip (always
	// including the first and the tip itself).
	checked := 0
	for _, d := range digests {
		seqs := []uint64{0, d.seq}
		for k := 0; k < 8; k++ {
			seqs = append(seqs, uint64(r.IntN(int(d.seq)+1)))
		}
		for _, seq := range seqs {
			out, err := c.GetBlock(bg, &qldb.GetBlockInput{Name: aws.String(name), BlockAddress: vfAddr(strand, seq),
				DigestTipAddress: &types.ValueHolder{IonText: aws.String(d.tip)}})
			if err != nil {
				t.Fatalf("GetBlock %d at tip %d: %v", seq, d.seq, err)
			}
			if *out.Block.IonText != ionvalue.MarshalText(blocks[seq].Ion()) {
				t.Fatalf("GetBlock %d with a tip: different block text", seq)
			}
			vfCheckFold(t, r, fmt.Sprintf("block %d at tip %d", seq, d.seq), blocks[seq].BlockHash, vfProof(t, out.Proof), d.digest)
			checked++
		}
	}

	// Revision proofs: every revision the history holds is checked against
	// at least one digest at or after its block, and the revision text is
	// the committed view's.
	hist := vfHistory(t, drv, "Car")
	if len(hist) < 150 {
		t.Fatalf("only %d revisions in history", len(hist))
	}
	multi := 0
	for _, hv := range hist {
		rev, addr, err := journal.RevisionFromIon(hv)
		if err != nil {
			t.Fatal(err)
		}
		if got := journal.RevisionHash(rev.Data, rev.Metadata); !bytes.Equal(got, rev.Hash) {
			t.Fatalf("history revision %s v%d: hash %x, recomputed %x", rev.Metadata.ID, rev.Metadata.Version, rev.Hash, got)
		}
		if len(blocks[addr.SequenceNo].Revisions) > 1 {
			multi++
		}
		var eligible []vfDigest
		for _, d := range digests {
			if d.seq >= addr.SequenceNo {
				eligible = append(eligible, d)
			}
		}
		for _, d := range []vfDigest{eligible[r.IntN(len(eligible))], final} {
			out, err := c.GetRevision(bg, &qldb.GetRevisionInput{Name: aws.String(name), BlockAddress: vfAddr(strand, addr.SequenceNo),
				DocumentId: aws.String(rev.Metadata.ID), DigestTipAddress: &types.ValueHolder{IonText: aws.String(d.tip)}})
			if err != nil {
				t.Fatalf("GetRevision %s in block %d at tip %d: %v", rev.Metadata.ID, addr.SequenceNo, d.seq, err)
			}
			if got := *out.Revision.IonText; got != ionvalue.MarshalText(hv) {
				t.Fatalf("GetRevision text:\n got %s\nwant %s", got, hv)
			}
			vfCheckFold(t, r, fmt.Sprintf("revision %s v%d (block %d) at tip %d", rev.Metadata.ID, rev.Metadata.Version, addr.SequenceNo, d.seq),
				rev.Hash, vfProof(t, out.Proof), d.digest)
			checked++
		}
	}
	if multi == 0 {
		t.Error("no revision came from a block with several revisions")
	}

	// Without a tip, GetRevision returns the revision and no proof; the
	// genesis block's revision proof has no element for its empty
	// previousBlockHash and still folds.
	g := blocks[0]
	gi, ok := g.DocumentRevision(ids[0])
	if !ok {
		t.Fatalf("block 0 does not hold the first insert")
	}
	out, err := c.GetRevision(bg, &qldb.GetRevisionInput{Name: aws.String(name), BlockAddress: vfAddr(strand, 0), DocumentId: aws.String(ids[0])})
	if err != nil || out.Proof != nil || out.Revision == nil {
		t.Fatalf("GetRevision without tip: %+v, %v", out, err)
	}
	out, err = c.GetRevision(bg, &qldb.GetRevisionInput{Name: aws.String(name), BlockAddress: vfAddr(strand, 0), DocumentId: aws.String(ids[0]),
		DigestTipAddress: vfAddr(strand, 0)})
	if err != nil {
		t.Fatal(err)
	}
	gp := vfProof(t, out.Proof)
	vfCheckFold(t, r, "genesis revision at tip 0", g.Revisions[gi].Hash, gp, g.BlockHash)
	t.Logf("checked %d proofs over %d blocks, %d revisions, %d digests", checked, len(blocks), len(hist), len(digests))
}

func vfContains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// vfWantError checks an API error's type, HTTP status and, when param is
// set, the InvalidParameterException's ParameterName.
func vfWantError(t testing.TB, err error, code string, status int, param string) {
	t.Helper()
	servertest.WantAPIError(t, err, code, status)
	if param != "" {
		var ip *types.InvalidParameterException
		if !errors.As(err, &ip) || aws.ToString(ip.ParameterName) != param {
			t.Errorf("%s: want ParameterName %s, got %v", code, param, err)
		}
	}
}

// TestVerificationErrors covers every refused request: missing ledger,
// malformed addresses, wrong strand, missing block, tip after the newest
// block or before the block, and a document the block did not write.
func TestVerificationErrors(t *testing.T) {
	const name = "errs"
	n := servertest.Start(t, nil)
	n.CreateLedger(name)
	c := n.QLDB(servertest.AccessKeyID, servertest.SecretAccessKey)
	drv := n.Driver(name)
	ids := vfExec(t, drv, vfStmt("CREATE TABLE T"), vfStmt("INSERT INTO T ?", map[string]any{"a": 1}))
	ids1 := vfExec(t, drv, vfStmt("INSERT INTO T ?", map[string]any{"a": 2}))
	d := vfGetDigest(t, c, name) // tip 1
	strand := vfAddress(t, d.tip).StrandID
	text := func(s string) *types.ValueHolder { return &types.ValueHolder{IonText: aws.String(s)} }

	// Missing ledger: 404 on all three.
	_, err := c.GetDigest(bg, &qldb.GetDigestInput{Name: aws.String("nope")})
	vfWantError(t, err, "ResourceNotFoundException", 404, "")
	_, err = c.GetBlock(bg, &qldb.GetBlockInput{Name: aws.String("nope"), BlockAddress: vfAddr(strand, 0)})
	vfWantError(t, err, "ResourceNotFoundException", 404, "")
	_, err = c.GetRevision(bg, &qldb.GetRevisionInput{Name: aws.String("nope"), BlockAddress: vfAddr(strand, 0), DocumentId: aws.String(ids[0])})
	vfWantError(t, err, "ResourceNotFoundException", 404, "")

	// Addresses are Ion, not a pattern: other field order, spacing,
	// annotations and extra fields are accepted.
	for _, s := range []string{
		fmt.Sprintf(" { sequenceNo : 0 , strandId : %q } ", strand),
		fmt.Sprintf("address::{strandId:%q,sequenceNo:0,note:\"x\"}", strand),
		fmt.Sprintf("{'strandId':\"%s\", /* c */ sequenceNo:0}", strand),
	} {
		if _, err := c.GetBlock(bg, &qldb.GetBlockInput{Name: aws.String(name), BlockAddress: text(s)}); err != nil {
			t.Errorf("GetBlock %s: %v", s, err)
		}
	}

	bad := []struct {
		name, param string
		addr, tip   *types.ValueHolder
	}{
		{"not Ion", "BlockAddress", text("{strandId:"), nil},
		{"two values", "BlockAddress", text(fmt.Sprintf("{strandId:%q,sequenceNo:0} 1", strand)), nil},
		{"a list", "BlockAddress", text("[1,2]"), nil},
		{"no sequenceNo", "BlockAddress", text(fmt.Sprintf("{strandId:%q}", strand)), nil},
		{"negative sequenceNo", "BlockAddress", text(fmt.Sprintf("{strandId:%q,sequenceNo:-1}", strand)), nil},
		{"string sequenceNo", "BlockAddress", text(fmt.Sprintf("{strandId:%q,sequenceNo:\"0\"}", strand)), nil},
		{"symbol strandId", "BlockAddress", text(fmt.Sprintf("{strandId:%s,sequenceNo:0}", strand)), nil},
		{"empty IonText", "BlockAddress", text(""), nil},
		{"no IonText", "BlockAddress", &types.ValueHolder{}, nil},
		{"wrong strand", "BlockAddress", vfAddr("AAAAAAAAAAAAAAAAAAAAAA", 0), nil},
		{"block after the newest", "BlockAddress", vfAddr(strand, 2), nil},
		{"huge sequenceNo", "BlockAddress", text(fmt.Sprintf("{strandId:%q,sequenceNo:123456789012345678901234567890}", strand)), nil},
		{"tip after the newest block", "DigestTipAddress", vfAddr(strand, 0), vfAddr(strand, 2)},
		{"tip before the block", "DigestTipAddress", vfAddr(strand, 1), vfAddr(strand, 0)},
		{"tip on the wrong strand", "DigestTipAddress", vfAddr(strand, 0), vfAddr("AAAAAAAAAAAAAAAAAAAAAA", 1)},
		{"malformed tip", "DigestTipAddress", vfAddr(strand, 0), text("{sequenceNo:1}")},
	}
	for _, b := range bad {
		_, err := c.GetBlock(bg, &qldb.GetBlockInput{Name: aws.String(name), BlockAddress: b.addr, DigestTipAddress: b.tip})
		t.Run("GetBlock "+b.name, func(t *testing.T) { vfWantError(t, err, "InvalidParameterException", 400, b.param) })
		doc := ids[0]
		if b.name == "tip before the block" {
			doc = ids1[0] // written by block 1
		}
		_, err = c.GetRevision(bg, &qldb.GetRevisionInput{Name: aws.String(name), BlockAddress: b.addr, DocumentId: aws.String(doc), DigestTipAddress: b.tip})
		t.Run("GetRevision "+b.name, func(t *testing.T) { vfWantError(t, err, "InvalidParameterException", 400, b.param) })
	}

	// Documents: not in that block, malformed.
	for _, doc := range []string{"AAAAAAAAAAAAAAAAAAAAAA", "short", strings.Repeat("x", 23), "has space in it 123456"} {
		_, err := c.GetRevision(bg, &qldb.GetRevisionInput{Name: aws.String(name), BlockAddress: vfAddr(strand, 0), DocumentId: aws.String(doc), DigestTipAddress: vfAddr(strand, 1)})
		vfWantError(t, err, "InvalidParameterException", 400, "DocumentId")
	}
	// The revision of ids[0] is in block 0, not block 1.
	_, err = c.GetRevision(bg, &qldb.GetRevisionInput{Name: aws.String(name), BlockAddress: vfAddr(strand, 1), DocumentId: aws.String(ids[0])})
	vfWantError(t, err, "InvalidParameterException", 400, "DocumentId")

	// The tip equal to the block is fine, and GetDigest answers again.
	if _, err := c.GetBlock(bg, &qldb.GetBlockInput{Name: aws.String(name), BlockAddress: vfAddr(strand, 1), DigestTipAddress: vfAddr(strand, 1)}); err != nil {
		t.Errorf("tip == block: %v", err)
	}
	if d2 := vfGetDigest(t, c, name); !bytes.Equal(d2.digest, d.digest) || d2.tip != d.tip {
		t.Errorf("digest changed without commits: %x %s, then %x %s", d.digest, d.tip, d2.digest, d2.tip)
	}
}

// vfRaw sends a signed control-plane request with a raw JSON body (to reach
// what the SDK validates away) and returns the status, the error type and
// the ParameterName member.
func vfRaw(t *testing.T, n *servertest.Node, method, path, body string) (int, string, string) {
	t.Helper()
	req, err := http.NewRequest(method, n.URL()+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	sum := sha256.Sum256([]byte(body))
	creds := aws.Credentials{AccessKeyID: servertest.AccessKeyID, SecretAccessKey: servertest.SecretAccessKey}
	if err := v4.NewSigner().SignHTTP(bg, creds, req, hex.EncodeToString(sum[:]), "qldb", n.Config.Region, time.Now()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var e struct {
		Type          string `json:"__type"`
		ParameterName string `json:"ParameterName"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&e)
	return resp.StatusCode, e.Type, e.ParameterName
}

// TestVerificationRawRequests covers what the SDK refuses to send: missing
// required members, malformed JSON, wrong methods.
func TestVerificationRawRequests(t *testing.T) {
	n := servertest.Start(t, nil)
	n.CreateLedger("raw")
	vfExec(t, n.Driver("raw"), vfStmt("CREATE TABLE T"))
	cases := []struct {
		method, path, body string
		status             int
		typ, param         string
	}{
		{"POST", "/ledgers/raw/block", `{}`, 400, "InvalidParameterException", "BlockAddress"},
		{"POST", "/ledgers/raw/block", ``, 400, "InvalidParameterException", "BlockAddress"},
		{"POST", "/ledgers/raw/block", `{"BlockAddress":{}}`, 400, "InvalidParameterException", "BlockAddress"},
		{"POST", "/ledgers/raw/block", `{"BlockAddress":{"IonText":7}}`, 400, "SerializationException", ""},
		{"POST", "/ledgers/raw/block", `{"BlockAddress":`, 400, "SerializationException", ""},
		{"POST", "/ledgers/raw/revision", `{"BlockAddress":{"IonText":"{strandId:\"x\",sequenceNo:0}"}}`, 400, "InvalidParameterException", "DocumentId"},
		{"POST", "/ledgers/raw/revision", `{"DocumentId":"AAAAAAAAAAAAAAAAAAAAAA"}`, 400, "InvalidParameterException", "BlockAddress"},
		{"POST", "/ledgers/raw/digest", `{"Ignored":1}`, 200, "", ""},
		{"GET", "/ledgers/raw/digest", ``, 405, "MethodNotAllowedException", ""},
		{"POST", "/ledgers/nope/digest", ``, 404, "ResourceNotFoundException", ""},
		{"POST", "/ledgers/bad--name/digest", ``, 400, "InvalidParameterException", "Name"},
	}
	for _, c := range cases {
		status, typ, param := vfRaw(t, n, c.method, c.path, c.body)
		if status != c.status || typ != c.typ || (c.param != "" && param != c.param) {
			t.Errorf("%s %s %s: got %d %s %q, want %d %s %q", c.method, c.path, c.body, status, typ, param, c.status, c.typ, c.param)
		}
	}
}

// TestVerificationWhileCommitting takes digests and proofs at the tip while
// other clients commit: each proof must fold to the digest it names, even
// as the ledger grows underneath (run with -race).
func TestVerificationWhileCommitting(t *testing.T) {
	const name = "busy"
	n := servertest.Start(t, nil)
	n.CreateLedger(name)
	c := n.QLDB(servertest.AccessKeyID, servertest.SecretAccessKey)
	drv := n.Driver(name)
	vfExec(t, drv, vfStmt("CREATE TABLE T"))
	stop := make(chan struct{})
	var wg sync.WaitGroup
	defer func() { close(stop); wg.Wait() }() // before the driver shuts down
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := drv.Execute(bg, func(tx qldbdriver.Transaction) (any, error) {
					return tx.Execute("INSERT INTO T ?", map[string]any{"w": w, "i": i})
				}); err != nil {
					t.Errorf("writer %d: %v", w, err)
					return
				}
			}
		}()
	}
	r := rand.New(rand.NewPCG(3, 4))
	for k := 0; k < 40; k++ {
		d := vfGetDigest(t, c, name)
		a := vfAddress(t, d.tip)
		seq := uint64(r.IntN(int(a.SequenceNo) + 1))
		out, err := c.GetBlock(bg, &qldb.GetBlockInput{Name: aws.String(name), BlockAddress: vfAddr(a.StrandID, seq),
			DigestTipAddress: &types.ValueHolder{IonText: aws.String(d.tip)}})
		if err != nil {
			t.Fatal(err)
		}
		b := servertest.DecodeBlock(t, []byte(*out.Block.IonText))
		vfCheckFold(t, r, fmt.Sprintf("block %d at tip %d", seq, a.SequenceNo), b.BlockHash, vfProof(t, out.Proof), d.digest)
		rev := b.Revisions[len(b.Revisions)-1]
		if rev.IsSystem() {
			continue // the CREATE TABLE block
		}
		ro, err := c.GetRevision(bg, &qldb.GetRevisionInput{Name: aws.String(name), BlockAddress: vfAddr(a.StrandID, seq),
			DocumentId: aws.String(rev.Metadata.ID), DigestTipAddress: &types.ValueHolder{IonText: aws.String(d.tip)}})
		if err != nil {
			t.Fatal(err)
		}
		vfCheckFold(t, r, fmt.Sprintf("revision in block %d at tip %d", seq, a.SequenceNo), rev.Hash, vfProof(t, ro.Proof), d.digest)
	}
}

// TestAWSCLIVerification runs Debian's AWS CLI get-digest, get-block and
// get-revision unchanged against a signed node and folds their proofs.
func TestAWSCLIVerification(t *testing.T) {
	requireTool(t, debianAWS)
	n := startAuthed(t)
	n.CreateLedger("cli-verify")
	drv := n.Driver("cli-verify")
	ids := vfExec(t, drv, vfStmt("CREATE TABLE VehicleRegistration"),
		vfStmt("INSERT INTO VehicleRegistration ?", map[string]any{"VIN": "1N4AL11D75C109151", "City": "Everett"}),
		vfStmt("INSERT INTO VehicleRegistration ?", map[string]any{"VIN": "KM8SRDHF6EU074761", "City": "Tacoma"}))
	for i := 0; i < 5; i++ {
		vfExec(t, drv, vfStmt("UPDATE VehicleRegistration SET n = ?", i))
	}
	r := rand.New(rand.NewPCG(5, 6))
	out := awsCLI(t, n, true, "qldb", "get-digest", "--name", "cli-verify")
	digest, err := base64.StdEncoding.DecodeString(out["Digest"].(string))
	if err != nil {
		t.Fatalf("get-digest: %v", out)
	}
	tip := out["DigestTipAddress"].(map[string]any)["IonText"].(string)
	a := vfAddress(t, tip)
	if a.SequenceNo != 5 {
		t.Errorf("tip %s, want sequenceNo 5", tip)
	}
	holder := func(s string) string { return fmt.Sprintf(`{"IonText":%q}`, s) }
	block0 := fmt.Sprintf("{strandId:%q,sequenceNo:0}", a.StrandID)

	out = awsCLI(t, n, true, "qldb", "get-block", "--name", "cli-verify", "--block-address", holder(block0), "--digest-tip-address", holder(tip))
	b := servertest.DecodeBlock(t, []byte(out["Block"].(map[string]any)["IonText"].(string)))
	proofText := out["Proof"].(map[string]any)["IonText"].(string)
	vfCheckFold(t, r, "CLI get-block", b.BlockHash, vfProof(t, &types.ValueHolder{IonText: &proofText}), digest)

	out = awsCLI(t, n, true, "qldb", "get-revision", "--name", "cli-verify", "--block-address", holder(block0),
		"--document-id", ids[1], "--digest-tip-address", holder(tip))
	rev, _, err := journal.RevisionFromIon(testenv.Ion(t, out["Revision"].(map[string]any)["IonText"].(string)))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(journal.RevisionHash(rev.Data, rev.Metadata), rev.Hash) {
		t.Error("CLI get-revision: the revision hash does not match its data and metadata")
	}
	proofText = out["Proof"].(map[string]any)["IonText"].(string)
	vfCheckFold(t, r, "CLI get-revision", rev.Hash, vfProof(t, &types.ValueHolder{IonText: &proofText}), digest)

	e := awsCLI(t, n, false, "qldb", "get-block", "--name", "cli-verify", "--block-address", holder(fmt.Sprintf("{strandId:%q,sequenceNo:99}", a.StrandID)))
	if !strings.Contains(e["error"].(string), "InvalidParameterException") {
		t.Errorf("get-block of a missing block: %v", e)
	}
}

// BenchmarkGetRevision measures GetRevision with a proof on a ledger of
// ledgerfill.BenchBlocks() blocks (default 1,000,000, built directly
// through the engine's commit path; kept in $STRAND_BENCH_DIR when set):
// random revisions across the whole journal, each against the digest at the
// tip, one request at a time through the AWS SDK over loopback HTTP. It
// reports p50/p99/p99.9 latency as the client sees it, and the p50/p99 of
// the same work done in-process (read and decode the block, ledger-tree
// proof, revision proof, render the Ion), which is the server's share, with
// the p50 of its two storage parts.
//
//	STRAND_BENCH_DIR=/tmp/strand-bench go test ./internal/server -run '^$' -bench GetRevision -benchtime 20000x
func BenchmarkGetRevision(b *testing.B) {
	const name = "bench"
	dir := ledgerfill.BenchDir(b, ledgerfill.BenchBlocks())
	cfg := config.Default()
	cfg.Listen, cfg.DataDir = "127.0.0.1:0", dir
	n := servertest.StartConfig(b, cfg)
	c := n.QLDB(servertest.AccessKeyID, servertest.SecretAccessKey)
	d := vfGetDigest(b, c, name)
	l := n.LedgerEngine(name)
	type target struct {
		seq uint64
		doc string
		rev []byte
	}
	r := rand.New(rand.NewPCG(9, 9))
	var targets []target
	for len(targets) < 4096 {
		seq := uint64(r.IntN(int(d.seq) + 1))
		blk, ok, err := l.Block(seq)
		if err != nil || !ok {
			b.Fatalf("block %d: %v %v", seq, ok, err)
		}
		for _, rev := range blk.Revisions {
			if !rev.IsSystem() {
				targets = append(targets, target{seq, rev.Metadata.ID, rev.Hash})
				break
			}
		}
	}
	tip := &types.ValueHolder{IonText: aws.String(d.tip)}

	// The server's share, in-process.
	var engine, readBlock, ledgerProof []time.Duration
	for k := 0; k < 2; k++ { // the second pass finds the data cached
		engine, readBlock, ledgerProof = engine[:0], readBlock[:0], ledgerProof[:0]
		for _, tg := range targets {
			start := time.Now()
			blk, _, err := l.Block(tg.seq)
			if err != nil {
				b.Fatal(err)
			}
			readBlock = append(readBlock, time.Since(start))
			i, _ := blk.DocumentRevision(tg.doc)
			t1 := time.Now()
			lp, err := l.BlockProof(tg.seq, d.seq)
			if err != nil {
				b.Fatal(err)
			}
			ledgerProof = append(ledgerProof, time.Since(t1))
			proof, err := journal.RevisionProof(blk, i, lp)
			if err != nil {
				b.Fatal(err)
			}
			_ = ionvalue.MarshalText(blk.Revisions[i].Ion(blk.Address))
			engine = append(engine, time.Since(start))
			if !bytes.Equal(qldbhash.Fold(tg.rev, proof), d.digest) {
				b.Fatalf("block %d: in-process proof does not fold", tg.seq)
			}
		}
	}

	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		tg := targets[i%len(targets)]
		start := time.Now()
		out, err := c.GetRevision(bg, &qldb.GetRevisionInput{Name: aws.String(name), BlockAddress: vfAddr(l.StrandID, tg.seq),
			DocumentId: aws.String(tg.doc), DigestTipAddress: tip})
		lat = append(lat, time.Since(start))
		if err != nil {
			b.Fatal(err)
		}
		if i < len(targets) {
			b.StopTimer()
			vfCheckFold(b, r, fmt.Sprintf("block %d", tg.seq), tg.rev, vfProof(b, out.Proof), d.digest)
			b.StartTimer()
		}
	}
	b.StopTimer()
	pct := func(ds []time.Duration, p float64) float64 {
		s := append([]time.Duration(nil), ds...)
		slices.Sort(s)
		return float64(s[min(len(s)-1, int(p*float64(len(s))))].Microseconds())
	}
	b.ReportMetric(float64(d.seq+1), "blocks")
	b.ReportMetric(pct(lat, 0.50), "p50-µs")
	b.ReportMetric(pct(lat, 0.99), "p99-µs")
	b.ReportMetric(pct(lat, 0.999), "p99.9-µs")
	b.ReportMetric(pct(engine, 0.50), "engine-p50-µs")
	b.ReportMetric(pct(engine, 0.99), "engine-p99-µs")
	b.ReportMetric(pct(readBlock, 0.50), "read-block-p50-µs")
	b.ReportMetric(pct(ledgerProof, 0.50), "ledger-proof-p50-µs")
}
