package ionvalue

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/amzn/ion-go/ion"
)

// tooDeepText stands in for a container deeper than MaxStoredDepth.
const tooDeepText = "'...too deep...'"

// appendText writes the compact Ion text of v, which sits inside depth
// containers, to b.
func appendText(b *bytes.Buffer, v *Value, depth int) {
	if v == nil {
		b.WriteString("null")
		return
	}
	if depth >= MaxStoredDepth && v.isContainer() {
		b.WriteString(tooDeepText)
		return
	}
	for _, a := range v.Annotations {
		appendSymbol(b, a)
		b.WriteString("::")
	}
	if v.Type == ion.NullType || v.Type == ion.NoType {
		b.WriteString("null")
		return
	}
	if v.IsNull {
		b.WriteString("null.")
		b.WriteString(v.Type.String())
		return
	}
	switch v.Type {
	case ion.BoolType:
		b.WriteString(strconv.FormatBool(v.Bool))
	case ion.IntType:
		if v.BigInt != nil {
			b.WriteString(v.BigInt.String())
		} else {
			b.WriteString(strconv.FormatInt(v.Int, 10))
		}
	case ion.FloatType:
		b.WriteString(formatFloat(v.Float))
	case ion.DecimalType:
		if v.Decimal == nil {
			b.WriteString("null.decimal")
		} else {
			b.WriteString(formatDecimal(v.Decimal))
		}
	case ion.TimestampType:
		b.WriteString(FormatTimestamp(v.Time))
	case ion.SymbolType:
		appendSymbol(b, v.Text)
	case ion.StringType:
		appendQuoted(b, v.Text, '"')
	case ion.ClobType:
		b.WriteString(`{{"`)
		for _, c := range v.Bytes {
			appendClobByte(b, c)
		}
		b.WriteString(`"}}`)
	case ion.BlobType:
		b.WriteString("{{")
		b.WriteString(base64.StdEncoding.EncodeToString(v.Bytes))
		b.WriteString("}}")
	case ion.ListType, ion.SexpType:
		open, sep, end := byte('['), byte(','), byte(']')
		if v.Type == ion.SexpType {
			open, sep, end = '(', ' ', ')'
		}
		b.WriteByte(open)
		for i, e := range v.Elems {
			if i > 0 {
				b.WriteByte(sep)
			}
			appendText(b, e, depth+1)
		}
		b.WriteByte(end)
	case ion.StructType:
		b.WriteByte('{')
		for i, f := range v.Fields {
			if i > 0 {
				b.WriteByte(',')
			}
			appendSymbol(b, f.Name)
			b.WriteByte(':')
			appendText(b, f.Value, depth+1)
		}
		b.WriteByte('}')
	default:
		fmt.Fprintf(b, "null /* unknown Ion type %v */", v.Type)
	}
}

// formatFloat renders f as an Ion float: always with an exponent, so that it
// is not read back as a decimal, and with Ion's nan/+inf/-inf spellings.
func formatFloat(f float64) string {
	switch {
	case math.IsNaN(f):
		return "nan"
	case math.IsInf(f, 1):
		return "+inf"
	case math.IsInf(f, -1):
		return "-inf"
	}
	s := strconv.FormatFloat(f, 'e', -1, 64)
	mant, exp, _ := strings.Cut(s, "e")
	n, err := strconv.Atoi(exp)
	if err != nil {
		return s
	}
	return mant + "e" + strconv.Itoa(n)
}

// formatDecimal renders d in Ion decimal notation with exactly its
// coefficient and exponent: 90.25, 0.00, -0., 5d3, 12d-40.
func formatDecimal(d *ion.Decimal) string {
	coef, exp := d.CoEx()
	digits := new(big.Int).Abs(coef).String()
	sign := ""
	if coef.Sign() < 0 || IsNegativeZero(d) {
		sign = "-"
	}
	switch {
	case exp == 0:
		return sign + digits + "."
	case exp > 0:
		return sign + digits + "d" + strconv.Itoa(int(exp))
	}
	scale := -int(exp)
	if scale < len(digits) {
		return sign + digits[:len(digits)-scale] + "." + digits[len(digits)-scale:]
	}
	if zeros := scale - len(digits); zeros <= 6 {
		return sign + "0." + strings.Repeat("0", zeros) + digits
	}
	return sign + digits + "d" + strconv.Itoa(int(exp))
}

// FormatTimestamp renders t in Ion text notation at exactly its precision:
// 2007T, 2007-02T, 2007-02-23 (day precision, no trailing T), minutes,
// seconds, or seconds with as many fractional digits as t carries, followed
// by Z for UTC, -00:00 for an unknown offset, or ±hh:mm.
func FormatTimestamp(t ion.Timestamp) string {
	dt := t.GetDateTime()
	kind := t.GetTimezoneKind()
	if kind != ion.TimezoneLocal {
		// ion-go's binary writer encodes the UTC fields of any timestamp that
		// has no known local offset; render the same fields.
		dt = dt.UTC()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%04d", dt.Year())
	p := t.GetPrecision()
	if p <= ion.TimestampPrecisionYear {
		b.WriteString("T")
		return b.String()
	}
	fmt.Fprintf(&b, "-%02d", int(dt.Month()))
	if p == ion.TimestampPrecisionMonth {
		b.WriteString("T")
		return b.String()
	}
	fmt.Fprintf(&b, "-%02d", dt.Day())
	if p == ion.TimestampPrecisionDay {
		return b.String()
	}
	fmt.Fprintf(&b, "T%02d:%02d", dt.Hour(), dt.Minute())
	if p >= ion.TimestampPrecisionSecond {
		fmt.Fprintf(&b, ":%02d", dt.Second())
	}
	if n := int(t.GetNumberOfFractionalSeconds()); p >= ion.TimestampPrecisionNanosecond && n > 0 {
		if n > 9 {
			n = 9
		}
		b.WriteByte('.')
		b.WriteString(fmt.Sprintf("%09d", dt.Nanosecond())[:n])
	}
	switch kind {
	case ion.TimezoneUTC:
		b.WriteString("Z")
	case ion.TimezoneUnspecified:
		b.WriteString("-00:00")
	default:
		_, off := dt.Zone()
		sign := byte('+')
		if off < 0 {
			sign, off = '-', -off
		}
		off /= 60
		fmt.Fprintf(&b, "%c%02d:%02d", sign, off/60, off%60)
	}
	return b.String()
}

// appendSymbol writes s as an Ion symbol token: bare when it is a plain
// identifier, otherwise single-quoted.
func appendSymbol(b *bytes.Buffer, s string) {
	if isPlainIdentifier(s) {
		b.WriteString(s)
		return
	}
	appendQuoted(b, s, '\'')
}

// isPlainIdentifier reports whether s can be written as an unquoted Ion symbol
// that reads back as the same text (not a keyword, not a $n symbol id).
func isPlainIdentifier(s string) bool {
	switch s {
	case "", "null", "true", "false", "nan":
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		letter := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c == '$'
		if !letter && (i == 0 || c < '0' || c > '9') {
			return false
		}
	}
	if s[0] == '$' && len(s) > 1 {
		if _, err := strconv.ParseUint(s[1:], 10, 64); err == nil {
			return false
		}
	}
	return true
}

// appendQuoted writes s between quote characters, escaping the quote, the
// backslash and control characters. Other Unicode is written as UTF-8.
func appendQuoted(b *bytes.Buffer, s string, quote byte) {
	b.WriteByte(quote)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		switch {
		case r == rune(quote) || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\r':
			b.WriteString(`\r`)
		case r < 0x20 || r == 0x7F:
			fmt.Fprintf(b, `\x%02x`, r)
		case r == utf8.RuneError && size == 1:
			b.WriteString(`\ufffd`)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte(quote)
}

// appendClobByte writes one clob byte inside a short clob string: printable
// ASCII as is, everything else as an escape.
func appendClobByte(b *bytes.Buffer, c byte) {
	switch {
	case c == '"' || c == '\\':
		b.WriteByte('\\')
		b.WriteByte(c)
	case c == '\n':
		b.WriteString(`\n`)
	case c == '\t':
		b.WriteString(`\t`)
	case c == '\r':
		b.WriteString(`\r`)
	case c < 0x20 || c >= 0x7F:
		fmt.Fprintf(b, `\x%02x`, c)
	default:
		b.WriteByte(c)
	}
}
