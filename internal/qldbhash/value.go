package qldbhash

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"unsafe"

	"github.com/amzn/ion-go/ion"

	"github.com/strand-db/strand/internal/ionvalue"
)

// This file computes Ion hashes (the ion-hash spec with SHA-256) straight from
// an ionvalue tree. The result is byte-identical to what ion-hash-go v1.1.2
// computes over the same value (hashReference / hashIonReference, kept for
// the differential tests), including that library's quirks, which are noted
// where they matter:
//
//   - every scalar is 0x0B TQ escape(representation) 0x0E, where the
//     representation is the body (no type/length header) of the value's Ion
//     binary encoding as ion-go's binary writer produces it;
//   - the TQ is the binary type code in the high nibble with a zero low
//     nibble, except bool (0x10/0x11), nulls (T|0x0F) and symbols, which are
//     hashed as strings with TQ 0x70;
//   - containers are 0x0B TQ children 0x0E; struct children are the field
//     hashes SHA-256(s(name as symbol) || s(value)), sorted bytewise and
//     escaped;
//   - annotations wrap the value: 0x0B 0xE0 s(ann1)...s(annN) s(value) 0x0E;
//   - escape() puts 0x0C before every 0x0B, 0x0C and 0x0E byte.
//
// The whole serialized form of a value is appended to one pooled buffer and
// hashed with a single sha256.Sum256 call; a struct field is serialized past
// the end of the buffer, hashed and cut off again, so no hash.Hash objects
// and no per-value buffers are allocated.

// Ion hash framing bytes: begin marker, end marker, escape, and the TQ of
// an annotation wrapper.
const (
	beginMarker  = 0x0B
	endMarker    = 0x0E
	escapeMarker = 0x0C
	annotationTQ = 0xE0
)

// nanFloatBits is the 64-bit pattern ion-hash-go hashes for every NaN: ion-go
// writes NaN as the 32-bit quiet NaN 7FC00000 and ion-hash-go widens 32-bit
// floats to 64 bits. It is computed the way the library computes it rather
// than written as a constant.
var nanFloatBits = math.Float64bits(float64(math.Float32frombits(0x7FC00000)))

// maxPooledBuffer and maxPooledDigests bound the scratch space returned to
// the pool; bigger scratch (from hashing a huge value) is left to the garbage
// collector.
const (
	maxPooledBuffer  = 1 << 20
	maxPooledDigests = 1 << 14
)

// hashState is the scratch space of one hash computation.
type hashState struct {
	buf     []byte       // serialized form of the value being hashed
	digests [][Size]byte // field hashes of the open structs, innermost last
	tmp     []byte       // big-int magnitudes
	// ionMode is set by HashIonValue: any symbol text of the form $<digits> (which
	// ionvalue.Read also uses for symbols whose text is unknown) aborts with
	// errFallback so that the caller can use the reference reader.
	ionMode bool
	// depth is the number of containers open around the value being hashed.
	depth int
}

var statePool = sync.Pool{New: func() any { return &hashState{buf: make([]byte, 0, 1024)} }}

// errFallback reports (in ionMode only) a value that the fast path cannot
// hash with certainty from its ionvalue form.
var errFallback = errors.New("qldbhash: value needs the reference hasher")

// errNilValue is returned for a nil *ionvalue.Value (also inside containers).
var errNilValue = errors.New("nil value")

// fastSum returns the Ion hash of v. It fails, like ionvalue.WriteTo, for a
// nil value (anywhere in the tree), a non-null decimal with a nil Decimal or
// a nil coefficient, a field name or annotation of the form $<digits>
// (wrapping ionvalue.ErrSymbolIDText), a value nested deeper than
// ionvalue.MaxStoredDepth (wrapping ionvalue.ErrTooDeep) and a non-null value
// of an unknown type. With ionMode it fails with errFallback for symbol text of the form
// $<digits> in any position.
func fastSum(v *ionvalue.Value, ionMode bool) ([Size]byte, error) {
	s := statePool.Get().(*hashState)
	s.buf = s.buf[:0]
	s.digests = s.digests[:0]
	s.ionMode = ionMode
	s.depth = 0
	var sum [Size]byte
	err := s.value(v)
	if err == nil {
		sum = sha256.Sum256(s.buf)
	}
	s.release()
	return sum, err
}

// release returns s to the pool unless it grew too big to keep.
func (s *hashState) release() {
	if cap(s.buf) <= maxPooledBuffer && cap(s.digests) <= maxPooledDigests {
		statePool.Put(s)
	}
}

// fastHashString returns H(ion_string(str)) without building a Value.
func fastHashString(str string) [Size]byte {
	s := statePool.Get().(*hashState)
	s.buf = append(s.buf[:0], beginMarker, 0x80)
	s.buf = appendEscaped(s.buf, str)
	s.buf = append(s.buf, endMarker)
	sum := sha256.Sum256(s.buf)
	s.release()
	return sum
}

// value appends s(v), annotations included.
func (s *hashState) value(v *ionvalue.Value) error {
	if v == nil {
		return errNilValue
	}
	anns := v.Annotations
	if len(anns) > 0 {
		for _, a := range anns {
			if isSymbolID(a) {
				if s.ionMode {
					return errFallback
				}
				return fmt.Errorf("annotation %q: %w", a, ionvalue.ErrSymbolIDText)
			}
		}
		s.buf = append(s.buf, beginMarker, annotationTQ)
		for _, a := range anns {
			s.symbol(a)
		}
	}
	if err := s.bare(v); err != nil {
		return err
	}
	if len(anns) > 0 {
		s.buf = append(s.buf, endMarker)
	}
	return nil
}

// symbol appends s(text) for a symbol with known text: symbols are hashed as
// strings with TQ 0x70.
func (s *hashState) symbol(text string) {
	s.buf = append(s.buf, beginMarker, 0x70)
	s.buf = appendEscaped(s.buf, text)
	s.buf = append(s.buf, endMarker)
}

// scalar appends 0x0B tq escape(repr) 0x0E.
func (s *hashState) scalar(tq byte, repr []byte) {
	s.buf = append(s.buf, beginMarker, tq)
	s.buf = appendEscapedBytes(s.buf, repr)
	s.buf = append(s.buf, endMarker)
}

// bare appends s(v) without v's annotations.
func (s *hashState) bare(v *ionvalue.Value) error {
	t := v.Type
	if t == ion.NullType || t == ion.NoType {
		s.buf = append(s.buf, beginMarker, 0x0F, endMarker)
		return nil
	}
	if v.IsNull {
		s.buf = append(s.buf, beginMarker, nullTQ(t), endMarker)
		return nil
	}
	switch t {
	case ion.ListType, ion.SexpType, ion.StructType:
		if s.depth >= ionvalue.MaxStoredDepth {
			return fmt.Errorf("%w of %d", ionvalue.ErrTooDeep, ionvalue.MaxStoredDepth)
		}
		s.depth++
		defer func() { s.depth-- }()
	}
	switch t {
	case ion.BoolType:
		tq := byte(0x10)
		if v.Bool {
			tq = 0x11
		}
		s.buf = append(s.buf, beginMarker, tq, endMarker)
	case ion.IntType:
		s.int(v)
	case ion.FloatType:
		s.float(v.Float)
	case ion.DecimalType:
		return s.decimal(v.Decimal)
	case ion.TimestampType:
		s.timestamp(v.Time)
	case ion.SymbolType:
		if s.ionMode && isSymbolID(v.Text) {
			return errFallback
		}
		s.symbol(v.Text)
	case ion.StringType:
		s.buf = append(s.buf, beginMarker, 0x80)
		s.buf = appendEscaped(s.buf, v.Text)
		s.buf = append(s.buf, endMarker)
	case ion.ClobType:
		s.scalar(0x90, v.Bytes)
	case ion.BlobType:
		s.scalar(0xA0, v.Bytes)
	case ion.ListType, ion.SexpType:
		tq := byte(0xB0)
		if t == ion.SexpType {
			tq = 0xC0
		}
		s.buf = append(s.buf, beginMarker, tq)
		for i, e := range v.Elems {
			if err := s.value(e); err != nil {
				return wrapChild(err, "element %d", i)
			}
		}
		s.buf = append(s.buf, endMarker)
	case ion.StructType:
		return s.structure(v.Fields)
	default:
		return fmt.Errorf("unknown Ion type %v", t)
	}
	return nil
}

// wrapChild adds the position of a failing child to err; errFallback and
// ErrTooDeep (whose path would be as long as the limit) are passed through
// unchanged.
func wrapChild(err error, format string, arg any) error {
	if err == errFallback || errors.Is(err, ionvalue.ErrTooDeep) {
		return err
	}
	return fmt.Errorf(format+": %w", arg, err)
}

// nullTQ is the TQ of a typed null of type t (not NullType or NoType): the
// binary type code in the high nibble and 0xF in the low one. ion-go's Type
// enum equals the binary type code except that null, bool and int are one
// higher; the formula is ion-hash-go's, applied to any t.
func nullTQ(t ion.Type) byte {
	code := byte(t)
	if t <= ion.IntType {
		code = byte(t - 1)
	}
	return code<<4 | 0x0F
}

// int appends an int: TQ 0x20 (>= 0) or 0x30 (< 0) and the magnitude as an
// Ion UInt (nothing for 0).
func (s *hashState) int(v *ionvalue.Value) {
	if b := v.BigInt; b != nil {
		tq := byte(0x20)
		if b.Sign() < 0 {
			tq = 0x30
		}
		s.tmp = ionvalue.AppendBigUint(s.tmp[:0], b)
		s.scalar(tq, s.tmp)
		return
	}
	n := v.Int
	tq := byte(0x20)
	mag := uint64(n)
	if n < 0 {
		tq = 0x30
		mag = -mag
	}
	var b [8]byte
	s.scalar(tq, ionvalue.AppendUint(b[:0], mag))
}

// float appends a float: positive zero has an empty representation, NaN is
// always nanFloatBits and everything else its 8-byte IEEE 754 form (the
// library widens ion-go's 4-byte encoding, which is exact for the values
// that get one).
func (s *hashState) float(f float64) {
	if f == 0 && !math.Signbit(f) {
		s.buf = append(s.buf, beginMarker, 0x40, endMarker)
		return
	}
	if math.IsNaN(f) {
		f = math.Float64frombits(nanFloatBits)
	}
	var b [8]byte
	s.scalar(0x40, ionvalue.AppendFloat64(b[:0], f))
}

// decimal appends a decimal as ion-go writes it (ionvalue.AppendDecimal,
// with its negative zero rule).
func (s *hashState) decimal(d *ion.Decimal) error {
	if d == nil {
		return errors.New("decimal value without a Decimal")
	}
	if coef, _ := d.CoEx(); coef == nil {
		return errors.New("decimal value without a coefficient")
	}
	s.tmp = ionvalue.AppendDecimal(s.tmp[:0], d)
	s.scalar(0x50, s.tmp)
	return nil
}

// timestamp appends a timestamp as ion-go's binary writer encodes it
// (ionvalue.AppendTimestamp).
func (s *hashState) timestamp(ts ion.Timestamp) {
	var rb [48]byte
	s.scalar(0x60, ionvalue.AppendTimestamp(rb[:0], ts))
}

// structure appends a struct: the sorted, escaped hashes of its fields.
func (s *hashState) structure(fields []ionvalue.Field) error {
	s.buf = append(s.buf, beginMarker, 0xD0)
	first := len(s.digests)
	for _, f := range fields {
		if isSymbolID(f.Name) {
			if s.ionMode {
				return errFallback
			}
			return fmt.Errorf("field name %q: %w", f.Name, ionvalue.ErrSymbolIDText)
		}
		mark := len(s.buf)
		s.symbol(f.Name)
		if err := s.value(f.Value); err != nil {
			return wrapChild(err, "field %q", f.Name)
		}
		s.digests = append(s.digests, sha256.Sum256(s.buf[mark:]))
		s.buf = s.buf[:mark]
	}
	ds := s.digests[first:]
	if len(ds) > 1 {
		slices.SortFunc(ds, func(a, b [Size]byte) int { return bytes.Compare(a[:], b[:]) })
	}
	for i := range ds {
		s.buf = appendEscapedBytes(s.buf, ds[i][:])
	}
	s.digests = s.digests[:first]
	s.buf = append(s.buf, endMarker)
	return nil
}

// isSymbolID reports whether s has the form $<digits> (ionvalue's spelling of
// a symbol whose text is unknown, and text ion-go's writer mistakes for one).
func isSymbolID(s string) bool {
	if len(s) < 2 || s[0] != '$' {
		return false
	}
	for i := 1; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// appendEscapedBytes appends p with a 0x0C before every 0x0B, 0x0C and 0x0E.
func appendEscapedBytes(dst, p []byte) []byte {
	if len(p) > 64 {
		// The string aliases p only for the duration of the call.
		return appendEscapedLong(dst, unsafe.String(unsafe.SliceData(p), len(p)))
	}
	if !hasSpecial(p) {
		return append(dst, p...)
	}
	n := len(dst)
	dst = slices.Grow(dst, 2*len(p))[:n+2*len(p)]
	for _, c := range p {
		if isSpecial(c) {
			dst[n] = escapeMarker
			n++
		}
		dst[n] = c
		n++
	}
	return dst[:n]
}

// appendEscaped is appendEscapedBytes for a string.
func appendEscaped(dst []byte, s string) []byte {
	if len(s) > 64 {
		return appendEscapedLong(dst, s)
	}
	// The slice aliases s and is only read.
	return appendEscapedBytes(dst, unsafe.Slice(unsafe.StringData(s), len(s)))
}

// isSpecial reports whether c must be escaped (0x0B, 0x0C or 0x0E).
func isSpecial(c byte) bool {
	return c == beginMarker || c == endMarker || c == escapeMarker
}

// Byte-parallel search constants: the special bytes and the SWAR masks.
const (
	swarOnes  = 0x0101010101010101
	swarHighs = 0x8080808080808080
	swarBegin = beginMarker * swarOnes
	swarEsc   = escapeMarker * swarOnes
	swarEnd   = endMarker * swarOnes
)

// hasSpecial reports whether p holds a byte that must be escaped, testing
// eight bytes at a time (a word has a zero byte exactly when
// (w-0x01..)&^w&0x80.. is non-zero).
func hasSpecial(p []byte) bool {
	for len(p) >= 8 {
		w := binary.LittleEndian.Uint64(p)
		a, b, c := w^swarBegin, w^swarEsc, w^swarEnd
		if ((a-swarOnes)&^a|(b-swarOnes)&^b|(c-swarOnes)&^c)&swarHighs != 0 {
			return true
		}
		p = p[8:]
	}
	for _, c := range p {
		if isSpecial(c) {
			return true
		}
	}
	return false
}

// appendEscapedLong escapes a long input with vectorised byte searches: it
// tracks the next position of each of the three special bytes and copies the
// runs between them, so every byte is scanned O(1) times whatever the input.
func appendEscapedLong(dst []byte, p string) []byte {
	n := len(p)
	next := func(from int, c byte) int {
		if i := strings.IndexByte(p[from:], c); i >= 0 {
			return from + i
		}
		return n
	}
	nb, nc, ne := next(0, beginMarker), next(0, escapeMarker), next(0, endMarker)
	pos := 0
	for {
		k := min(nb, nc, ne)
		if k == n {
			return append(dst, p[pos:]...)
		}
		dst = append(dst, p[pos:k]...)
		dst = append(dst, escapeMarker, p[k])
		pos = k + 1
		switch k {
		case nb:
			nb = next(pos, beginMarker)
		case nc:
			nc = next(pos, escapeMarker)
		default:
			ne = next(pos, endMarker)
		}
	}
}
