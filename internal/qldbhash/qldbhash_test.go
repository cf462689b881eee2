package qldbhash

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/strand-db/strand/internal/ionvalue"
	"github.com/strand-db/strand/internal/testenv"
)

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustB64(t testing.TB, s string) []byte {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// commitVectors mirrors testdata/commit-digests.json.
type commitVectors struct {
	Vectors []struct {
		TransactionID string `json:"transactionId"`
		Statements    []struct {
			Statement  string   `json:"statement"`
			Parameters []string `json:"parameters"`
		} `json:"statements"`
		DigestHex    string `json:"digest_hex"`
		DigestBase64 string `json:"digest_base64"`
	} `json:"vectors"`
	IonHashesHex map[string]string `json:"ion_hashes_hex"`
}

func loadCommitVectors(t *testing.T) commitVectors {
	t.Helper()
	b, err := os.ReadFile("testdata/commit-digests.json")
	if err != nil {
		t.Fatal(err)
	}
	var cv commitVectors
	if err := json.Unmarshal(b, &cv); err != nil {
		t.Fatal(err)
	}
	if len(cv.Vectors) == 0 || len(cv.IonHashesHex) == 0 {
		t.Fatal("commit-digests.json has no vectors")
	}
	return cv
}

func TestCommitDigestVectors(t *testing.T) {
	cv := loadCommitVectors(t)
	for i, vec := range cv.Vectors {
		t.Run(fmt.Sprintf("%d-%s-%d", i, vec.TransactionID, len(vec.Statements)), func(t *testing.T) {
			var want []byte
			if vec.DigestHex != "" {
				want = mustHex(t, vec.DigestHex)
			} else {
				want = mustB64(t, vec.DigestBase64)
			}
			d := NewCommitDigest(vec.TransactionID)
			for _, st := range vec.Statements {
				var params []*ionvalue.Value
				for _, p := range st.Parameters {
					params = append(params, testenv.Ion(t, p))
				}
				d.Add(StatementHash(st.Statement, params))
			}
			if got := d.Sum(); !bytes.Equal(got, want) {
				t.Errorf("digest = %x, want %x", got, want)
			}
		})
	}
}

func TestIonHashVectors(t *testing.T) {
	cv := loadCommitVectors(t)
	for text, wantHex := range cv.IonHashesHex {
		t.Run(text, func(t *testing.T) {
			want := mustHex(t, wantHex)
			v := testenv.Ion(t, text)
			if got := Hash(v); !bytes.Equal(got, want) {
				t.Errorf("Hash = %x, want %x", got, want)
			}
			if got, err := HashIon([]byte(text)); err != nil || !bytes.Equal(got, want) {
				t.Errorf("HashIon(text) = %x, %v, want %x", got, err, want)
			}
			bin, err := ionvalue.MarshalBinary(v)
			if err != nil {
				t.Fatal(err)
			}
			if got, err := HashIon(bin); err != nil || !bytes.Equal(got, want) {
				t.Errorf("HashIon(binary) = %x, %v, want %x", got, err, want)
			}
		})
	}
}

// TestReferenceTable checks the table of qldb-dataplane.md §2.4.
func TestReferenceTable(t *testing.T) {
	const getTables = "SELECT name FROM information_schema.user_tables WHERE status = 'ACTIVE'"
	const selPerson = "SELECT * FROM Person WHERE GovId = ?"
	stmtHash := Dot(HashString(selPerson), HashString("TOYENC486FH"))
	digest := func(tx string, stmts ...[]byte) []byte {
		d := NewCommitDigest(tx)
		for _, s := range stmts {
			d.Add(s)
		}
		return d.Sum()
	}
	cases := []struct {
		name string
		got  []byte
		want string
	}{
		{`H("12341")`, HashString("12341"), "a77be7ffaaac238e491fefc7fc78afd9ebdcb8c855cb8ce697dd83ffa397aad2"},
		{"empty txn 12341", digest("12341"), "a77be7ffaaac238e491fefc7fc78afd9ebdcb8c855cb8ce697dd83ffa397aad2"},
		{"txn 12341 + GetTableNames", digest("12341", StatementHash(getTables, nil)), "2eb051e5ec3c11bc51d8d90059e4e986fc5aa53f8f427fad830d869f0ec61349"},
		{`H("Ef7yv5Nr5HY3fRk4Qk7jhr")`, HashString("Ef7yv5Nr5HY3fRk4Qk7jhr"), "95fbbf341b9372a90d95231c8d70ad53eb9f6d522fd45ec6f9e97a567a351ec5"},
		{"H(select person)", HashString(selPerson), "6e33f9fbf3b7821ef9431f9f9f390b686722e7d1484a5362554881733e2cf811"},
		{`H("TOYENC486FH")`, HashString("TOYENC486FH"), "8b082c71ec707aeef5a81d7d0732d9acead1ff4592bb47cb5535a3fbf126329c"},
		{"statement hash by Dot", stmtHash, "59e4a578ec72445917e34b7e15aee72af5b1d65213a82925d91a764c53f5097e"},
		{"statement hash by StatementHash", StatementHash(selPerson, []*ionvalue.Value{ionvalue.String("TOYENC486FH")}), "59e4a578ec72445917e34b7e15aee72af5b1d65213a82925d91a764c53f5097e"},
		{"digest Ef7y one statement", digest("Ef7yv5Nr5HY3fRk4Qk7jhr", stmtHash), "9d2ea913bebd50d0058c7a1fc1b85d47fe12fc18880f1a43fbaa42a9aee9bd55"},
		{"digest Ef7y + CREATE TABLE", digest("Ef7yv5Nr5HY3fRk4Qk7jhr", stmtHash, StatementHash("CREATE TABLE Person", nil)), "3f7611dcfbac1cfcd593bd6876f2962e5cea7a57bc934efb24bd8a27918cd56f"},
		{"H(5)", Hash(ionvalue.Int(5)), "055988fd18c67bcc6977993c46e94ef5d3d583b6c6da938b0ab78ae358dd279c"},
		{`H({name:"x",n:1})`, Hash(ionvalue.Struct(ionvalue.Field{Name: "name", Value: ionvalue.String("x")}, ionvalue.Field{Name: "n", Value: ionvalue.Int(1)})), "06a599df80f800a87dc62754d9287aaaac4afeb3ff940299ec6a3c1ad7ad1095"},
		{`H("abc") by hand`, sha256Of([]byte{0x0B, 0x80, 'a', 'b', 'c', 0x0E}), "b0f6224eae807e7850240dedb0d7356d242aa24557c4e42f1730443cffbb3f98"},
		{`H("abc")`, HashString("abc"), "b0f6224eae807e7850240dedb0d7356d242aa24557c4e42f1730443cffbb3f98"},
	}
	for _, tc := range cases {
		if hex.EncodeToString(tc.got) != tc.want {
			t.Errorf("%s = %x, want %s", tc.name, tc.got, tc.want)
		}
	}
}

func sha256Of(b []byte) []byte {
	s := sha256.Sum256(b)
	return s[:]
}

// TestHashWriterAgreesWithHashReader checks that Hash (ion-hash-go's
// HashWriter over an ionvalue tree) and HashIon (its HashReader over the
// encoded bytes, the driver's path) agree for every kind of value.
func TestHashWriterAgreesWithHashReader(t *testing.T) {
	inputs := []string{
		"null", "null.int", "null.struct", "null.symbol", "a::null.string",
		"true", "false", "0", "-1", "127", "128", "-128", "255", "256", "9223372036854775807", "-9223372036854775808",
		"18446744073709551616", "-340282366920938463463374607431768211457",
		"0e0", "-0e0", "1.5e0", "0.1e0", "1.5e300", "nan", "+inf", "-inf",
		"0.", "-0.", "-0.00", "1.00", "90.25", "5d3", "12d-40",
		"2007T", "2007-02T", "2007-02-23", "2007-02-23T12:14Z", "2007-02-23T12:14-00:00",
		"2019-09-16T19:37:05.344Z", "2007-02-23T12:14:33.079-08:00", "2007-02-23T12:14:33.123456789Z",
		"abc", "'hello world'", "''", `""`, `"\x0b\x0c\x0e escapes"`, `"ünïcødé"`,
		`{{"clob\x0b"}}`, "{{AQID}}", "{{CwwO}}", "{{}}",
		"[]", "[1,[2,[3]]]", "()", "(a + b)", "{}", "{a:1,b:2}", "{a:1,a:1}", "{'':1}",
		"a::b::{c:d::[e::1]}", "x::[]", "{a:{b:{c:{d:[{e:[1,2,{f:null.struct}]}]}}}}",
	}
	for _, in := range inputs {
		v := testenv.Ion(t, in)
		h, err := HashValue(v)
		if err != nil {
			t.Fatalf("HashValue(%s): %v", in, err)
		}
		if len(h) != Size {
			t.Fatalf("HashValue(%s) has %d bytes", in, len(h))
		}
		bin, err := ionvalue.MarshalBinary(v)
		if err != nil {
			t.Fatal(err)
		}
		fromBin, err := HashIon(bin)
		if err != nil {
			t.Fatalf("HashIon(binary %s): %v", in, err)
		}
		fromText, err := HashIon([]byte(in))
		if err != nil {
			t.Fatalf("HashIon(text %s): %v", in, err)
		}
		if !bytes.Equal(h, fromBin) || !bytes.Equal(h, fromText) {
			t.Errorf("%s: Hash %x, HashIon(binary) %x, HashIon(text) %x", in, h, fromBin, fromText)
		}
	}
}

func TestHashSemantics(t *testing.T) {
	cases := []struct {
		a, b  string
		equal bool
	}{
		{"{a:1,b:2}", "{b:2,a:1}", true},
		{"{a:1,b:{c:1,d:2}}", "{b:{d:2,c:1},a:1}", true},
		{"abc", `"abc"`, false},
		{"1", "1.", false},
		{"1.0", "1.00", false},
		{"a::1", "1", false},
		{"[1,2]", "[2,1]", false},
		{"[1,2]", "(1 2)", false},
		{"2007-02-23T12:14:33Z", "2007-02-23T12:14:33.000Z", false},
		{"null", "null.null", true},
		{"null.int", "null", false},
		{"0e0", "-0e0", false},
	}
	for _, tc := range cases {
		ha, hb := Hash(testenv.Ion(t, tc.a)), Hash(testenv.Ion(t, tc.b))
		if bytes.Equal(ha, hb) != tc.equal {
			t.Errorf("H(%s) == H(%s) is %v, want %v", tc.a, tc.b, !tc.equal, tc.equal)
		}
	}
}

func TestHashErrors(t *testing.T) {
	for _, in := range []string{"", "1 2", "{a:", "\xe0\x01\x00\xea\x85\x61"} {
		if _, err := HashIon([]byte(in)); err == nil {
			t.Errorf("HashIon(%q) succeeded", in)
		} else if !strings.HasPrefix(err.Error(), "qldbhash: ") {
			t.Errorf("HashIon(%q) error %q lacks the package prefix", in, err)
		}
	}
	if _, err := HashValue(ionvalue.List(nil)); err == nil {
		t.Error("HashValue of a list holding nil succeeded")
	}
	defer func() {
		if recover() == nil {
			t.Error("Hash(nil) did not panic")
		}
	}()
	Hash(nil)
}

func TestDot(t *testing.T) {
	h := func(s string) []byte { return HashString(s) }
	a, b := h("a"), h("b")

	// The signed comparison looks at the last byte first: 0x80 (-128) sorts
	// before 0x7f (127), although it is bigger unsigned, and earlier bytes
	// only matter on a tie.
	lo := bytes.Repeat([]byte{0xff}, 32)
	lo[31] = 0x80
	hi := make([]byte, 32)
	hi[31] = 0x7f
	tieLo := make([]byte, 32)
	tieLo[0] = 0xff // -1 at index 0
	tieHi := make([]byte, 32)
	tieHi[0] = 0x01

	cases := []struct {
		name string
		got  []byte
		want []byte
	}{
		{"signed last byte", Dot(lo, hi), sha256Of(append(append([]byte{}, lo...), hi...))},
		{"signed last byte, swapped", Dot(hi, lo), sha256Of(append(append([]byte{}, lo...), hi...))},
		{"tie broken at index 0", Dot(tieHi, tieLo), sha256Of(append(append([]byte{}, tieLo...), tieHi...))},
		{"equal operands", Dot(a, a), sha256Of(append(append([]byte{}, a...), a...))},
		{"commutative", Dot(a, b), Dot(b, a)},
		{"empty left is identity", Dot(nil, a), a},
		{"empty right is identity", Dot(a, []byte{}), a},
		{"both empty", Dot(nil, nil), nil},
	}
	for _, tc := range cases {
		if !bytes.Equal(tc.got, tc.want) {
			t.Errorf("%s: got %x, want %x", tc.name, tc.got, tc.want)
		}
	}
	c := h("c")
	if bytes.Equal(Dot(Dot(a, b), c), Dot(a, Dot(b, c))) {
		t.Error("Dot happened to be associative on a, b, c")
	}
	before := bytes.Clone(a)
	_ = Dot(a, b)
	if !bytes.Equal(a, before) {
		t.Error("Dot modified its operand")
	}
}

func leaves(n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = HashString(fmt.Sprint("leaf", i))
	}
	return out
}

func TestMerkleRoot(t *testing.T) {
	l := leaves(5)
	cases := []struct {
		name string
		in   [][]byte
		want []byte
	}{
		{"empty", nil, nil},
		{"one", l[:1], l[0]},
		{"two", l[:2], Dot(l[0], l[1])},
		{"three promotes the last", l[:3], Dot(Dot(l[0], l[1]), l[2])},
		{"four", l[:4], Dot(Dot(l[0], l[1]), Dot(l[2], l[3]))},
		{"five", l, Dot(Dot(Dot(l[0], l[1]), Dot(l[2], l[3])), l[4])},
	}
	for _, tc := range cases {
		if got := MerkleRoot(tc.in); !bytes.Equal(got, tc.want) {
			t.Errorf("%s: got %x, want %x", tc.name, got, tc.want)
		}
	}
}

func TestAuditPathFolds(t *testing.T) {
	for n := 1; n <= 40; n++ {
		l := leaves(n)
		root := MerkleRoot(l)
		for i := 0; i < n; i++ {
			p := AuditPath(l, i)
			if got := Fold(l[i], p); !bytes.Equal(got, root) {
				t.Fatalf("n=%d i=%d: fold %x != root %x", n, i, got, root)
			}
			if n == 1 && p != nil {
				t.Fatalf("single node has a path %v", p)
			}
		}
	}
	l := leaves(5)
	if p := AuditPath(l, 4); len(p) != 1 || !bytes.Equal(p[0], MerkleRoot(l[:4])) {
		t.Errorf("promoted leaf path = %x", p)
	}
	if p := AuditPath(l, 5); p != nil {
		t.Errorf("out-of-range path = %x", p)
	}
	if p := AuditPath(l, -1); p != nil {
		t.Errorf("negative index path = %x", p)
	}
}

// TestRealProofFolds folds the CLI GetRevision and GetBlock proofs of
// vehicle-registration block 100 to the GetDigest digest (§3.7).
func TestRealProofFolds(t *testing.T) {
	b64 := func(ss ...string) [][]byte {
		var out [][]byte
		for _, s := range ss {
			out = append(out, mustB64(t, s))
		}
		return out
	}
	ledger := b64("l3+EXs69K1+rehlqyWLkt+oHDlw4Zi9pCLW/t/mgTPM=", "48CXG3ehPqsxCYd34EEa8Fso0ORpWWAO8010RJKf3Do=",
		"9UnwnKSQT0i3ge1JMVa+tMIqCEDaOPTkWxmyHSn8UPQ=", "3nW6Vryghk+7pd6wFCtLufgPM6qXHyTNeCb1sCwcDaI=",
		"Irb5fNhBrNEQ1VPhzlnGT/ZQPadSmgfdtMYcwkNOxoI=", "+3CWpYG/ytf/vq9GidpzSx6JJiLXt1hMQWNnqOy3jfY=",
		"NPx6cRhwsiy5m9UEWS5JTJrZoUdO2jBOAAOmyZAT+qE=")
	revProof := append(b64("eRSwnmAM7WWANWDd5iGOyK+T4tDXyzUq6HZ/0fgLHos=", "VV1rdaNuf+yJZVGlmsM6gr2T52QvBO8Lg+KgpjcnWAU=",
		"7kewBXhpdbClcZKxhVmpoMHpUGOJtWQD0iY2LPfZkYA="), ledger...)
	digest := mustB64(t, "6m6BMXobbJKpMhahwVthAEsN6awgnHK62Qq5McGP1Gk=")
	revision := mustB64(t, "mHVex/yjHAWjFPpwhBuH2GKXmKJjK2FBa9faqoUVNtg=")
	block := mustB64(t, "NoChM92yKRuJAb/jeLd1VnYn4DHiWIf071ACfic9uHc=")
	if got := Fold(revision, revProof); !bytes.Equal(got, digest) {
		t.Errorf("revision proof folds to %x", got)
	}
	if got := Fold(block, ledger); !bytes.Equal(got, digest) {
		t.Errorf("block proof folds to %x", got)
	}
	// The first three revision-proof entries are the entries-tree siblings
	// and previousBlockHash: entriesHashList [eRSw, mHVe, y5cC, TvTX].
	entries := b64("eRSwnmAM7WWANWDd5iGOyK+T4tDXyzUq6HZ/0fgLHos=", "mHVex/yjHAWjFPpwhBuH2GKXmKJjK2FBa9faqoUVNtg=",
		"y5cCBr7pOAIUfsVQ1j0TqtE97b4b4oo1R0vnYyE5wWM=", "TvTXygML1bMe6NvEZtGkX+KR+W/EJl4qD1mmV77KZQg=")
	path := AuditPath(entries, 1)
	if len(path) != 2 || !bytes.Equal(path[0], revProof[0]) || !bytes.Equal(path[1], revProof[1]) {
		t.Errorf("AuditPath(entries, 1) = %x, want the first two proof entries", path)
	}
	if got := MerkleRoot(entries); base64.StdEncoding.EncodeToString(got) != "l05LOsiKV14SDbuaYnH7uwXzUvqzIwUiRLXGbTyj/nY=" {
		t.Errorf("entriesHash = %s", base64.StdEncoding.EncodeToString(got))
	}
}

func TestCommitDigestSumIsACopy(t *testing.T) {
	d := NewCommitDigest("tx")
	s := d.Sum()
	s[0] ^= 0xff
	if bytes.Equal(s, d.Sum()) {
		t.Error("Sum returned the internal slice")
	}
}

func TestCheckHash(t *testing.T) {
	if err := CheckHash(HashString("x")); err != nil {
		t.Error(err)
	}
	if err := CheckHash(make([]byte, 31)); !errors.Is(err, ErrLength) {
		t.Errorf("CheckHash(31 bytes) = %v", err)
	}
}

// benchDoc is a ~1 KB document shaped like a QLDB revision.
func benchDoc(b *testing.B) *ionvalue.Value {
	var sb strings.Builder
	sb.WriteString(`{VIN:"1N4AL11D75C109151",LicensePlateNumber:"LEWISR261LL",State:"WA",City:"Everett",` +
		`PendingPenaltyTicketAmount:90.25,ValidFromDate:2017-08-21,ValidToDate:2020-05-11,` +
		`Owners:{PrimaryOwner:{PersonId:"BFJKdXhnLRT27sXBnojNGW"},SecondaryOwners:[`)
	for i := 0; i < 12; i++ {
		if i > 0 {
			sb.WriteString(",")
		}
		fmt.Fprintf(&sb, `{PersonId:"CMVdR77XP8zAglmmFDGT%02d",Since:2019-09-16T19:37:05.344Z,Share:%d}`, i, i)
	}
	sb.WriteString(`]},Notes:"` + strings.Repeat("x", 200) + `"}`)
	v := testenv.Ion(b, sb.String())
	bin, err := ionvalue.MarshalBinary(v)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(bin)))
	return v
}

func BenchmarkHash1KB(b *testing.B) {
	v := benchDoc(b)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		Hash(v)
	}
}

func BenchmarkHashIon1KB(b *testing.B) {
	bin, err := ionvalue.MarshalBinary(benchDoc(b))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := HashIon(bin); err != nil {
			b.Fatal(err)
		}
	}
}

// HashIon is HashIonValue without the value, for tests.
func HashIon(b []byte) ([]byte, error) {
	_, sum, _, err := hashIon(b)
	return sum, err
}
