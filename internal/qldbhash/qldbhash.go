// Package qldbhash computes QLDB's hashes: the Ion hash (SHA-256) of values,
// QLDB's non-associative "dot" combination of two hashes, Merkle roots and
// audit paths over lists of hashes, statement hashes and the commit digest
// that the QLDB drivers send with CommitTransaction.
//
// Ion hashes are computed by an in-house serializer (value.go) that walks
// the ionvalue tree and feeds SHA-256 directly. It is byte-identical to
// github.com/amzn/ion-hash-go, the library the QLDB Go driver uses: that
// library is kept as the reference path (hashReference, hashIonReference) and
// the differential tests and fuzz targets compare the two.
package qldbhash

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"

	"github.com/amzn/ion-go/ion"
	ionhash "github.com/amzn/ion-hash-go"

	"github.com/strand-db/strand/internal/ionvalue"
)

// Size is the length in bytes of every QLDB hash (SHA-256).
const Size = sha256.Size

// HashValue returns the 32-byte Ion hash (ion-hash spec, SHA-256) of v,
// annotations included. Struct field order does not change the hash. It fails
// only for values ionvalue cannot write (nil children, a decimal without a
// Decimal, field names or annotations of the form $<digits>, which wrap
// ionvalue.ErrSymbolIDText, and non-null values of an unknown type). The
// result is byte-identical to ion-hash-go's HashWriter over v.WriteTo.
func HashValue(v *ionvalue.Value) ([]byte, error) {
	sum, err := fastSum(v, false)
	if err != nil {
		return nil, fmt.Errorf("qldbhash: hash: %w", err)
	}
	return sum[:], nil
}

// hashReference is HashValue computed by ion-hash-go's HashWriter over
// v.WriteTo: the reference the fast path is tested against.
func hashReference(v *ionvalue.Value) ([]byte, error) {
	hw, err := ionhash.NewHashWriter(&nopWriter{}, ionhash.NewCryptoHasherProvider(ionhash.SHA256))
	if err != nil {
		return nil, fmt.Errorf("qldbhash: %w", err)
	}
	if err := v.WriteTo(hw); err != nil {
		return nil, fmt.Errorf("qldbhash: hash: %w", err)
	}
	sum, err := hw.Sum(nil)
	if err != nil {
		return nil, fmt.Errorf("qldbhash: hash: %w", err)
	}
	return sum, nil
}

// Hash returns the 32-byte Ion hash of v, like HashValue. It panics when v
// cannot be hashed (see HashValue); callers holding untrusted values should
// validate them first (ionvalue.MarshalBinary fails for the same values) or
// use HashValue.
func Hash(v *ionvalue.Value) []byte {
	h, err := HashValue(v)
	if err != nil {
		panic(err)
	}
	return h
}

// HashString returns the Ion hash of the Ion string s: H(ion_string(s)),
// equal to Hash(ionvalue.String(s)). s need not be valid UTF-8: its bytes are
// hashed as they are.
func HashString(s string) []byte {
	sum := fastHashString(s)
	return sum[:]
}

// HashIonValue returns the Ion hash of the single value held by the Ion
// stream b (binary when it starts with the Ion version marker, text
// otherwise), equal to what ion-hash-go's HashReader computes over b, which
// is how the QLDB driver hashes statement parameters, and that value,
// decoded by ionvalue.DecodeOne, so that a caller needing both decodes b
// once. Local symbol tables and the version marker do not change the hash.
// It is an error for b to hold no value or more than one, and it fails when
// either decoding or hashing fails.
//
// b is decoded with ionvalue and hashed by the fast path. ionvalue spells a
// symbol whose text is unknown as "$<sid>", which the reference hashes
// differently (and rejects in field names), so a value with any symbol text
// of that form, and any input ionvalue cannot decode, goes through the
// reference reader instead, so all other errors come from the reference.
//
// Binary input whose structure does not hold together (a value declaring
// more bytes than its container holds, at any level) is rejected before any
// Ion reader sees it: ion-go would try to allocate the declared length, and
// a tiny input can declare terabytes (see ionvalue.ForIonGo). Input nested deeper than ionvalue.MaxDepth is
// refused too (an error wrapping ionvalue.ErrTooDeep), since ion-hash-go's
// reader recurses once per level. These are the cases where this hash and
// ion-hash-go differ: the library accepts a truncated top-level container,
// or dies.
func HashIonValue(b []byte) (*ionvalue.Value, []byte, error) {
	v, sum, decodeErr, err := hashIon(b)
	if err != nil {
		return nil, nil, err
	}
	if decodeErr != nil {
		return nil, nil, fmt.Errorf("qldbhash: hash Ion: %w", decodeErr)
	}
	return v, sum, nil
}

// hashIon computes HashIonValue(b). v is b's value decoded by ionvalue, or nil
// with decodeErr set when ionvalue cannot decode it (the hash then comes from
// the reference, which may still succeed).
func hashIon(b []byte) (v *ionvalue.Value, sum []byte, decodeErr, err error) {
	// forIonGo is b as the reference (ion-go) may read it: structure
	// checked, sorted structs re-marked (see ionvalue.ForIonGo).
	forIonGo, err := ionvalue.ForIonGo(b)
	if err != nil {
		err = fmt.Errorf("qldbhash: hash Ion: %w", err)
		return nil, nil, err, err
	}
	v, decodeErr = ionvalue.DecodeOne(b)
	if errors.Is(decodeErr, ionvalue.ErrTooDeep) {
		// ion-hash-go's reader recurses once per level and would overflow
		// the stack on the input that ionvalue just refused.
		err = fmt.Errorf("qldbhash: hash Ion: %w", decodeErr)
		return nil, nil, err, err
	}
	if decodeErr != nil {
		sum, err = hashIonReference(forIonGo)
		return nil, sum, decodeErr, err
	}
	fast, ferr := fastSum(v, true)
	if ferr != nil {
		// Symbol text of the form $<digits>: only the reader knows whether
		// it is text or a symbol id without text.
		sum, err = hashIonReference(forIonGo)
		return v, sum, nil, err
	}
	return v, fast[:], nil, nil
}

// hashIonReference is HashIonValue's hash computed by ion-hash-go's HashReader over b:
// the reference the fast path is tested against, and the fallback for the
// inputs the fast path leaves to it.
func hashIonReference(b []byte) (sum []byte, err error) {
	defer func() {
		if p := recover(); p != nil { // ion-go panics on some malformed binary
			sum, err = nil, fmt.Errorf("qldbhash: hash Ion: %w: %v", ionvalue.ErrMalformed, p)
		}
	}()
	hr, err := ionhash.NewHashReader(&depthReader{Reader: ion.NewReaderBytes(b)}, ionhash.NewCryptoHasherProvider(ionhash.SHA256))
	if err != nil {
		return nil, fmt.Errorf("qldbhash: %w", err)
	}
	n := 0
	for hr.Next() {
		n++
	}
	if err := hr.Err(); err != nil {
		return nil, fmt.Errorf("qldbhash: hash Ion: %w", err)
	}
	if n != 1 {
		return nil, fmt.Errorf("qldbhash: hash Ion: want exactly one value, got %d", n)
	}
	if sum, err = hr.Sum(nil); err != nil {
		return nil, fmt.Errorf("qldbhash: hash Ion: %w", err)
	}
	return sum, nil
}

// depthReader is an ion.Reader that refuses to step into a container deeper
// than ionvalue.MaxDepth. ion-hash-go's reader recurses once per level, so
// hashIonReference must not depend on ionvalue having refused deep input
// first.
type depthReader struct {
	ion.Reader
	depth int
}

// StepIn steps into the current container unless that would exceed
// ionvalue.MaxDepth (an error wrapping ionvalue.ErrTooDeep).
func (r *depthReader) StepIn() error {
	if r.depth >= ionvalue.MaxDepth {
		return fmt.Errorf("%w of %d", ionvalue.ErrTooDeep, ionvalue.MaxDepth)
	}
	if err := r.Reader.StepIn(); err != nil {
		return err
	}
	r.depth++
	return nil
}

// StepOut steps out of the current container.
func (r *depthReader) StepOut() error {
	if err := r.Reader.StepOut(); err != nil {
		return err
	}
	r.depth--
	return nil
}

// Dot combines two hashes the way QLDB does (the driver's and the Java
// verifier's dot): an empty operand is the identity (Dot(nil, b) = b,
// Dot(a, nil) = a); otherwise the two are compared as signed bytes starting
// from the last byte, and the result is SHA-256(a||b) when a sorts first and
// SHA-256(b||a) otherwise. Dot is commutative but not associative. QLDB hashes
// are always 32 bytes; for other lengths Dot still returns a deterministic
// hash (comparing the trailing bytes they share) but matches nothing QLDB
// computes. The result never aliases a or b unless one operand is empty.
func Dot(a, b []byte) []byte {
	if len(a) == 0 {
		return b
	}
	if len(b) == 0 {
		return a
	}
	if len(a) == Size && len(b) == Size {
		sum := dot((*[Size]byte)(a), (*[Size]byte)(b))
		return sum[:]
	}
	h := sha256.New()
	if compareSigned(a, b) < 0 {
		h.Write(a)
		h.Write(b)
	} else {
		h.Write(b)
		h.Write(a)
	}
	return h.Sum(nil)
}

// dot is Dot for two 32-byte hashes, without allocating.
func dot(a, b *[Size]byte) [Size]byte {
	var pair [2 * Size]byte
	if compareSigned(a[:], b[:]) < 0 {
		copy(pair[:Size], a[:])
		copy(pair[Size:], b[:])
	} else {
		copy(pair[:Size], b[:])
		copy(pair[Size:], a[:])
	}
	return sha256.Sum256(pair[:])
}

// compareSigned compares a and b as int8 values from their last bytes
// backwards, over the bytes they share at the end.
func compareSigned(a, b []byte) int {
	for i, j := len(a)-1, len(b)-1; i >= 0 && j >= 0; i, j = i-1, j-1 {
		if d := int(int8(a[i])) - int(int8(b[j])); d != 0 {
			return d
		}
	}
	return 0
}

// MerkleRoot returns the root of QLDB's Merkle tree over hashes, in list
// order: adjacent pairs are combined with Dot level by level, and an odd last
// node is promoted unchanged to the next level. The root of one hash is that
// hash; the root of none is nil (which Dot treats as the identity).
func MerkleRoot(hashes [][]byte) []byte {
	if len(hashes) == 0 {
		return nil
	}
	level := hashes
	for len(level) > 1 {
		level = nextLevel(level)
	}
	return level[0]
}

// nextLevel combines adjacent pairs of level with Dot, promoting an odd last
// node; it never modifies level.
func nextLevel(level [][]byte) [][]byte {
	next := make([][]byte, 0, (len(level)+1)/2)
	for i := 0; i < len(level); i += 2 {
		if i+1 < len(level) {
			next = append(next, Dot(level[i], level[i+1]))
		} else {
			next = append(next, level[i])
		}
	}
	return next
}

// AuditPath returns the proof for leaf idx of the tree MerkleRoot builds over
// nodes: the sibling hashes from the bottom up, skipping levels where the node
// is promoted without a sibling. Fold(nodes[idx], AuditPath(nodes, idx)) equals
// MerkleRoot(nodes). It returns nil for a single node and for an idx out of
// range.
func AuditPath(nodes [][]byte, idx int) [][]byte {
	if idx < 0 || idx >= len(nodes) {
		return nil
	}
	var path [][]byte
	level := nodes
	for len(level) > 1 {
		if idx%2 == 0 {
			if idx+1 < len(level) {
				path = append(path, level[idx+1])
			}
		} else {
			path = append(path, level[idx-1])
		}
		level = nextLevel(level)
		idx /= 2
	}
	return path
}

// Fold recomputes a root from a leaf and its proof the way QLDB's verifiers
// do: candidate = leaf, then candidate = Dot(candidate, p) for each p in order.
func Fold(leaf []byte, proof [][]byte) []byte {
	c := leaf
	for _, p := range proof {
		c = Dot(c, p)
	}
	return c
}

// StatementHash returns the QLDB driver's per-statement hash, which is also
// what QLDB records as statementDigest: H(ion_string(statement)) dotted with
// the Ion hash of each parameter, in order. statement must be the text
// exactly as sent (with its ? placeholders). It panics like Hash when a
// parameter cannot be hashed.
func StatementHash(statement string, params []*ionvalue.Value) []byte {
	h := fastHashString(statement)
	for _, p := range params {
		ph, err := fastSum(p, false)
		if err != nil {
			panic(fmt.Errorf("qldbhash: hash: %w", err))
		}
		h = dot(&h, &ph)
	}
	return h[:]
}

// CommitDigest accumulates a transaction's commit digest exactly as the QLDB
// driver does: it starts as H(ion_string(transactionId)) and every executed
// statement's StatementHash is dotted into it in execution order. A
// CommitDigest is not safe for concurrent use.
type CommitDigest struct {
	sum []byte
}

// NewCommitDigest starts the commit digest of transaction txID.
func NewCommitDigest(txID string) *CommitDigest {
	return &CommitDigest{sum: HashString(txID)}
}

// Add folds one statement hash (see StatementHash) into the digest.
func (d *CommitDigest) Add(statementHash []byte) {
	d.sum = Dot(d.sum, statementHash)
}

// Sum returns a copy of the current digest (32 bytes).
func (d *CommitDigest) Sum() []byte {
	return bytes.Clone(d.sum)
}

// ErrLength is returned (wrapped) by CheckHash for a hash that is not Size
// bytes long.
var ErrLength = errors.New("qldbhash: hash is not 32 bytes")

// CheckHash returns nil when h is a well-formed QLDB hash (Size bytes) and an
// error wrapping ErrLength otherwise.
func CheckHash(h []byte) error {
	if len(h) != Size {
		return fmt.Errorf("%w: got %d bytes", ErrLength, len(h))
	}
	return nil
}
