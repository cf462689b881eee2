package partiql

import (
	"math"
	"math/big"
	"strconv"
	"strings"

	"github.com/amzn/ion-go/ion"

	"github.com/strand-db/strand/internal/ionvalue"
)

// CAST and EXISTS, with the rules of QLDB's CAST and EXISTS pages (and the
// PartiQL reference they follow).

func init() {
	scalarFuncs["CAST"] = scalarFunc{2, 2, false, castFunc}
	scalarFuncs["EXISTS"] = scalarFunc{1, 1, false, existsFunc}
}

// existsFunc is EXISTS(v): true for a non-empty list, bag, sexp or struct,
// false for anything else including NULL. It does not propagate NULL; QLDB
// refuses EXISTS(MISSING) with an error.
func existsFunc(_ *execCtx, call *Call, a []*ionvalue.Value) (*ionvalue.Value, error) {
	v := a[0]
	switch {
	case v == nil:
		return nil, evalErr(call.Pos, "EXISTS expects a value, found missing")
	case isSeq(v):
		return boolVal(len(v.Elems) > 0), nil
	case isStruct(v):
		return boolVal(len(v.Fields) > 0), nil
	}
	return valFalse, nil
}

// castFunc is CAST(v AS type); a[1] is the canonical type name the parser
// stored. NULL and MISSING cast to any type stay what they are, except
// that AS NULL turns MISSING into NULL and AS MISSING turns NULL into
// MISSING; no other value casts to NULL or MISSING.
func castFunc(_ *execCtx, call *Call, a []*ionvalue.Value) (*ionvalue.Value, error) {
	v, typ := a[0], a[1].Text
	switch typ {
	case "NULL":
		if absent(v) {
			return ionvalue.Null(), nil
		}
	case "MISSING":
		if absent(v) {
			return nil, nil
		}
	default:
		if v == nil {
			return nil, nil
		}
		if v.IsNullValue() {
			return ionvalue.Null(), nil
		}
		if r := castValue(v, typ); r != nil {
			return r, nil
		}
	}
	return nil, evalErr(call.Pos, "cannot cast %s %s to %s", typeName(v), castShow(v), strings.ToLower(typ))
}

// castShow renders a value briefly for a CAST error message.
func castShow(v *ionvalue.Value) string {
	if v == nil {
		return ""
	}
	s := ionvalue.MarshalText(v)
	if r := []rune(s); len(r) > 40 {
		s = string(r[:40]) + "..."
	}
	return s
}

// castValue converts a non-null v to typ, or returns nil when it cannot.
func castValue(v *ionvalue.Value, typ string) *ionvalue.Value {
	switch typ {
	case "BOOL":
		return castBool(v)
	case "INT":
		return castInt(v)
	case "FLOAT":
		return castFloat(v)
	case "DECIMAL":
		return castDecimal(v)
	case "TIMESTAMP":
		switch {
		case v.Type == ion.TimestampType:
			return v
		case isText(v):
			return parseIonTimestamp(v.Text)
		}
	case "STRING", "SYMBOL":
		s, ok := castText(v, typ == "SYMBOL")
		if !ok {
			return nil
		}
		if typ == "SYMBOL" {
			return ionvalue.Symbol(s)
		}
		return ionvalue.String(s)
	case "LIST", "BAG":
		if v.Type == ion.ListType {
			return ionvalue.List(v.Elems...)
		}
	case "SEXP":
		if isSeq(v) {
			return &ionvalue.Value{Type: ion.SexpType, Elems: v.Elems}
		}
	case "STRUCT":
		if v.Type == ion.StructType {
			return v
		}
	case "CLOB":
		if v.Type == ion.ClobType {
			return v
		}
	case "BLOB":
		if v.Type == ion.BlobType {
			return v
		}
	}
	return nil
}

// castBool: numbers are false when zero; text is true when it is "true",
// false otherwise (QLDB: CAST('a' AS boolean) is false), ignoring case.
func castBool(v *ionvalue.Value) *ionvalue.Value {
	switch v.Type {
	case ion.BoolType:
		return v
	case ion.IntType, ion.DecimalType, ion.FloatType:
		return boolVal(numOf(v).sign() != 0)
	case ion.StringType, ion.SymbolType:
		return boolVal(strings.EqualFold(v.Text, "true"))
	}
	return nil
}

// castInt: booleans give 1 or 0, decimals and floats are truncated toward
// zero, text must be an optionally signed run of digits.
func castInt(v *ionvalue.Value) *ionvalue.Value {
	switch v.Type {
	case ion.BoolType:
		if v.Bool {
			return ionvalue.Int(1)
		}
		return ionvalue.Int(0)
	case ion.IntType:
		return v
	case ion.DecimalType:
		r, ok := ratOf(v)
		if !ok {
			return nil
		}
		return ionvalue.BigIntValue(new(big.Int).Quo(r.Num(), r.Denom()))
	case ion.FloatType:
		if math.IsNaN(v.Float) || math.IsInf(v.Float, 0) {
			return nil
		}
		b, _ := new(big.Float).SetFloat64(math.Trunc(v.Float)).Int(nil)
		return ionvalue.BigIntValue(b)
	case ion.StringType, ion.SymbolType:
		s := v.Text
		digits := strings.TrimLeft(s, "+-")
		if len(s)-len(digits) > 1 || digits == "" || strings.Trim(digits, "0123456789") != "" || len(digits) > 10000 {
			return nil
		}
		b, ok := new(big.Int).SetString(s, 10)
		if !ok {
			return nil
		}
		return ionvalue.BigIntValue(b)
	}
	return nil
}

// castFloat: booleans give 1e0 or 0e0, numbers convert, text must parse as
// a number (Ion's nan, +inf and -inf included).
func castFloat(v *ionvalue.Value) *ionvalue.Value {
	switch v.Type {
	case ion.BoolType:
		if v.Bool {
			return ionvalue.Float(1)
		}
		return ionvalue.Float(0)
	case ion.FloatType:
		return v
	case ion.IntType, ion.DecimalType:
		return ionvalue.Float(floatOf(v))
	case ion.StringType, ion.SymbolType:
		switch v.Text {
		case "nan":
			return ionvalue.Float(math.NaN())
		case "+inf":
			return ionvalue.Float(math.Inf(1))
		case "-inf":
			return ionvalue.Float(math.Inf(-1))
		}
		if !plainNumber(v.Text) {
			return nil
		}
		f, err := strconv.ParseFloat(v.Text, 64)
		if err != nil {
			return nil
		}
		return ionvalue.Float(f)
	}
	return nil
}

// plainNumber reports whether s is [sign] digits [. digits] [e [sign] digits].
func plainNumber(s string) bool {
	s = strings.TrimPrefix(strings.TrimPrefix(s, "-"), "+")
	mant, exp, hasExp := strings.Cut(strings.ToLower(s), "e")
	whole, frac, _ := strings.Cut(mant, ".")
	if whole+frac == "" || strings.Trim(whole+frac, "0123456789") != "" {
		return false
	}
	if hasExp {
		exp = strings.TrimPrefix(strings.TrimPrefix(exp, "-"), "+")
		if exp == "" || strings.Trim(exp, "0123456789") != "" {
			return false
		}
	}
	return true
}

// castDecimal: booleans give 1. or 0., ints keep their digits, floats their
// shortest decimal form, text must parse as a number.
func castDecimal(v *ionvalue.Value) *ionvalue.Value {
	switch v.Type {
	case ion.BoolType:
		if v.Bool {
			return ionvalue.DecimalValue(ion.NewDecimalInt(1))
		}
		return ionvalue.DecimalValue(ion.NewDecimalInt(0))
	case ion.DecimalType:
		return v
	case ion.IntType:
		return ionvalue.DecimalValue(ion.NewDecimal(bigOf(v), 0, false))
	case ion.FloatType:
		if math.IsNaN(v.Float) || math.IsInf(v.Float, 0) {
			return nil
		}
		return parseDecimalText(strconv.FormatFloat(v.Float, 'e', -1, 64))
	case ion.StringType, ion.SymbolType:
		if !plainNumber(v.Text) {
			return nil
		}
		return parseDecimalText(v.Text)
	}
	return nil
}

// parseDecimalText parses a plain number with an optional e exponent.
func parseDecimalText(s string) *ionvalue.Value {
	s = strings.Replace(strings.ToLower(s), "e", "d", 1)
	d, err := ion.ParseDecimal(s)
	if err != nil {
		return nil
	}
	if _, exp := d.CoEx(); exp > maxArithExp || exp < -maxArithExp {
		return nil
	}
	return ionvalue.DecimalValue(d)
}

// castText renders v as the text of a STRING or SYMBOL cast: text as is,
// booleans as true/false, ints as digits, timestamps in Ion notation.
// Floats and decimals: as a string, floats print like Java (1.0, 1.5E10) and
// decimals like Java's BigDecimal (1, 1.00, 1E+3), as QLDB's engine did; as
// a symbol they are narrowed to an integer first (CAST(`1e0` AS symbol) is
// '1' in the PartiQL reference).
func castText(v *ionvalue.Value, symbol bool) (string, bool) {
	switch v.Type {
	case ion.StringType, ion.SymbolType:
		return v.Text, true
	case ion.BoolType:
		return strconv.FormatBool(v.Bool), true
	case ion.IntType:
		return bigOf(v).String(), true
	case ion.TimestampType:
		return ionvalue.FormatTimestamp(v.Time), true
	case ion.FloatType, ion.DecimalType:
		if symbol {
			i := castInt(v)
			if i == nil {
				return "", false
			}
			return bigOf(i).String(), true
		}
		if v.Type == ion.FloatType {
			return javaDouble(v.Float), true
		}
		return javaBigDecimal(v.Decimal), true
	}
	return "", false
}

// javaDouble formats f as Java's Double.toString does.
func javaDouble(f float64) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	case f == 0:
		if math.Signbit(f) {
			return "-0.0"
		}
		return "0.0"
	}
	abs := math.Abs(f)
	if abs >= 1e-3 && abs < 1e7 {
		s := strconv.FormatFloat(f, 'f', -1, 64)
		if !strings.Contains(s, ".") {
			s += ".0"
		}
		return s
	}
	s := strconv.FormatFloat(f, 'e', -1, 64) // d.ddde±xx
	mant, exp, _ := strings.Cut(s, "e")
	if !strings.Contains(mant, ".") {
		mant += ".0"
	}
	e, _ := strconv.Atoi(exp)
	return mant + "E" + strconv.Itoa(e)
}

// javaBigDecimal formats d as Java's BigDecimal.toString does: plain
// notation when the exponent is not positive and the adjusted exponent is
// at least -6, scientific (1E+3, 1.5E-8) otherwise.
func javaBigDecimal(d *ion.Decimal) string {
	coef, exp := d.CoEx()
	neg := coef.Sign() < 0
	digits := new(big.Int).Abs(coef).String()
	scale := -int64(exp)
	adjusted := int64(len(digits)-1) - scale
	var s string
	switch {
	case scale >= 0 && adjusted >= -6:
		if scale == 0 {
			s = digits
		} else if int64(len(digits)) > scale {
			s = digits[:int64(len(digits))-scale] + "." + digits[int64(len(digits))-scale:]
		} else {
			s = "0." + strings.Repeat("0", int(scale-int64(len(digits)))) + digits
		}
	default:
		s = digits[:1]
		if len(digits) > 1 {
			s += "." + digits[1:]
		}
		s += "E"
		if adjusted >= 0 {
			s += "+"
		}
		s += strconv.FormatInt(adjusted, 10)
	}
	if neg {
		s = "-" + s
	}
	return s
}

// parseIonTimestamp parses s as the text of one Ion timestamp (nil if it
// is anything else).
func parseIonTimestamp(s string) *ionvalue.Value {
	s = strings.TrimSpace(s)
	if s == "" || len(s) > 100 || strings.ContainsAny(s, "`\"'{}[](),") {
		return nil
	}
	v, err := ionvalue.DecodeOne([]byte(s))
	if err != nil || v == nil || v.IsNull || v.Type != ion.TimestampType || len(v.Annotations) > 0 {
		return nil
	}
	return v
}
