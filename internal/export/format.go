package export

import (
	"encoding/base64"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/amzn/ion-go/ion"

	"github.com/strand-db/strand/internal/ionvalue"
	"github.com/strand-db/strand/internal/journal"
)

// dir returns the key prefix of job j's objects: the requested prefix with
// a "/" added when it is not empty and does not end with one (QLDB's own
// example shows prefix "journalExport" giving "journalExport/<id>...").
func dir(j *Job) string {
	if j.Prefix == "" || strings.HasSuffix(j.Prefix, "/") {
		return j.Prefix
	}
	return j.Prefix + "/"
}

func startedManifestKey(j *Job) string { return dir(j) + j.ID + ".started.manifest" }

func completedManifestKey(j *Job) string {
	return dir(j) + j.ID + "." + j.StrandID + ".completed.manifest"
}

// extension is the file extension of data objects in format f.
func extension(f string) string {
	switch f {
	case FormatIonBinary:
		return "10n"
	case FormatJSON:
		return "json"
	}
	return "ion"
}

func contentType(f string) string {
	switch f {
	case FormatIonBinary:
		return "application/x-amzn-ion"
	case FormatJSON:
		return "application/json"
	}
	return "text/plain; charset=utf-8"
}

// dataKey names the data object holding blocks first..last, the first of
// which was committed at t: <prefix>yyyy/mm/dd/hh/<strandId>.<first>-<last>.<ext>.
func dataKey(j *Job, t time.Time, first, last uint64) string {
	t = t.UTC()
	return fmt.Sprintf("%s%04d/%02d/%02d/%02d/%s.%d-%d.%s", dir(j), t.Year(), int(t.Month()), t.Day(), t.Hour(),
		j.StrandID, first, last, extension(j.Format))
}

// startedManifest is the initial manifest: the request's parameters.
func startedManifest(j *Job) []byte {
	v := ionvalue.Struct(
		ionvalue.Field{Name: "ledgerName", Value: ionvalue.String(j.LedgerName)},
		ionvalue.Field{Name: "exportId", Value: ionvalue.String(j.ID)},
		ionvalue.Field{Name: "inclusiveStartTime", Value: ionvalue.TimeMillis(j.Start)},
		ionvalue.Field{Name: "exclusiveEndTime", Value: ionvalue.TimeMillis(j.End)},
		ionvalue.Field{Name: "bucket", Value: ionvalue.String(j.Bucket)},
		ionvalue.Field{Name: "prefix", Value: ionvalue.String(j.Prefix)},
		ionvalue.Field{Name: "objectEncryptionType", Value: ionvalue.String(j.Encryption)},
	)
	if j.FormatGiven {
		v.Fields = append(v.Fields, ionvalue.Field{Name: "outputFormat", Value: ionvalue.String(j.Format)})
	}
	return encodeValues(j.Format, []*ionvalue.Value{v})
}

// completedManifest lists the full keys of the data objects, in order.
func completedManifest(j *Job, keys []string) []byte {
	ks := make([]*ionvalue.Value, len(keys))
	for i, k := range keys {
		ks[i] = ionvalue.String(k)
	}
	return encodeValues(j.Format, []*ionvalue.Value{ionvalue.Struct(ionvalue.Field{Name: "keys", Value: ionvalue.List(ks...)})})
}

// encodeBlocks encodes blocks as a data object in format f.
func encodeBlocks(f string, blocks []*journal.Block) []byte {
	vs := make([]*ionvalue.Value, len(blocks))
	for i, b := range blocks {
		vs[i] = b.Ion()
	}
	return encodeValues(f, vs)
}

// encodeValues writes top-level values in format f: Ion text (one value a
// line), binary Ion (one Ion stream) or JSON Lines (the Ion cookbook's
// down-conversion, one value a line).
func encodeValues(f string, vs []*ionvalue.Value) []byte {
	var b []byte
	switch f {
	case FormatIonBinary:
		for _, v := range vs {
			bin, err := ionvalue.MarshalBinary(v)
			if err != nil { // cannot happen for blocks the journal holds
				panic(fmt.Sprintf("export: encode: %v", err))
			}
			// Each value starts with a version marker and its own
			// symbol table: concatenated, they are one valid Ion stream.
			b = append(b, bin...)
		}
	case FormatJSON:
		for _, v := range vs {
			b = AppendJSON(b, v)
			b = append(b, '\n')
		}
	default:
		for _, v := range vs {
			b = append(b, ionvalue.MarshalText(v)...)
			b = append(b, '\n')
		}
	}
	return b
}

// AppendJSON appends v down-converted to JSON as the Ion cookbook says:
// nulls become null, ints and decimals numbers (precision kept), floats
// numbers (nan and infinities null), timestamps, symbols and strings
// strings, clobs strings of their bytes, blobs base64 strings, structs
// objects, lists and sexps arrays; annotations are dropped.
func AppendJSON(b []byte, v *ionvalue.Value) []byte {
	if v == nil || v.IsNull || v.Type == ion.NullType {
		return append(b, "null"...)
	}
	switch v.Type {
	case ion.BoolType:
		return strconv.AppendBool(b, v.Bool)
	case ion.IntType:
		if v.BigInt != nil {
			return v.BigInt.Append(b, 10)
		}
		return strconv.AppendInt(b, v.Int, 10)
	case ion.FloatType:
		if math.IsNaN(v.Float) || math.IsInf(v.Float, 0) {
			return append(b, "null"...)
		}
		return strconv.AppendFloat(b, v.Float, 'g', -1, 64)
	case ion.DecimalType:
		return appendDecimal(b, v.Decimal)
	case ion.TimestampType:
		return appendJSONString(b, ionvalue.FormatTimestamp(v.Time))
	case ion.StringType, ion.SymbolType:
		return appendJSONString(b, v.Text)
	case ion.ClobType:
		b = append(b, '"')
		for _, c := range v.Bytes {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c >= 0x20 && c <= 0x7e:
				b = append(b, c)
			default:
				b = fmt.Appendf(b, `\u%04x`, c)
			}
		}
		return append(b, '"')
	case ion.BlobType:
		b = append(b, '"')
		b = base64.StdEncoding.AppendEncode(b, v.Bytes)
		return append(b, '"')
	case ion.ListType, ion.SexpType:
		b = append(b, '[')
		for i, e := range v.Elems {
			if i > 0 {
				b = append(b, ',')
			}
			b = AppendJSON(b, e)
		}
		return append(b, ']')
	case ion.StructType:
		b = append(b, '{')
		for i, f := range v.Fields {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, f.Name)
			b = append(b, ':')
			b = AppendJSON(b, f.Value)
		}
		return append(b, '}')
	}
	return append(b, "null"...)
}

// appendDecimal writes an Ion decimal as a JSON number with all its digits.
func appendDecimal(b []byte, d *ion.Decimal) []byte {
	if d == nil {
		return append(b, "null"...)
	}
	coef, exp := d.CoEx()
	neg := coef.Sign() < 0 || ionvalue.IsNegativeZero(d)
	digits := new(big.Int).Abs(coef).String()
	if neg {
		b = append(b, '-')
	}
	switch {
	case exp >= 0:
		b = append(b, digits...)
		if exp > 0 {
			b = append(b, 'e')
			b = strconv.AppendInt(b, int64(exp), 10)
		}
	default:
		n := int(-exp)
		if len(digits) <= n {
			digits = strings.Repeat("0", n-len(digits)+1) + digits
		}
		b = append(b, digits[:len(digits)-n]...)
		b = append(b, '.')
		b = append(b, digits[len(digits)-n:]...)
	}
	return b
}

func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == '"' || r == '\\':
			b = append(b, '\\', byte(r))
		case r < 0x20:
			switch r {
			case '\n':
				b = append(b, `\n`...)
			case '\r':
				b = append(b, `\r`...)
			case '\t':
				b = append(b, `\t`...)
			default:
				b = fmt.Appendf(b, `\u%04x`, r)
			}
		case r == utf8.RuneError && size == 1:
			b = append(b, `\ufffd`...)
		default:
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}
