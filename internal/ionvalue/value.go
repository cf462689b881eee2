// Package ionvalue is Strand's in-memory Ion data model: a tree of Values that
// round-trips Ion binary and text without losing type, precision, field order
// or annotations. Documents, PartiQL results, journal blocks and stream
// records are all built from it.
//
// A *Value is immutable by convention once it is shared: code that wants a
// changed value builds a new one (see Value.With and Value.Without).
package ionvalue

import (
	"math/big"

	"github.com/amzn/ion-go/ion"
)

// Value is one Ion value. Type is the Ion type (ion.NullType for an untyped
// null). IsNull marks a typed null such as null.int: then only Type and
// Annotations are meaningful. Exactly one payload field is used, chosen by Type.
type Value struct {
	Type        ion.Type
	IsNull      bool
	Annotations []string

	Bool    bool         // ion.BoolType
	Int     int64        // ion.IntType when BigInt is nil
	BigInt  *big.Int     // ion.IntType when the value does not fit int64
	Float   float64      // ion.FloatType
	Decimal *ion.Decimal // ion.DecimalType
	Time    ion.Timestamp
	Text    string   // ion.StringType and ion.SymbolType
	Bytes   []byte   // ion.BlobType and ion.ClobType
	Elems   []*Value // ion.ListType and ion.SexpType
	Fields  []Field  // ion.StructType, in order; duplicate names are allowed
}

// Field is one name/value pair of a struct.
type Field struct {
	Name  string
	Value *Value
}
