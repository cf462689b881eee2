package ionvalue

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"unicode/utf8"

	"github.com/amzn/ion-go/ion"
)

// This file is Strand's one Ion binary encoder. It writes in one of two
// byte-exact styles:
//
//   - IonGoStyle (MarshalBinary): exactly the bytes amzn/ion-go's binary
//     writer (v1.1.3) wrote for the same Value, which is what every stored
//     revision, journal block and QLDBSession result holds;
//     TestMarshalBinaryMatchesIonGoWriter and FuzzMarshalBinary compare the
//     two;
//   - IonJavaStyle (Encoder, for stream/record): the bytes of ion-java's
//     managed binary writer, which QLDB used for its stream records.
//
// IonGoStyle's rules:
//
//   - the Ion version marker, then a local symbol table
//     $ion_symbol_table::{symbols:[...]} (no imports) only when the value
//     uses a symbol that is not an Ion 1.0 system symbol, then the value;
//   - local symbols in order of first use, depth-first: for a symbol value
//     its own text first (ion-go resolves it before it writes the field name
//     and annotations), then the field name, then the annotations, then
//     the children of a container;
//   - every length the shortest encoding (AppendTypeDesc);
//   - ints as a magnitude with the sign in the type code, 0 as 0x20;
//   - floats: positive zero as 0x40, NaN as the 4-byte quiet NaN 7FC00000,
//     a value float32 holds exactly (including -0e0 and the infinities) in
//     4 bytes, every other value in 8;
//   - decimals and timestamps as AppendDecimal and AppendTimestamp (see
//     binary.go for the negative-zero rule).
//
// IonJavaStyle differs in five points: every float is 8 bytes; an int
// beyond int64 carries its magnitude as Java's BigInteger.toByteArray gives
// it (a leading 0x00 when the top bit is set); a symbol value takes its id
// after its field name and annotations; strings must be valid UTF-8 and
// timestamp years in 1..9999 (ion-java refuses the others); and field names
// and annotations of the form $<digits> are written as their text.
//
// Containers are written body first and their type descriptor is inserted
// before the body once its length is known: one memmove of the body per
// nesting level, bounded by MaxStoredDepth.

// EncodeStyle chooses which writer's bytes an Encoder reproduces.
type EncodeStyle int

const (
	// IonGoStyle writes what amzn/ion-go's binary writer writes (the bytes
	// of MarshalBinary).
	IonGoStyle EncodeStyle = iota
	// IonJavaStyle writes what ion-java's managed binary writer writes (the
	// bytes of QLDB's stream records).
	IonJavaStyle
)

// binaryEncoder accumulates one top-level value and its local symbols.
type binaryEncoder struct {
	body  []byte
	syms  []string
	local map[string]uint64
	java  bool // IonJavaStyle
	limit int  // > 0: stop with ErrTooLarge once the body is longer
}

// sid returns the symbol id of text, adding it to the local symbols on first
// use. System symbols keep their system ids.
func (e *binaryEncoder) sid(text string) uint64 {
	if id, ok := SystemSymbolID(text); ok {
		return id
	}
	if id, ok := e.local[text]; ok {
		return id
	}
	if e.local == nil {
		e.local = make(map[string]uint64)
	}
	id := uint64(FirstLocalSID + len(e.syms))
	e.syms = append(e.syms, text)
	e.local[text] = id
	return id
}

// symbolFirst interns the text of v when v is a non-null symbol: ion-go
// gives a symbol value its id before the id of its field name and
// annotations.
func (e *binaryEncoder) symbolFirst(v *Value) {
	if v != nil && v.Type == ion.SymbolType && !v.IsNull {
		e.sid(v.Text)
	}
}

// closeContainer inserts the type descriptor of the container whose body
// starts at body[start:].
func (e *binaryEncoder) closeContainer(code byte, start int) {
	n := len(e.body) - start
	var hdr [11]byte
	h := AppendTypeDesc(hdr[:0], code, uint64(n))
	e.body = append(e.body, h...) // grow by len(h)
	copy(e.body[start+len(h):], e.body[start:start+n])
	copy(e.body[start:], h)
}

// value writes v, which sits inside depth containers, with its annotations.
// Its errors are those WriteTo gives for the same value, in the same order.
func (e *binaryEncoder) value(v *Value, depth int) error {
	if v == nil {
		return errNilValue
	}
	if e.limit > 0 && len(e.body) > e.limit {
		return ErrTooLarge
	}
	if depth >= MaxStoredDepth && v.isContainer() {
		return tooDeep(MaxStoredDepth)
	}
	if !e.java {
		e.symbolFirst(v)
	}
	if len(v.Annotations) == 0 {
		return e.bare(v, depth)
	}
	start := len(e.body)
	var ids []byte
	for _, a := range v.Annotations {
		if !e.java && isSymbolID(a) {
			return fmt.Errorf("annotation %q: %w", a, ErrSymbolIDText)
		}
		ids = AppendVarUint(ids, e.sid(a))
	}
	e.body = AppendVarUint(e.body, uint64(len(ids)))
	e.body = append(e.body, ids...)
	if err := e.bare(v, depth); err != nil {
		return err
	}
	e.closeContainer(TypeCodeAnnot, start)
	return nil
}

// bare writes v without its annotations.
func (e *binaryEncoder) bare(v *Value, depth int) error {
	if v.Type == ion.NullType || v.Type == ion.NoType {
		e.body = append(e.body, 0x0F)
		return nil
	}
	if v.IsNull {
		code, ok := typeCode(v.Type)
		if !ok {
			return fmt.Errorf("unknown Ion type %v", v.Type)
		}
		e.body = append(e.body, code|0x0F)
		return nil
	}
	switch v.Type {
	case ion.BoolType:
		if v.Bool {
			e.body = append(e.body, TypeCodeBool|1)
		} else {
			e.body = append(e.body, TypeCodeBool)
		}
	case ion.IntType:
		e.int(v)
	case ion.FloatType:
		e.float(v.Float)
	case ion.DecimalType:
		if v.Decimal == nil {
			return errors.New("decimal value without a Decimal")
		}
		e.scalar(TypeCodeDecimal, func(b []byte) []byte { return AppendDecimal(b, v.Decimal) })
	case ion.TimestampType:
		return e.timestamp(v.Time)
	case ion.SymbolType:
		var tmp [8]byte
		m := AppendUint(tmp[:0], e.sid(v.Text))
		e.body = append(AppendTypeDesc(e.body, TypeCodeSymbol, uint64(len(m))), m...)
	case ion.StringType:
		if e.java && !utf8.ValidString(v.Text) {
			return errors.New("string is not valid UTF-8")
		}
		e.body = append(AppendTypeDesc(e.body, TypeCodeString, uint64(len(v.Text))), v.Text...)
	case ion.ClobType:
		e.body = append(AppendTypeDesc(e.body, TypeCodeClob, uint64(len(v.Bytes))), v.Bytes...)
	case ion.BlobType:
		e.body = append(AppendTypeDesc(e.body, TypeCodeBlob, uint64(len(v.Bytes))), v.Bytes...)
	case ion.ListType, ion.SexpType:
		start := len(e.body)
		for i, c := range v.Elems {
			if err := e.value(c, depth+1); err != nil {
				if errors.Is(err, ErrTooDeep) {
					return err
				}
				return fmt.Errorf("element %d: %w", i, err)
			}
		}
		code := TypeCodeList
		if v.Type == ion.SexpType {
			code = TypeCodeSexp
		}
		e.closeContainer(code, start)
	case ion.StructType:
		start := len(e.body)
		for _, f := range v.Fields {
			if !e.java && isSymbolID(f.Name) {
				return fmt.Errorf("field name %q: %w", f.Name, ErrSymbolIDText)
			}
			if !e.java {
				e.symbolFirst(f.Value)
			}
			e.body = AppendVarUint(e.body, e.sid(f.Name))
			if err := e.value(f.Value, depth+1); err != nil {
				if errors.Is(err, ErrTooDeep) {
					return err
				}
				return fmt.Errorf("field %q: %w", f.Name, err)
			}
		}
		e.closeContainer(TypeCodeStruct, start)
	default:
		return fmt.Errorf("unknown Ion type %v", v.Type)
	}
	return nil
}

// scalar writes a type descriptor and the representation rep appends.
func (e *binaryEncoder) scalar(code byte, rep func([]byte) []byte) {
	var tmp [32]byte
	p := rep(tmp[:0])
	e.body = append(AppendTypeDesc(e.body, code, uint64(len(p))), p...)
}

// timestamp writes ts at its own precision. IonJavaStyle refuses a year
// outside 1..9999.
func (e *binaryEncoder) timestamp(ts ion.Timestamp) error {
	if u := ts.GetDateTime().UTC(); e.java && (u.Year() < 1 || u.Year() > 9999) {
		return fmt.Errorf("timestamp %v: year out of range", u)
	}
	var tmp [32]byte
	p := AppendTimestamp(tmp[:0], ts)
	e.body = append(AppendTypeDesc(e.body, TypeCodeTimestamp, uint64(len(p))), p...)
	return nil
}

// int writes an int: a magnitude with the sign in the type code.
func (e *binaryEncoder) int(v *Value) {
	if v.BigInt != nil && e.java && !v.BigInt.IsInt64() {
		// ion-java: the magnitude as BigInteger.toByteArray gives it, a
		// leading 0x00 when the top bit is set, that is the Ion Int of |n|.
		code := TypeCodePosInt
		if v.BigInt.Sign() < 0 {
			code = TypeCodeNegInt
		}
		mag := AppendBigInt(nil, new(big.Int).Abs(v.BigInt))
		e.body = append(AppendTypeDesc(e.body, code, uint64(len(mag))), mag...)
		return
	}
	if v.BigInt != nil {
		if v.BigInt.Sign() == 0 {
			e.body = append(e.body, TypeCodePosInt)
			return
		}
		code := TypeCodePosInt
		if v.BigInt.Sign() < 0 {
			code = TypeCodeNegInt
		}
		n := uint64((v.BigInt.BitLen() + 7) / 8)
		e.body = AppendBigUint(AppendTypeDesc(e.body, code, n), v.BigInt)
		return
	}
	code, mag := TypeCodePosInt, uint64(v.Int)
	if v.Int < 0 {
		code, mag = TypeCodeNegInt, -mag // -MinInt64 wraps to 1<<63, the right magnitude
	}
	var tmp [8]byte
	m := AppendUint(tmp[:0], mag)
	e.body = append(AppendTypeDesc(e.body, code, uint64(len(m))), m...)
}

// float writes f as ion-go does: positive zero in no bytes, NaN and values
// float32 holds exactly in 4, the rest in 8. IonJavaStyle writes every
// float in 8.
func (e *binaryEncoder) float(f float64) {
	switch {
	case e.java:
		e.body = AppendFloat64(append(e.body, TypeCodeFloat|8), f)
	case f == 0 && !math.Signbit(f):
		e.body = append(e.body, TypeCodeFloat)
	case math.IsNaN(f):
		e.body = append(e.body, TypeCodeFloat|4, 0x7F, 0xC0, 0x00, 0x00)
	case f == float64(float32(f)):
		bits := math.Float32bits(float32(f))
		e.body = append(e.body, TypeCodeFloat|4, byte(bits>>24), byte(bits>>16), byte(bits>>8), byte(bits))
	default:
		e.body = AppendFloat64(append(e.body, TypeCodeFloat|8), f)
	}
}

// typeCode is the binary type code of a non-null Ion type.
func typeCode(t ion.Type) (byte, bool) {
	switch t {
	case ion.BoolType:
		return TypeCodeBool, true
	case ion.IntType:
		return TypeCodePosInt, true
	case ion.FloatType:
		return TypeCodeFloat, true
	case ion.DecimalType:
		return TypeCodeDecimal, true
	case ion.TimestampType:
		return TypeCodeTimestamp, true
	case ion.SymbolType:
		return TypeCodeSymbol, true
	case ion.StringType:
		return TypeCodeString, true
	case ion.ClobType:
		return TypeCodeClob, true
	case ion.BlobType:
		return TypeCodeBlob, true
	case ion.ListType:
		return TypeCodeList, true
	case ion.SexpType:
		return TypeCodeSexp, true
	case ion.StructType:
		return TypeCodeStruct, true
	}
	return 0, false
}

// bytes returns the version marker, the local symbol table (when there are
// local symbols) and the value.
func (e *binaryEncoder) bytes() []byte {
	var list []byte
	for _, s := range e.syms {
		list = append(AppendTypeDesc(list, TypeCodeString, uint64(len(s))), s...)
	}
	out := make([]byte, 0, len(BinaryVersionMarker)+len(list)+16+len(e.body))
	out = append(out, BinaryVersionMarker[:]...)
	if len(e.syms) > 0 {
		// $ion_symbol_table::{symbols:[...]}: the struct holds the field
		// id and the list; the wrapper the annotation list and the struct.
		listLen := uint64(len(list))
		structLen := 1 + typeDescLen(listLen) + listLen
		wrapLen := 2 + typeDescLen(structLen) + structLen
		out = AppendTypeDesc(out, TypeCodeAnnot, wrapLen)
		out = append(out, 0x81, 0x80|SIDSymbolTable) // annotation list of 1 byte: $ion_symbol_table
		out = AppendTypeDesc(out, TypeCodeStruct, structLen)
		out = append(out, 0x80|SIDSymbols) // field "symbols"
		out = AppendTypeDesc(out, TypeCodeList, listLen)
		out = append(out, list...)
	}
	return append(out, e.body...)
}

// appendBytes appends what bytes returns to dst.
func (e *binaryEncoder) appendBytes(dst []byte) []byte {
	dst = append(dst, BinaryVersionMarker[:]...)
	if len(e.syms) > 0 {
		var listLen uint64
		for _, s := range e.syms {
			listLen += typeDescLen(uint64(len(s))) + uint64(len(s))
		}
		structLen := 1 + typeDescLen(listLen) + listLen
		wrapLen := 2 + typeDescLen(structLen) + structLen
		dst = AppendTypeDesc(dst, TypeCodeAnnot, wrapLen)
		dst = append(dst, 0x81, 0x80|SIDSymbolTable)
		dst = AppendTypeDesc(dst, TypeCodeStruct, structLen)
		dst = append(dst, 0x80|SIDSymbols)
		dst = AppendTypeDesc(dst, TypeCodeList, listLen)
		for _, s := range e.syms {
			dst = append(AppendTypeDesc(dst, TypeCodeString, uint64(len(s))), s...)
		}
	}
	return append(dst, e.body...)
}

// typeDescLen is the length of the type descriptor AppendTypeDesc writes
// for a representation of n bytes.
func typeDescLen(n uint64) uint64 {
	if n < 14 {
		return 1
	}
	l := uint64(2)
	for n >>= 7; n > 0; n >>= 7 {
		l++
	}
	return l
}

// An Encoder writes one top-level Ion binary value piece by piece, for
// records whose layout is fixed by a format (QLDB's stream records): Begin
// and End containers, FieldName before each value in a struct, scalars and
// whole Values in between; Bytes returns the version marker, the local
// symbol table and the value. Symbols are interned in the order the style
// prescribes. The zero Encoder is not ready; use NewEncoder.
type Encoder struct {
	e    binaryEncoder
	open []openContainer
	err  error // the first error of a Write method without an error result
}

// openContainer is a container whose type descriptor is not written yet:
// its body starts at body[start:].
type openContainer struct {
	code  byte
	start int
}

// NewEncoder returns an Encoder writing in the given style.
func NewEncoder(style EncodeStyle) *Encoder {
	return &Encoder{e: binaryEncoder{body: make([]byte, 0, 1024), java: style == IonJavaStyle}}
}

// BeginStruct opens a struct; End closes it.
func (w *Encoder) BeginStruct() { w.begin(TypeCodeStruct) }

// BeginList opens a list; End closes it.
func (w *Encoder) BeginList() { w.begin(TypeCodeList) }

func (w *Encoder) begin(code byte) {
	w.open = append(w.open, openContainer{code: code, start: len(w.e.body)})
}

// End closes the innermost open container.
func (w *Encoder) End() {
	c := w.open[len(w.open)-1]
	w.open = w.open[:len(w.open)-1]
	w.e.closeContainer(c.code, c.start)
}

// FieldName writes the name of the next value of a struct.
func (w *Encoder) FieldName(name string) {
	w.e.body = AppendVarUint(w.e.body, w.e.sid(name))
}

// WriteString writes a string. In IonJavaStyle a string that is not valid
// UTF-8 (which no Ion reader accepts) is refused: Err reports it.
func (w *Encoder) WriteString(s string) {
	if w.e.java && w.err == nil && !utf8.ValidString(s) {
		w.err = fmt.Errorf("ionvalue: string %q is not valid UTF-8", s)
	}
	w.e.body = append(AppendTypeDesc(w.e.body, TypeCodeString, uint64(len(s))), s...)
}

// WriteBlob writes a blob.
func (w *Encoder) WriteBlob(b []byte) {
	w.e.body = append(AppendTypeDesc(w.e.body, TypeCodeBlob, uint64(len(b))), b...)
}

// WriteInt writes an int.
func (w *Encoder) WriteInt(n int64) { w.e.int(&Value{Type: ion.IntType, Int: n}) }

// WriteUint writes a non-negative int of up to 64 bits.
func (w *Encoder) WriteUint(n uint64) {
	if n == 0 {
		w.e.body = append(w.e.body, TypeCodePosInt)
		return
	}
	var tmp [8]byte
	m := AppendUint(tmp[:0], n)
	w.e.body = append(AppendTypeDesc(w.e.body, TypeCodePosInt, uint64(len(m))), m...)
}

// WriteTimestamp writes ts at its own precision (IonJavaStyle: the year
// must be in 1..9999).
func (w *Encoder) WriteTimestamp(ts ion.Timestamp) error { return w.e.timestamp(ts) }

// WriteValue writes v with its annotations, as MarshalBinary does in the
// encoder's style; its containers count from depth 0 towards
// MaxStoredDepth. On error the Encoder must not be used further.
func (w *Encoder) WriteValue(v *Value) error { return w.e.value(v, 0) }

// Err returns the first error met by a Write method that has no error
// result (WriteString); the output of Bytes is not valid Ion when it is set.
func (w *Encoder) Err() error { return w.err }

// Bytes returns the version marker, the local symbol table (when any
// symbol is not a system symbol) and what was written. Every container
// must be closed.
func (w *Encoder) Bytes() []byte { return w.e.bytes() }

// AppendBytes appends what Bytes returns to dst, without allocating
// anything else, so a caller that only hashes or compares the encoding can
// reuse one buffer.
func (w *Encoder) AppendBytes(dst []byte) []byte { return w.e.appendBytes(dst) }
