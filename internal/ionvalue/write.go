package ionvalue

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/amzn/ion-go/ion"
)

// errNilValue is returned when a nil *Value is written.
var errNilValue = errors.New("ionvalue: nil value")

// ErrSymbolIDText is returned (wrapped) by WriteTo and MarshalBinary for a
// field name or annotation whose text looks like a symbol id ($ followed by
// digits, e.g. "$7"): ion-go's binary writer would silently encode it as that
// symbol id (so "$7" would read back as "symbols"). Symbol values are not
// affected, and MarshalText quotes such names correctly.
var ErrSymbolIDText = errors.New("ionvalue: field name or annotation of the form $<digits> cannot be written by ion-go")

// isSymbolID reports whether s has the form $<digits>.
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

// WriteTo writes v, with its annotations, as one Ion value on w. When w is
// inside a struct the caller must already have set the field name with
// w.FieldName. Struct fields are written in order (duplicates included), typed
// nulls as typed nulls, ints beyond int64 as big ints, and decimals and
// timestamps with exactly the precision they carry. WriteTo does not call
// w.Finish. It returns an error for a nil Value (also inside containers), a
// non-null decimal with a nil Decimal, a field name or annotation of the form
// $<digits> (ErrSymbolIDText), a value nested deeper than MaxStoredDepth
// (ErrTooDeep), or any error of w.
func (v *Value) WriteTo(w ion.Writer) error {
	if err := v.writeTo(w, 0); err != nil {
		return fmt.Errorf("ionvalue: write: %w", err)
	}
	return nil
}

// writeTo writes v, which sits inside depth containers.
func (v *Value) writeTo(w ion.Writer, depth int) error {
	if v == nil {
		return errNilValue
	}
	if depth >= MaxStoredDepth && v.isContainer() {
		return tooDeep(MaxStoredDepth)
	}
	if len(v.Annotations) > 0 {
		toks := make([]ion.SymbolToken, len(v.Annotations))
		for i, a := range v.Annotations {
			if isSymbolID(a) {
				return fmt.Errorf("annotation %q: %w", a, ErrSymbolIDText)
			}
			toks[i] = ion.NewSymbolTokenFromString(a)
		}
		if err := w.Annotations(toks...); err != nil {
			return err
		}
	}
	if v.Type == ion.NullType || v.Type == ion.NoType {
		return w.WriteNull()
	}
	if v.IsNull {
		return w.WriteNullType(v.Type)
	}
	switch v.Type {
	case ion.BoolType:
		return w.WriteBool(v.Bool)
	case ion.IntType:
		if v.BigInt != nil {
			return w.WriteBigInt(v.BigInt)
		}
		return w.WriteInt(v.Int)
	case ion.FloatType:
		return w.WriteFloat(v.Float)
	case ion.DecimalType:
		if v.Decimal == nil {
			return errors.New("decimal value without a Decimal")
		}
		return w.WriteDecimal(v.Decimal)
	case ion.TimestampType:
		return w.WriteTimestamp(v.Time)
	case ion.SymbolType:
		return w.WriteSymbol(ion.NewSymbolTokenFromString(v.Text))
	case ion.StringType:
		return w.WriteString(v.Text)
	case ion.ClobType:
		return w.WriteClob(nonNilBytes(v.Bytes))
	case ion.BlobType:
		return w.WriteBlob(nonNilBytes(v.Bytes))
	case ion.ListType, ion.SexpType:
		begin, end := w.BeginList, w.EndList
		if v.Type == ion.SexpType {
			begin, end = w.BeginSexp, w.EndSexp
		}
		if err := begin(); err != nil {
			return err
		}
		for i, e := range v.Elems {
			if err := e.writeTo(w, depth+1); err != nil {
				if errors.Is(err, ErrTooDeep) {
					return err
				}
				return fmt.Errorf("element %d: %w", i, err)
			}
		}
		return end()
	case ion.StructType:
		if err := w.BeginStruct(); err != nil {
			return err
		}
		for _, f := range v.Fields {
			if isSymbolID(f.Name) {
				return fmt.Errorf("field name %q: %w", f.Name, ErrSymbolIDText)
			}
			if err := w.FieldName(ion.NewSymbolTokenFromString(f.Name)); err != nil {
				return err
			}
			if err := f.Value.writeTo(w, depth+1); err != nil {
				if errors.Is(err, ErrTooDeep) {
					return err
				}
				return fmt.Errorf("field %q: %w", f.Name, err)
			}
		}
		return w.EndStruct()
	}
	return fmt.Errorf("unknown Ion type %v", v.Type)
}

// nonNilBytes maps nil to an empty slice: ion-hash-go rejects a nil lob.
func nonNilBytes(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// MarshalBinary encodes v as a self-contained Ion binary stream: the Ion
// version marker, a local symbol table when v uses any non-system symbol, and
// the single value v. This is the form QLDBSession carries in IonBinary, and
// the form of every stored revision and journal block. The bytes are those
// ion-go's binary writer gives for WriteTo (binary_write.go), and so are the
// errors: a nil Value, a decimal without a Decimal, a field name or
// annotation of the form $<digits> (ErrSymbolIDText), a value nested deeper
// than MaxStoredDepth (ErrTooDeep) or an unknown type.
func MarshalBinary(v *Value) ([]byte, error) { return marshalBinary(v, 0) }

// ErrTooLarge is returned (wrapped) by MarshalBinaryUpTo for a value whose
// encoding is longer than its limit.
var ErrTooLarge = errors.New("ionvalue: the encoding exceeds the size limit")

// MarshalBinaryUpTo is MarshalBinary for a value whose encoding may be at
// most max bytes: past that it stops, with an error wrapping ErrTooLarge,
// having written little more than max bytes. A value built with shared
// parts (a list of the same big value many times) can encode to far more
// than it occupies in memory; this bounds what encoding it costs.
func MarshalBinaryUpTo(v *Value, max int) ([]byte, error) { return marshalBinary(v, max) }

// marshalBinary encodes v with a pooled encoder, stopping with ErrTooLarge
// once the encoding passes max bytes (max > 0; 0: no limit).
func marshalBinary(v *Value, max int) ([]byte, error) {
	e := marshalEncoders.Get().(*binaryEncoder)
	e.reset()
	defer e.release(&marshalEncoders)
	e.limit = max
	if err := e.value(v, 0); err != nil {
		return nil, fmt.Errorf("ionvalue: write: %w", err)
	}
	b := e.bytes()
	if max > 0 && len(b) > max {
		return nil, fmt.Errorf("ionvalue: write: %w", ErrTooLarge)
	}
	return b, nil
}

// MarshalText renders v as compact Ion text on one line, in the style of
// QLDB's GetBlock IonText: no whitespace between tokens, field names and
// annotations unquoted when they are plain identifiers, strings double-quoted,
// blobs as {{base64}}, timestamps and decimals in Ion notation with their exact
// precision. A nil v renders as "null". Decode(MarshalText(v)) gives a value
// Equal to v. Containers nested deeper than MaxStoredDepth (which no decoded
// or checked value has) are rendered as the symbol '...too deep...', so the
// result is still Ion but not v; MarshalBinary refuses such a value instead.
func MarshalText(v *Value) string {
	var b bytes.Buffer
	appendText(&b, v, 0)
	return b.String()
}

// String returns MarshalText(v), so a *Value prints as Ion text.
func (v *Value) String() string { return MarshalText(v) }
