package ionvalue

import (
	"bytes"
	"math"
	"math/big"

	"github.com/amzn/ion-go/ion"
)

// Equal reports whether a and b are equivalent in the Ion data model: same
// type (or both the same typed null), same annotations in the same order, and
// equal content, where
//   - ints compare by value (whether stored in Int or BigInt);
//   - floats compare by value, except that nan equals nan and 0e0 differs from -0e0;
//   - decimals compare coefficient and exponent (1.0 differs from 1.00, 0. from -0.);
//   - timestamps compare instant, precision, fractional digits and offset kind/offset;
//   - lists and s-expressions compare element by element;
//   - structs compare as multisets of (name, value) fields: order is ignored,
//     duplicates count.
//
// Two nil Values are equal; a nil Value equals nothing else. Containers
// nested deeper than MaxStoredDepth (which no decoded or checked value has)
// are never equal.
func Equal(a, b *Value) bool { return equal(a, b, 0) }

// equal is Equal for a and b inside depth containers.
func equal(a, b *Value, depth int) bool {
	if a == nil || b == nil {
		return a == b
	}
	if len(a.Annotations) != len(b.Annotations) {
		return false
	}
	for i := range a.Annotations {
		if a.Annotations[i] != b.Annotations[i] {
			return false
		}
	}
	an, bn := a.IsNullValue(), b.IsNullValue()
	if an || bn {
		return an && bn && nullType(a) == nullType(b)
	}
	if a.Type != b.Type {
		return false
	}
	switch a.Type {
	case ion.BoolType:
		return a.Bool == b.Bool
	case ion.IntType:
		if a.BigInt == nil && b.BigInt == nil {
			return a.Int == b.Int
		}
		return bigOf(a).Cmp(bigOf(b)) == 0
	case ion.FloatType:
		if math.IsNaN(a.Float) || math.IsNaN(b.Float) {
			return math.IsNaN(a.Float) && math.IsNaN(b.Float)
		}
		return math.Float64bits(a.Float) == math.Float64bits(b.Float)
	case ion.DecimalType:
		return decimalEqual(a.Decimal, b.Decimal)
	case ion.TimestampType:
		return FormatTimestamp(a.Time) == FormatTimestamp(b.Time)
	case ion.SymbolType, ion.StringType:
		return a.Text == b.Text
	case ion.ClobType, ion.BlobType:
		return bytes.Equal(a.Bytes, b.Bytes)
	case ion.ListType, ion.SexpType:
		if depth >= MaxStoredDepth || len(a.Elems) != len(b.Elems) {
			return false
		}
		for i := range a.Elems {
			if !equal(a.Elems[i], b.Elems[i], depth+1) {
				return false
			}
		}
		return true
	case ion.StructType:
		return depth < MaxStoredDepth && fieldsEqual(a.Fields, b.Fields, depth+1)
	}
	return false
}

// nullType is the type of a null value, with the untyped null normalised.
func nullType(v *Value) ion.Type {
	if v.Type == ion.NoType {
		return ion.NullType
	}
	return v.Type
}

// bigOf returns the int value of v as a big.Int.
func bigOf(v *Value) *big.Int {
	if v.BigInt != nil {
		return v.BigInt
	}
	return big.NewInt(v.Int)
}

// decimalEqual compares coefficient, exponent and the sign of zero.
func decimalEqual(a, b *ion.Decimal) bool {
	if a == nil || b == nil {
		return a == b
	}
	ac, ae := a.CoEx()
	bc, be := b.CoEx()
	return ae == be && ac.Cmp(bc) == 0 && IsNegativeZero(a) == IsNegativeZero(b)
}

// fieldsEqual compares two field lists, at the given depth, as multisets of
// (name, value).
func fieldsEqual(a, b []Field, depth int) bool {
	if len(a) != len(b) {
		return false
	}
	used := make([]bool, len(b))
outer:
	for _, fa := range a {
		for j, fb := range b {
			if !used[j] && fa.Name == fb.Name && equal(fa.Value, fb.Value, depth) {
				used[j] = true
				continue outer
			}
		}
		return false
	}
	return true
}
