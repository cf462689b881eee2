package record

import (
	"errors"
	"fmt"
	"math/big"
	"time"
	"unicode/utf8"

	"github.com/amzn/ion-go/ion"

	"github.com/strand-db/strand/internal/ionvalue"
)

// This file is a minimal Ion 1.0 binary writer that produces exactly the
// bytes of ion-java's managed binary writer (which QLDB used for its stream
// records):
//
//   - the output is the Ion version marker, one local symbol table
//     $ion_symbol_table::{symbols:[...]} without imports, then the value;
//   - the local symbols are every field name, annotation and symbol value that
//     is not an Ion 1.0 system symbol, in order of first use (depth-first
//     write order, a field name before the annotations of its value);
//   - every length is the shortest encoding (type-descriptor nibble when the
//     body has at most 13 bytes, otherwise the minimal VarUInt);
//   - floats are always 8-byte binary64 (ion-java's default; ion-go would
//     write 4 bytes when lossless and a 1-byte positive zero);
//   - ints beyond int64 carry the magnitude as Java's BigInteger.toByteArray
//     gives it (a leading 0x00 byte when the top bit is set);
//   - timestamps store UTC fields plus the offset in minutes (-00:00, i.e.
//     0xC0, for an unknown offset); a zero fraction coefficient is omitted,
//     so .000 is just the exponent byte 0xC3.
//
// Containers are written body-first and their header is inserted once the
// body length is known, which costs one memmove of the body per nesting level.

// ivm is the Ion 1.0 binary version marker.
var ivm = ionvalue.BinaryVersionMarker[:]

// Ion binary type codes (high nibble of the type descriptor).
const (
	tcBool      = ionvalue.TypeCodeBool
	tcPosInt    = ionvalue.TypeCodePosInt
	tcNegInt    = ionvalue.TypeCodeNegInt
	tcFloat     = ionvalue.TypeCodeFloat
	tcDecimal   = ionvalue.TypeCodeDecimal
	tcTimestamp = ionvalue.TypeCodeTimestamp
	tcSymbol    = ionvalue.TypeCodeSymbol
	tcString    = ionvalue.TypeCodeString
	tcClob      = ionvalue.TypeCodeClob
	tcBlob      = ionvalue.TypeCodeBlob
	tcList      = ionvalue.TypeCodeList
	tcSexp      = ionvalue.TypeCodeSexp
	tcStruct    = ionvalue.TypeCodeStruct
	tcAnnot     = ionvalue.TypeCodeAnnot
)

// binWriter accumulates one top-level value and its local symbol table.
type binWriter struct {
	body  []byte
	syms  []string
	local map[string]uint64
	open  []openContainer
	// depth counts the containers of the value being written by writeValue
	// (not the record's own envelope), bounded by ionvalue.MaxStoredDepth.
	depth int
}

// openContainer is a container whose header is not written yet: its body
// starts at body[start:].
type openContainer struct {
	code  byte
	start int
}

func newBinWriter() *binWriter {
	return &binWriter{body: make([]byte, 0, 1024), local: make(map[string]uint64)}
}

// sid interns s and returns its symbol id.
func (w *binWriter) sid(s string) uint64 {
	if id, ok := ionvalue.SystemSymbolID(s); ok {
		return id
	}
	if id, ok := w.local[s]; ok {
		return id
	}
	id := uint64(ionvalue.FirstLocalSID + len(w.syms))
	w.syms = append(w.syms, s)
	w.local[s] = id
	return id
}

// field writes a field name; the value must follow.
func (w *binWriter) field(name string) { w.body = ionvalue.AppendVarUint(w.body, w.sid(name)) }

func (w *binWriter) begin(code byte) {
	w.open = append(w.open, openContainer{code: code, start: len(w.body)})
}

// end closes the innermost container, inserting its header before its body.
func (w *binWriter) end() {
	c := w.open[len(w.open)-1]
	w.open = w.open[:len(w.open)-1]
	n := len(w.body) - c.start
	var hdr [11]byte
	h := appendHeader(hdr[:0], c.code, uint64(n))
	w.body = append(w.body, h...) // grow by len(h)
	copy(w.body[c.start+len(h):], w.body[c.start:c.start+n])
	copy(w.body[c.start:], h)
}

func (w *binWriter) beginStruct() { w.begin(tcStruct) }
func (w *binWriter) beginList()   { w.begin(tcList) }

func (w *binWriter) writeString(s string) {
	w.body = appendHeader(w.body, tcString, uint64(len(s)))
	w.body = append(w.body, s...)
}

func (w *binWriter) writeLob(code byte, b []byte) {
	w.body = appendHeader(w.body, code, uint64(len(b)))
	w.body = append(w.body, b...)
}

func (w *binWriter) writeInt(n int64) {
	if n == 0 {
		w.body = append(w.body, tcPosInt)
		return
	}
	code, mag := byte(tcPosInt), uint64(n)
	if n < 0 {
		code, mag = tcNegInt, uint64(-n) // -MinInt64 wraps to 1<<63, the right magnitude
	}
	w.writeUint(code, mag)
}

func (w *binWriter) writeUint(code byte, mag uint64) {
	var b [8]byte
	m := ionvalue.AppendUint(b[:0], mag)
	w.body = append(w.body, code|byte(len(m)))
	w.body = append(w.body, m...)
}

// writeTime writes t as a UTC timestamp with millisecond precision, as QLDB
// writes blockTimestamp, startTime and txTime (Java Timestamp.forMillis(ms, 0)).
func (w *binWriter) writeTime(t time.Time) error {
	t = t.UTC()
	if t.Year() < 1 || t.Year() > 9999 {
		return fmt.Errorf("timestamp %v: year out of range", t)
	}
	var b [24]byte
	p := ionvalue.AppendTimestamp(b[:0], ionvalue.MillisTimestamp(t))
	w.body = appendHeader(w.body, tcTimestamp, uint64(len(p)))
	w.body = append(w.body, p...)
	return nil
}

// writeValue writes v (annotations included). Field names of v's children are
// interned as they are written, which fixes the local symbol order.
func (w *binWriter) writeValue(v *ionvalue.Value) error {
	if v == nil {
		return errors.New("nil Ion value")
	}
	if len(v.Annotations) > 0 {
		w.begin(tcAnnot)
		var ids []byte
		for _, a := range v.Annotations {
			ids = ionvalue.AppendVarUint(ids, w.sid(a))
		}
		w.body = ionvalue.AppendVarUint(w.body, uint64(len(ids)))
		w.body = append(w.body, ids...)
		if err := w.writeBare(v); err != nil {
			return err
		}
		w.end()
		return nil
	}
	return w.writeBare(v)
}

// writeBare writes v without its annotations.
func (w *binWriter) writeBare(v *ionvalue.Value) error {
	if v.Type == ion.NullType || v.Type == ion.NoType {
		w.body = append(w.body, 0x0F)
		return nil
	}
	code, ok := typeCodes[v.Type]
	if !ok {
		return fmt.Errorf("unknown Ion type %v", v.Type)
	}
	if v.IsNull {
		w.body = append(w.body, code|0x0F)
		return nil
	}
	switch v.Type {
	case ion.ListType, ion.SexpType, ion.StructType:
		if w.depth >= ionvalue.MaxStoredDepth {
			return fmt.Errorf("%w of %d", ionvalue.ErrTooDeep, ionvalue.MaxStoredDepth)
		}
		w.depth++
		defer func() { w.depth-- }()
	}
	switch v.Type {
	case ion.BoolType:
		if v.Bool {
			w.body = append(w.body, tcBool|1)
		} else {
			w.body = append(w.body, tcBool)
		}
	case ion.IntType:
		w.writeBigOrInt(v)
	case ion.FloatType:
		w.body = ionvalue.AppendFloat64(append(w.body, tcFloat|8), v.Float)
	case ion.DecimalType:
		if v.Decimal == nil {
			return errors.New("decimal value without a Decimal")
		}
		w.writeDecimal(v.Decimal)
	case ion.TimestampType:
		return w.writeTimestamp(v.Time)
	case ion.SymbolType:
		w.writeUint(tcSymbol, w.sid(v.Text))
	case ion.StringType:
		if !utf8.ValidString(v.Text) {
			return errors.New("string is not valid UTF-8")
		}
		w.writeString(v.Text)
	case ion.ClobType, ion.BlobType:
		w.writeLob(code, v.Bytes)
	case ion.ListType, ion.SexpType:
		w.begin(code)
		for i, e := range v.Elems {
			if err := w.writeValue(e); err != nil {
				if errors.Is(err, ionvalue.ErrTooDeep) {
					return err
				}
				return fmt.Errorf("element %d: %w", i, err)
			}
		}
		w.end()
	case ion.StructType:
		w.begin(tcStruct)
		for _, f := range v.Fields {
			w.field(f.Name)
			if err := w.writeValue(f.Value); err != nil {
				if errors.Is(err, ionvalue.ErrTooDeep) {
					return err
				}
				return fmt.Errorf("field %q: %w", f.Name, err)
			}
		}
		w.end()
	}
	return nil
}

var typeCodes = map[ion.Type]byte{
	ion.BoolType: tcBool, ion.IntType: tcPosInt, ion.FloatType: tcFloat,
	ion.DecimalType: tcDecimal, ion.TimestampType: tcTimestamp,
	ion.SymbolType: tcSymbol, ion.StringType: tcString, ion.ClobType: tcClob,
	ion.BlobType: tcBlob, ion.ListType: tcList, ion.SexpType: tcSexp,
	ion.StructType: tcStruct,
}

// writeBigOrInt writes an int the way ion-java does: int64 range as a
// minimal magnitude, beyond it as BigInteger.toByteArray of the magnitude.
func (w *binWriter) writeBigOrInt(v *ionvalue.Value) {
	if v.BigInt == nil || v.BigInt.IsInt64() {
		n := v.Int
		if v.BigInt != nil {
			n = v.BigInt.Int64()
		}
		w.writeInt(n)
		return
	}
	code := byte(tcPosInt)
	if v.BigInt.Sign() < 0 {
		code = tcNegInt
	}
	// ion-java writes the magnitude as BigInteger.toByteArray gives it: a
	// leading 0x00 when the top bit is set, that is the Ion Int of |n|.
	mag := ionvalue.AppendBigInt(nil, new(big.Int).Abs(v.BigInt))
	w.writeLob(code, mag)
}

func (w *binWriter) writeDecimal(d *ion.Decimal) {
	p := ionvalue.AppendDecimal(nil, d)
	w.body = appendHeader(w.body, tcDecimal, uint64(len(p)))
	w.body = append(w.body, p...)
}

// writeTimestamp writes an arbitrary Ion timestamp at its own precision.
func (w *binWriter) writeTimestamp(ts ion.Timestamp) error {
	if u := ts.GetDateTime().UTC(); u.Year() < 1 || u.Year() > 9999 {
		return fmt.Errorf("timestamp %v: year out of range", u)
	}
	p := ionvalue.AppendTimestamp(nil, ts)
	w.body = appendHeader(w.body, tcTimestamp, uint64(len(p)))
	w.body = append(w.body, p...)
	return nil
}

// bytes returns IVM + local symbol table + the written value.
func (w *binWriter) bytes() []byte {
	var list []byte
	for _, s := range w.syms {
		list = appendHeader(list, tcString, uint64(len(s)))
		list = append(list, s...)
	}
	var st []byte
	st = append(st, ionvalue.SIDSymbols|0x80) // field "symbols" (VarUInt 7)
	st = appendHeader(st, tcList, uint64(len(list)))
	st = append(st, list...)
	var wrapped []byte
	wrapped = append(wrapped, 0x81, 0x80|ionvalue.SIDSymbolTable) // annot_length 1, $ion_symbol_table
	wrapped = appendHeader(wrapped, tcStruct, uint64(len(st)))
	wrapped = append(wrapped, st...)

	out := make([]byte, 0, len(ivm)+len(wrapped)+3+len(w.body))
	out = append(out, ivm...)
	if len(w.syms) > 0 {
		out = appendHeader(out, tcAnnot, uint64(len(wrapped)))
		out = append(out, wrapped...)
	}
	return append(out, w.body...)
}

// appendHeader appends a type descriptor (and VarUInt length when needed).
func appendHeader(b []byte, code byte, n uint64) []byte { return ionvalue.AppendTypeDesc(b, code, n) }
