package ionvalue

import (
	"math/big"
	"time"

	"github.com/amzn/ion-go/ion"
)

// String returns an Ion string value.
func String(s string) *Value { return &Value{Type: ion.StringType, Text: s} }

// Symbol returns an Ion symbol value with text s.
func Symbol(s string) *Value { return &Value{Type: ion.SymbolType, Text: s} }

// Int returns an Ion int value.
func Int(n int64) *Value { return &Value{Type: ion.IntType, Int: n} }

// BigIntValue returns an Ion int with the value of n (copied). A value that
// fits int64 is stored in Int with BigInt nil, as the Value contract requires.
// A nil n gives null.int.
func BigIntValue(n *big.Int) *Value {
	if n == nil {
		return TypedNull(ion.IntType)
	}
	v := &Value{Type: ion.IntType}
	setBigInt(v, n)
	return v
}

// setBigInt stores n in v.Int when it fits int64, else a copy in v.BigInt.
func setBigInt(v *Value, n *big.Int) {
	if n.IsInt64() {
		v.Int, v.BigInt = n.Int64(), nil
		return
	}
	v.Int, v.BigInt = 0, new(big.Int).Set(n)
}

// Float returns an Ion float (64-bit) value.
func Float(f float64) *Value { return &Value{Type: ion.FloatType, Float: f} }

// DecimalValue returns an Ion decimal value; d keeps its exact coefficient and
// exponent (1.0 and 1.00 are different Ion values). A nil d gives null.decimal.
func DecimalValue(d *ion.Decimal) *Value {
	if d == nil {
		return TypedNull(ion.DecimalType)
	}
	return &Value{Type: ion.DecimalType, Decimal: d}
}

// Bool returns an Ion bool value.
func Bool(b bool) *Value { return &Value{Type: ion.BoolType, Bool: b} }

// Timestamp returns an Ion timestamp value with t's precision and offset.
func Timestamp(t ion.Timestamp) *Value { return &Value{Type: ion.TimestampType, Time: t} }

// TimeMillis returns t as an Ion timestamp the way QLDB writes txTime,
// startTime and blockTimestamp: converted to UTC, truncated to the
// millisecond, with exactly three fractional digits (2019-09-16T19:37:05.344Z).
func TimeMillis(t time.Time) *Value {
	return Timestamp(MillisTimestamp(t))
}

// MillisTimestamp is the ion.Timestamp of TimeMillis: t in UTC, truncated to
// the millisecond, with exactly three fractional digits.
func MillisTimestamp(t time.Time) ion.Timestamp {
	t = t.UTC().Truncate(time.Millisecond)
	return ion.NewTimestampWithFractionalSeconds(t, ion.TimestampPrecisionNanosecond, ion.TimezoneUTC, 3)
}

// Blob returns an Ion blob holding b (not copied).
func Blob(b []byte) *Value { return &Value{Type: ion.BlobType, Bytes: b} }

// Clob returns an Ion clob holding b (not copied).
func Clob(b []byte) *Value { return &Value{Type: ion.ClobType, Bytes: b} }

// List returns an Ion list of elems, in order.
func List(elems ...*Value) *Value { return &Value{Type: ion.ListType, Elems: elems} }

// Sexp returns an Ion s-expression of elems, in order.
func Sexp(elems ...*Value) *Value { return &Value{Type: ion.SexpType, Elems: elems} }

// Struct returns an Ion struct with fields in the given order (duplicate
// names allowed).
func Struct(fields ...Field) *Value { return &Value{Type: ion.StructType, Fields: fields} }

// Null returns the untyped Ion null (null, also spelled null.null).
func Null() *Value { return &Value{Type: ion.NullType, IsNull: true} }

// TypedNull returns the typed null of t, such as null.int for ion.IntType. For
// ion.NullType or ion.NoType it returns the untyped null.
func TypedNull(t ion.Type) *Value {
	if t == ion.NoType {
		t = ion.NullType
	}
	return &Value{Type: t, IsNull: true}
}

// IsNullValue reports whether v is any Ion null (untyped or typed). A nil v
// counts as null.
func (v *Value) IsNullValue() bool {
	return v == nil || v.IsNull || v.Type == ion.NullType || v.Type == ion.NoType
}

// Get returns the value of the first field named name, or nil when v is not a
// non-null struct or has no such field.
func (v *Value) Get(name string) *Value {
	if v == nil || v.Type != ion.StructType || v.IsNull {
		return nil
	}
	for _, f := range v.Fields {
		if f.Name == name {
			return f.Value
		}
	}
	return nil
}

// With returns a new struct equal to v except that field name has value val:
// the first field with that name is replaced in place and any later fields
// with the same name are dropped; if there is none, the field is appended.
// Annotations are kept; v itself is not modified. v must be a struct; a null
// struct is treated as empty. With panics when v is not a struct.
func (v *Value) With(name string, val *Value) *Value {
	v.mustBeStruct("With")
	out := v.shallowStruct(len(v.Fields) + 1)
	found := false
	for _, f := range v.Fields {
		if f.Name != name {
			out.Fields = append(out.Fields, f)
			continue
		}
		if !found {
			out.Fields = append(out.Fields, Field{Name: name, Value: val})
			found = true
		}
	}
	if !found {
		out.Fields = append(out.Fields, Field{Name: name, Value: val})
	}
	return out
}

// Without returns a new struct equal to v minus every field named name.
// Annotations are kept; v itself is not modified. v must be a struct; a null
// struct stays null. Without panics when v is not a struct.
func (v *Value) Without(name string) *Value {
	v.mustBeStruct("Without")
	if v.IsNull {
		return &Value{Type: ion.StructType, IsNull: true, Annotations: v.Annotations}
	}
	out := v.shallowStruct(len(v.Fields))
	for _, f := range v.Fields {
		if f.Name != name {
			out.Fields = append(out.Fields, f)
		}
	}
	return out
}

func (v *Value) mustBeStruct(op string) {
	if v == nil || v.Type != ion.StructType {
		panic("ionvalue: " + op + " called on a value that is not a struct")
	}
}

// shallowStruct returns a non-null struct with v's annotations (copied) and an
// empty field slice of the given capacity.
func (v *Value) shallowStruct(capacity int) *Value {
	out := &Value{Type: ion.StructType, Fields: make([]Field, 0, capacity)}
	if len(v.Annotations) > 0 {
		out.Annotations = append([]string(nil), v.Annotations...)
	}
	return out
}
