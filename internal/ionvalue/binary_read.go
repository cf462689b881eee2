package ionvalue

import (
	"encoding/binary"
	"math"
	"math/big"
	"time"
	"unicode/utf8"

	"github.com/amzn/ion-go/ion"
)

// This file is Strand's own decoder for the Ion binary it stores (journal
// blocks, committed revisions and stream records). Decoding through ion-go's
// reader costs about 50 µs and 400 allocations for a small block; this
// decoder builds the same Value tree in a few microseconds and a handful of
// allocations.
//
// It is deliberately partial: it accepts only input it decodes exactly as
// the ion-go based reader (decodeOne at MaxStoredDepth) would, value for
// value (the tests check this with reflect.DeepEqual, and by fuzzing), and
// gives up on anything else: shared symbol table imports, timestamps with a
// non-zero offset, big integers, a negative-int encoding of zero, text that
// is not valid UTF-8, containers deeper than MaxStoredDepth, or malformed
// input. A Decoder then falls back to the ion-go based reader, so results
// and errors are always that reader's.

// A Decoder decodes stored Ion as DecodeStored does (the same values and the
// same errors), reusing its memory from one Decode to the next: the values,
// element lists and field lists of a decoded tree are carved from slabs that
// the next Decode overwrites. A value is therefore valid only until the
// Decoder's next Decode (the strings and byte slices in it stay valid for
// good). The zero Decoder is ready to use; a Decoder is not safe for
// concurrent use.
type Decoder struct {
	d     binaryDecoder
	slabs slabs
}

// Decode decodes b, which must hold exactly one top-level value (Ion binary
// or text, as for DecodeStored, with MaxStoredDepth as the depth limit).
func (dec *Decoder) Decode(b []byte) (*Value, error) {
	dec.d.keep = &dec.slabs
	if v, ok := dec.d.decode(b); ok {
		return v, nil
	}
	return decodeOne(b, MaxStoredDepth)
}

// decodeBinary decodes b when it is binary Ion holding exactly one user
// value that binaryDecoder supports. The result does not share memory with
// b or with any other decode.
func decodeBinary(b []byte) (*Value, bool) {
	return new(binaryDecoder).decode(b)
}

// readTypeDesc splits a type descriptor: the type code, the length of the
// representation, and the representation's offset in p. A length nibble of
// 15 (null) gives length 0 and null = true. ok is false for an annotation
// wrapper marked null or a representation that overruns p.
func readTypeDesc(p []byte) (code byte, n int, off int, null bool, ok bool) {
	if len(p) == 0 {
		return 0, 0, 0, false, false
	}
	code, l := p[0]>>4, int(p[0]&0x0F)
	off = 1
	switch {
	case l == 15:
		return code, 0, off, true, code != 0xE
	case code == 0x1: // bool: the nibble is the value
		return code, 0, off, false, true
	case code == 0xD && l == 1: // sorted struct: length follows
		fallthrough
	case l == 14:
		v, m, ok := varUint(p[off:])
		if !ok || v > uint64(len(p)) {
			return 0, 0, 0, false, false
		}
		l, off = int(v), off+m
	}
	if off+l > len(p) {
		return 0, 0, 0, false, false
	}
	return code, l, off, false, true
}

type binaryDecoder struct {
	syms []string // symbol id to text; "" for unknown text
	// str and buf are one string and one byte copy of the whole input:
	// texts and blobs are slices of them. Values, element lists and field
	// lists are carved from slabs sized by a first pass over the input, so
	// a decode allocates a handful of times rather than per value.
	str    string
	buf    []byte
	vals   []Value
	elems  []*Value
	fields []Field
	lst    []string // backing array of syms
	// keep holds the whole slabs of a reusing decoder (see Decoder).
	keep *slabs
	// limit is the deepest container nesting decoded (0: MaxStoredDepth);
	// the decoder gives up on anything deeper.
	limit int
}

// depthLimit is the depth limit in force: limit, or MaxStoredDepth.
func (d *binaryDecoder) depthLimit() int {
	if d.limit == 0 {
		return MaxStoredDepth
	}
	return d.limit
}

type slabs struct {
	vals   []Value
	elems  []*Value
	fields []Field
}

func (d *binaryDecoder) decode(b []byte) (*Value, bool) {
	if !HasVersionMarker(b) {
		return nil, false
	}
	d.buf = append([]byte(nil), b...)
	d.str = string(b)
	d.syms = systemSymbols
	defer func() { d.syms, d.str, d.buf, d.vals, d.elems, d.fields = nil, "", nil, nil, nil, nil }()
	var out *Value
	for p := d.buf[4:]; len(p) > 0; {
		if HasVersionMarker(p) {
			d.syms = systemSymbols
			p = p[4:]
			continue
		}
		if lst, rest, ok := d.symbolTable(p); ok {
			if lst == nil {
				return nil, false
			}
			d.syms = lst
			p = rest
			continue
		}
		if out != nil {
			return nil, false
		}
		if _, l, off, _, ok := readTypeDesc(p); ok {
			var c counts
			c.add(p[:off+l], false)
			d.prepare(c)
		}
		v, rest, ok := d.value(p, 0)
		if !ok {
			return nil, false
		}
		out, p = v, rest
	}
	return out, out != nil
}

// prepare sets up zeroed slabs of the sizes c counted.
func (d *binaryDecoder) prepare(c counts) {
	if d.keep == nil {
		d.vals = make([]Value, c.vals)
		d.elems = make([]*Value, c.elems)
		d.fields = make([]Field, c.fields)
		return
	}
	k := d.keep
	d.vals, k.vals = reuse(k.vals, c.vals)
	d.elems, k.elems = reuse(k.elems, c.elems)
	d.fields, k.fields = reuse(k.fields, c.fields)
}

// reuse returns a zeroed slice of n elements carved from slab (grown when
// too small) and the slab to keep.
func reuse[T any](slab []T, n int) ([]T, []T) {
	if cap(slab) < n {
		slab = make([]T, n, max(n, 2*cap(slab)))
		return slab, slab
	}
	s := slab[:n]
	clear(s)
	return s, slab
}

// offset returns where p, a slice of d.buf, starts in it.
func (d *binaryDecoder) offset(p []byte) int { return cap(d.buf) - cap(p) }

// substr returns p, a slice of d.buf, as a string sharing d.str.
func (d *binaryDecoder) substr(p []byte) string {
	o := d.offset(p)
	return d.str[o : o+len(p)]
}

// alloc returns a zero Value from the slab.
func (d *binaryDecoder) alloc() *Value {
	if len(d.vals) == 0 { // count is exact for what decodes; be safe anyway
		d.vals = make([]Value, 8)
	}
	v := &d.vals[0]
	d.vals = d.vals[1:]
	return v
}

// elemList and fieldList return empty slices with room for n entries.
func (d *binaryDecoder) elemList(n int) []*Value {
	if len(d.elems) < n {
		return make([]*Value, 0, n)
	}
	s := d.elems[:0:n]
	d.elems = d.elems[n:]
	return s
}

func (d *binaryDecoder) fieldList(n int) []Field {
	if len(d.fields) < n {
		return make([]Field, 0, n)
	}
	s := d.fields[:0:n]
	d.fields = d.fields[n:]
	return s
}

// counts is what a value tree needs: values, list elements, struct fields.
type counts struct{ vals, elems, fields int }

// add counts the values in p (struct fields when fields is set),
// containers' contents included, down to MaxStoredDepth containers
// (value gives up on anything deeper).
func (c *counts) add(p []byte, fields bool) { c.addAt(p, fields, 0) }

// addAt is add for p inside depth containers.
func (c *counts) addAt(p []byte, fields bool, depth int) {
	if depth > MaxStoredDepth {
		return
	}
	for len(p) > 0 {
		if fields {
			_, k, ok := varUint(p)
			if !ok {
				return
			}
			p = p[k:]
		}
		code, l, off, null, ok := readTypeDesc(p)
		if !ok {
			return
		}
		c.vals++
		body := p[off : off+l]
		switch {
		case null:
		case code == 0xB || code == 0xC:
			c.elems += children(body, false)
			c.addAt(body, false, depth+1)
		case code == 0xD:
			c.fields += children(body, true)
			c.addAt(body, true, depth+1)
		case code == 0xE:
			if alen, k, ok := varUint(body); ok && k+int(alen) <= l {
				c.addAt(body[k+int(alen):], false, depth)
			}
		}
		p = p[off+l:]
	}
}

// children counts the values directly in a container body (fields, for a
// struct).
func children(p []byte, fields bool) int {
	n := 0
	for len(p) > 0 {
		if fields {
			_, k, ok := varUint(p)
			if !ok {
				return n
			}
			p = p[k:]
		}
		_, l, off, _, ok := readTypeDesc(p)
		if !ok {
			return n
		}
		p = p[off+l:]
		n++
	}
	return n
}

// symbolTable recognises a local symbol table at the top level:
// $ion_symbol_table::{symbols:[...]} (no other field). It returns the new
// table, or nil with ok when p is a symbol table the fast path does not
// support, or ok = false when p does not start with one.
func (d *binaryDecoder) symbolTable(p []byte) ([]string, []byte, bool) {
	code, n, off, null, ok := readTypeDesc(p)
	if !ok || code != 0xE || null {
		return nil, nil, false
	}
	body, rest := p[off:off+n], p[off+n:]
	alen, m, ok := varUint(body)
	if !ok || m+int(alen) > len(body) {
		return nil, nil, false
	}
	first, k, ok := varUint(body[m:])
	if !ok || first != SIDSymbolTable {
		return nil, nil, false
	}
	if int(alen) != k { // more annotations than $ion_symbol_table
		return nil, rest, true
	}
	st := body[m+int(alen):]
	code, n, off, null, ok = readTypeDesc(st)
	if !ok || code != 0xD || null || off+n != len(st) {
		return nil, rest, true
	}
	syms := append(d.lst[:0], systemSymbols...)
	seen := false
	for f := st[off : off+n]; len(f) > 0; {
		sid, k, ok := varUint(f)
		if !ok {
			return nil, rest, true
		}
		f = f[k:]
		code, n, off, null, ok := readTypeDesc(f)
		if !ok {
			return nil, rest, true
		}
		switch sid {
		default: // imports, max_id, other fields: leave them to ion-go
			return nil, rest, true
		case SIDSymbols:
			if code != 0xB || null || seen {
				return nil, rest, true
			}
			seen = true
			for l := f[off : off+n]; len(l) > 0; {
				c, sn, so, snull, ok := readTypeDesc(l)
				if !ok || c != 0x8 || snull || !utf8.Valid(l[so:so+sn]) {
					return nil, rest, true // non-string entries have no text
				}
				syms = append(syms, d.substr(l[so:so+sn]))
				l = l[so+sn:]
			}
		}
		f = f[off+n:]
	}
	d.lst = syms
	return syms, rest, true
}

// text returns the text of a symbol id, or false when it has none.
func (d *binaryDecoder) text(sid uint64) (string, bool) {
	if sid == 0 || sid >= uint64(len(d.syms)) || d.syms[sid] == "" {
		return "", false
	}
	return d.syms[sid], true
}

var ionTypes = [...]ion.Type{
	0x0: ion.NullType, 0x1: ion.BoolType, 0x2: ion.IntType, 0x3: ion.IntType,
	0x4: ion.FloatType, 0x5: ion.DecimalType, 0x6: ion.TimestampType, 0x7: ion.SymbolType,
	0x8: ion.StringType, 0x9: ion.ClobType, 0xA: ion.BlobType, 0xB: ion.ListType,
	0xC: ion.SexpType, 0xD: ion.StructType,
}

// value decodes the value at the start of p, which sits inside depth
// containers; it gives up on a container deeper than the depth limit,
// leaving the refusal to the ion-go based reader.
func (d *binaryDecoder) value(p []byte, depth int) (*Value, []byte, bool) {
	code, n, off, null, ok := readTypeDesc(p)
	if !ok {
		return nil, nil, false
	}
	rest := p[off+n:]
	if code == 0xE {
		body := p[off : off+n]
		alen, m, ok := varUint(body)
		if !ok || alen == 0 || m+int(alen) >= len(body) {
			return nil, nil, false
		}
		var anns []string
		for a := body[m : m+int(alen)]; len(a) > 0; {
			sid, k, ok := varUint(a)
			if !ok {
				return nil, nil, false
			}
			t, ok := d.text(sid)
			if !ok {
				return nil, nil, false
			}
			anns = append(anns, t)
			a = a[k:]
		}
		inner := body[m+int(alen):]
		if inner[0] == 0x11 {
			// ion-go's reader takes a bool's nibble for its length and
			// rejects an annotated true; so must we.
			return nil, nil, false
		}
		v, r, ok := d.value(inner, depth)
		if !ok || len(r) != 0 || v.Annotations != nil {
			return nil, nil, false
		}
		v.Annotations = anns
		return v, rest, true
	}
	if code > 0xD || (code == 0 && !null) { // NOP padding, reserved types
		return nil, nil, false
	}
	v := d.alloc()
	v.Type = ionTypes[code]
	if null {
		v.IsNull = true
		return v, rest, true
	}
	repr := p[off : off+n]
	switch code {
	case 0x1:
		if n != 0 {
			return nil, nil, false
		}
		switch p[0] & 0x0F {
		case 0:
		case 1:
			v.Bool = true
		default:
			return nil, nil, false
		}
	case 0x2, 0x3:
		if n > 8 || (code == 0x3 && n == 0) {
			return nil, nil, false
		}
		u, _ := ReadUint(repr)
		switch {
		case code == 0x2 && u <= math.MaxInt64:
			v.Int = int64(u)
		case code == 0x3 && u != 0 && u <= 1<<63:
			v.Int = int64(-u) // -2^63 wraps to itself
		default:
			return nil, nil, false // big, or negative zero
		}
	case 0x4:
		switch n {
		case 0:
		case 4:
			v.Float = float64(math.Float32frombits(binary.BigEndian.Uint32(repr)))
		case 8:
			v.Float = math.Float64frombits(binary.BigEndian.Uint64(repr))
		default:
			return nil, nil, false
		}
	case 0x5:
		dec, ok := decimal(repr)
		if !ok {
			return nil, nil, false
		}
		v.Decimal = dec
	case 0x6:
		ts, ok := timestamp(repr)
		if !ok {
			return nil, nil, false
		}
		v.Time = ts
	case 0x7:
		if n == 0 || n > 8 {
			return nil, nil, false
		}
		sid, _ := ReadUint(repr)
		t, ok := d.text(sid)
		if !ok {
			return nil, nil, false
		}
		v.Text = t
	case 0x8:
		if !utf8.Valid(repr) {
			return nil, nil, false
		}
		v.Text = d.substr(repr)
	case 0x9, 0xA:
		v.Bytes = repr[:len(repr):len(repr)] // a slice of d.buf
	case 0xB, 0xC:
		if depth >= d.depthLimit() {
			return nil, nil, false
		}
		if k := children(repr, false); k > 0 {
			v.Elems = d.elemList(k)
		}
		for e := repr; len(e) > 0; {
			c, r, ok := d.value(e, depth+1)
			if !ok {
				return nil, nil, false
			}
			v.Elems = append(v.Elems, c)
			e = r
		}
	case 0xD:
		if p[0]&0x0F == 1 && n == 0 { // a sorted struct must not be empty
			return nil, nil, false
		}
		if depth >= d.depthLimit() {
			return nil, nil, false
		}
		if k := children(repr, true); k > 0 {
			v.Fields = d.fieldList(k)
		}
		for f := repr; len(f) > 0; {
			sid, k, ok := varUint(f)
			if !ok {
				return nil, nil, false
			}
			name, ok := d.text(sid)
			if !ok {
				return nil, nil, false
			}
			c, r, ok := d.value(f[k:], depth+1)
			if !ok {
				return nil, nil, false
			}
			v.Fields = append(v.Fields, Field{Name: name, Value: c})
			f = r
		}
	}
	return v, rest, true
}

// decimal decodes a decimal representation exactly as ion-go's reader
// does: exponent VarInt, then a signed-magnitude coefficient; a present
// coefficient of zero is a negative zero there.
func decimal(p []byte) (*ion.Decimal, bool) {
	var exp int64
	coef := new(big.Int)
	negZero := false
	if len(p) > 0 {
		e, _, n, ok := ReadVarInt(p)
		if !ok || e > math.MaxInt32 || e < math.MinInt32 {
			return nil, false
		}
		exp, p = e, p[n:]
	}
	if len(p) > 0 {
		mag := append([]byte(nil), p...)
		neg := mag[0]&0x80 != 0
		mag[0] &= 0x7F
		if mag[0] == 0 {
			mag = mag[1:]
		}
		coef.SetBytes(mag)
		if neg {
			coef.Neg(coef)
		}
		negZero = coef.Sign() == 0
	}
	return ion.NewDecimal(coef, int32(exp), negZero), true
}

// timestamp decodes the timestamps the fast path supports exactly as
// ion-go's reader does: offset +00:00 or unknown (-00:00), any precision,
// and a fraction of one to nine digits that is exact in nanoseconds.
func timestamp(p []byte) (ion.Timestamp, bool) {
	offset, negZero, n, ok := ReadVarInt(p)
	if !ok || offset != 0 {
		return ion.Timestamp{}, false
	}
	p = p[n:]
	ts := [6]int{1, 1, 1, 0, 0, 0}
	precision := ion.TimestampNoPrecision
	for i := 0; len(p) > 0 && i < 6 && precision < ion.TimestampPrecisionSecond; i++ {
		v, k, ok := varUint(p)
		if !ok || v > math.MaxInt32 {
			return ion.Timestamp{}, false
		}
		p = p[k:]
		ts[i] = int(v)
		if i == 3 {
			if len(p) == 0 {
				return ion.Timestamp{}, false
			}
		} else {
			precision++
		}
	}
	nsec, fraction := 0, uint8(0)
	if len(p) > 0 {
		e, _, k, ok := ReadVarInt(p)
		if !ok || e < -9 || e > -1 {
			return ion.Timestamp{}, false
		}
		coef := p[k:]
		if len(coef) > 4 || (len(coef) > 0 && coef[0]&0x80 != 0) {
			return ion.Timestamp{}, false
		}
		var c uint64
		for _, b := range coef {
			c = c<<8 | uint64(b)
		}
		scale := uint64(1)
		for j := int64(0); j < -e; j++ {
			scale *= 10
		}
		if c >= scale {
			return ion.Timestamp{}, false
		}
		nsec = int(c * (1_000_000_000 / scale))
		fraction = uint8(-e)
		precision = ion.TimestampPrecisionNanosecond
	}
	if precision == ion.TimestampNoPrecision {
		return ion.Timestamp{}, false
	}
	date := time.Date(ts[0], time.Month(ts[1]), ts[2], ts[3], ts[4], ts[5], nsec, time.UTC)
	if ts[0] != date.Year() || time.Month(ts[1]) != date.Month() || ts[2] != date.Day() {
		return ion.Timestamp{}, false
	}
	if precision <= ion.TimestampPrecisionDay {
		return ion.NewDateTimestamp(date, precision), true
	}
	kind := ion.TimezoneUTC
	if negZero {
		kind = ion.TimezoneUnspecified
	}
	return ion.NewTimestampWithFractionalSeconds(date, precision, kind, fraction), true
}

// varUint is ReadVarUint limited to 9 bytes, so that every value it returns
// is below 2^63 and fits an int (a 10-byte VarUInt, which ion-go reads with
// its top bits shifted out, is left to ion-go's reader).
func varUint(p []byte) (uint64, int, bool) {
	v, n, ok := ReadVarUint(p)
	return v, n, ok && n < 10
}
