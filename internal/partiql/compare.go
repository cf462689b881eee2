package partiql

import (
	"bytes"
	"encoding/binary"
	"math"
	"math/big"
	"sort"
	"strconv"
	"strings"

	"github.com/amzn/ion-go/ion"

	"github.com/strand-db/strand/internal/ionvalue"
)

// Value conventions inside the evaluator: a nil *ionvalue.Value is PartiQL's
// MISSING; any Ion null (typed or not) is NULL. Annotations never affect
// comparisons.

func isMissing(v *ionvalue.Value) bool { return v == nil }

func isNull(v *ionvalue.Value) bool { return v != nil && v.IsNullValue() }

// absent reports MISSING or NULL.
func absent(v *ionvalue.Value) bool { return v == nil || v.IsNullValue() }

func isNumber(v *ionvalue.Value) bool {
	if absent(v) {
		return false
	}
	return v.Type == ion.IntType || v.Type == ion.DecimalType || v.Type == ion.FloatType
}

func isText(v *ionvalue.Value) bool {
	return !absent(v) && (v.Type == ion.StringType || v.Type == ion.SymbolType)
}

func isSeq(v *ionvalue.Value) bool {
	return !absent(v) && (v.Type == ion.ListType || v.Type == ion.SexpType)
}

func isStruct(v *ionvalue.Value) bool {
	return !absent(v) && v.Type == ion.StructType
}

// bigOf returns an int value as a big.Int.
func bigOf(v *ionvalue.Value) *big.Int {
	if v.BigInt != nil {
		return new(big.Int).Set(v.BigInt)
	}
	return big.NewInt(v.Int)
}

// num is a number in canonical form, so that PartiQL-equal numbers (1, 1.0,
// 1e0) have identical nums. A finite value is (-1)^neg × 0.digits × 10^adj,
// digits without leading or trailing zeros ("" for zero).
type num struct {
	special byte // 0 finite, 'n' nan, '+' +inf, '-' -inf
	neg     bool
	digits  string
	adj     int64
}

// numOf converts an int, decimal or float value (callers check isNumber).
// Floats convert through their shortest round-trip decimal form, so the
// float 0.1 equals the decimal 0.1.
func numOf(v *ionvalue.Value) num {
	switch v.Type {
	case ion.IntType:
		if v.BigInt != nil {
			return canonNum(v.BigInt.String(), 0)
		}
		return canonNum(strconv.FormatInt(v.Int, 10), 0)
	case ion.DecimalType:
		coef, exp := v.Decimal.CoEx()
		return canonNum(coef.String(), int64(exp))
	default:
		f := v.Float
		switch {
		case math.IsNaN(f):
			return num{special: 'n'}
		case math.IsInf(f, 1):
			return num{special: '+'}
		case math.IsInf(f, -1):
			return num{special: '-'}
		}
		s := strconv.FormatFloat(f, 'e', -1, 64) // -d.ddde±x
		mant, expStr, _ := strings.Cut(s, "e")
		exp, _ := strconv.ParseInt(expStr, 10, 64)
		neg := strings.HasPrefix(mant, "-")
		mant = strings.TrimPrefix(mant, "-")
		intPart, frac, _ := strings.Cut(mant, ".")
		n := canonNum(intPart+frac, exp-int64(len(frac)))
		n.neg = neg && n.digits != ""
		return n
	}
}

// canonNum builds a num from a signed decimal integer string and a base-10
// exponent: value = coef × 10^exp.
func canonNum(coef string, exp int64) num {
	neg := strings.HasPrefix(coef, "-")
	coef = strings.TrimLeft(strings.TrimPrefix(coef, "-"), "0")
	trimmed := strings.TrimRight(coef, "0")
	if trimmed == "" {
		return num{}
	}
	return num{neg: neg, digits: trimmed, adj: int64(len(coef)) + exp}
}

func (n num) sign() int {
	switch {
	case n.special == '+':
		return 1
	case n.special == '-':
		return -1
	case n.special == 'n' || n.digits == "":
		return 0
	case n.neg:
		return -1
	}
	return 1
}

// cmpNum orders nums; nan sorts below everything and equals itself.
func cmpNum(a, b num) int {
	if a.special == 'n' || b.special == 'n' {
		switch {
		case a.special == b.special:
			return 0
		case a.special == 'n':
			return -1
		}
		return 1
	}
	sa, sb := a.sign(), b.sign()
	if sa != sb || a.special != 0 || b.special != 0 {
		if sa != sb {
			return cmpInt(sa, sb)
		}
		// same sign, at least one infinite
		ia, ib := a.special != 0, b.special != 0
		switch {
		case ia && ib:
			return 0
		case ia:
			return sa
		}
		return -sb
	}
	if sa == 0 {
		return 0
	}
	m := 0 // magnitude comparison
	switch {
	case a.adj != b.adj:
		if a.adj < b.adj {
			m = -1
		} else {
			m = 1
		}
	default:
		m = strings.Compare(a.digits, b.digits)
	}
	return m * sa
}

func cmpInt[T int | int64](a, b T) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// compareNumbers orders two numeric values by value across int, decimal and
// float.
func compareNumbers(a, b *ionvalue.Value) int {
	switch {
	case a.Type == ion.IntType && b.Type == ion.IntType && a.BigInt == nil && b.BigInt == nil:
		return cmpInt(a.Int, b.Int)
	case a.Type == ion.FloatType && b.Type == ion.FloatType && !math.IsNaN(a.Float) && !math.IsNaN(b.Float):
		switch {
		case a.Float < b.Float:
			return -1
		case a.Float > b.Float:
			return 1
		}
		return 0
	}
	return cmpNum(numOf(a), numOf(b))
}

// valuesEqual is PartiQL = on two values that are neither NULL nor MISSING:
// numbers by value, text (string or symbol) by content, timestamps by
// instant, containers deeply (struct fields in any order). Values of
// different kinds are unequal.
func valuesEqual(a, b *ionvalue.Value) bool {
	switch {
	case isNumber(a) && isNumber(b):
		return compareNumbers(a, b) == 0
	case isText(a) && isText(b):
		return a.Text == b.Text
	case a.Type != b.Type:
		return false
	}
	switch a.Type {
	case ion.BoolType:
		return a.Bool == b.Bool
	case ion.TimestampType:
		return a.Time.GetDateTime().Equal(b.Time.GetDateTime())
	case ion.BlobType, ion.ClobType:
		return bytes.Equal(a.Bytes, b.Bytes)
	}
	return bytes.Equal(IndexKey(a), IndexKey(b))
}

// compareOrdered orders a and b for < <= > >= and BETWEEN. ok is false when
// they are not comparable (different kinds, or containers).
func compareOrdered(a, b *ionvalue.Value) (int, bool) {
	switch {
	case isNumber(a) && isNumber(b):
		return compareNumbers(a, b), true
	case isText(a) && isText(b):
		return strings.Compare(a.Text, b.Text), true
	case a.Type != b.Type:
		return 0, false
	}
	switch a.Type {
	case ion.BoolType:
		return cmpInt(b2i(a.Bool), b2i(b.Bool)), true
	case ion.TimestampType:
		return a.Time.GetDateTime().Compare(b.Time.GetDateTime()), true
	case ion.BlobType, ion.ClobType:
		return bytes.Compare(a.Bytes, b.Bytes), true
	}
	return 0, false
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// typeRank orders kinds for the total order used by MIN and MAX.
func typeRank(v *ionvalue.Value) int {
	switch {
	case absent(v):
		return 0
	case v.Type == ion.BoolType:
		return 1
	case isNumber(v):
		return 2
	case v.Type == ion.TimestampType:
		return 3
	case isText(v):
		return 4
	case v.Type == ion.ClobType:
		return 5
	case v.Type == ion.BlobType:
		return 6
	case v.Type == ion.ListType:
		return 7
	case v.Type == ion.SexpType:
		return 8
	}
	return 9
}

// compareTotal is a total order over all values: NULL/MISSING, then bools,
// numbers, timestamps, text, clobs, blobs, lists, sexps and structs.
func compareTotal(a, b *ionvalue.Value) int {
	ra, rb := typeRank(a), typeRank(b)
	if ra != rb {
		return cmpInt(ra, rb)
	}
	if ra == 0 {
		return 0
	}
	if c, ok := compareOrdered(a, b); ok {
		return c
	}
	if isSeq(a) {
		for i := 0; i < len(a.Elems) && i < len(b.Elems); i++ {
			if c := compareTotal(a.Elems[i], b.Elems[i]); c != 0 {
				return c
			}
		}
		return cmpInt(len(a.Elems), len(b.Elems))
	}
	return bytes.Compare(IndexKey(a), IndexKey(b))
}

// IndexKey returns the canonical equality key of v: for any a and b that are
// not NULL or MISSING, a = b is true in PartiQL exactly when IndexKey(a) and
// IndexKey(b) are the same bytes. NULL and MISSING (v == nil) give nil: they
// equal nothing.
//
// A Tx implementation keys its indexes with IndexKey so that Lookup finds
// what the equivalent full scan would: 1, 1.0 and 1e0 share a key, so do a
// string and a symbol with the same text, and two timestamps at the same
// instant; struct keys ignore field order. Annotations are ignored. The
// encoding is deterministic across processes and versions of this package
// should keep it stable (persisted indexes depend on it).
func IndexKey(v *ionvalue.Value) []byte {
	if absent(v) {
		return nil
	}
	return appendKey(nil, v)
}

// appendKey appends tag, uvarint payload length and payload for v.
func appendKey(dst []byte, v *ionvalue.Value) []byte {
	var tag byte
	var payload []byte
	switch {
	case absent(v):
		tag = 'z'
	case isNumber(v):
		tag = 'n'
		n := numOf(v)
		switch {
		case n.special != 0:
			payload = []byte{n.special}
		case n.digits == "":
			payload = []byte{'0'}
		default:
			if n.neg {
				payload = append(payload, '-')
			} else {
				payload = append(payload, '+')
			}
			payload = binary.AppendVarint(payload, n.adj)
			payload = append(payload, n.digits...)
		}
	case isText(v):
		tag, payload = 's', []byte(v.Text)
	default:
		switch v.Type {
		case ion.BoolType:
			tag, payload = 'b', []byte{byte(b2i(v.Bool))}
		case ion.TimestampType:
			tag = 't'
			payload = []byte(v.Time.GetDateTime().UTC().Format("2006-01-02T15:04:05.000000000Z07:00"))
		case ion.BlobType:
			tag, payload = 'B', v.Bytes
		case ion.ClobType:
			tag, payload = 'C', v.Bytes
		case ion.ListType, ion.SexpType:
			tag = 'L'
			if v.Type == ion.SexpType {
				tag = 'S'
			}
			for _, e := range v.Elems {
				payload = appendKey(payload, e)
			}
		case ion.StructType:
			tag = 'T'
			fields := make([][]byte, len(v.Fields))
			for i, f := range v.Fields {
				fk := appendKey(nil, ionvalue.String(f.Name))
				fields[i] = appendKey(fk, f.Value)
			}
			sort.Slice(fields, func(i, j int) bool { return bytes.Compare(fields[i], fields[j]) < 0 })
			for _, f := range fields {
				payload = append(payload, f...)
			}
		default:
			tag = '?'
		}
	}
	dst = append(dst, tag)
	dst = binary.AppendUvarint(dst, uint64(len(payload)))
	return append(dst, payload...)
}
