package streamtail

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"strconv"

	"github.com/amzn/ion-go/ion"

	"github.com/strand-db/strand/internal/ionvalue"
)

// FormatIon renders a record's Ion as pretty-printed Ion text.
func FormatIon(data []byte) (string, error) {
	v, err := ionvalue.DecodeOne(data)
	if err != nil {
		return "", fmt.Errorf("streamtail: %w", err)
	}
	return ionvalue.MarshalPretty(v, "  "), nil
}

// FormatJSON renders a record's Ion as one line of JSON, down-converted as
// the AWS SDKs' Ion-to-JSON conversion does: blobs and clobs become base64
// strings, timestamps their Ion text, symbols strings, sexps arrays,
// decimals and big integers JSON numbers, nan and infinities null, and
// annotations are dropped.
func FormatJSON(data []byte) (string, error) {
	v, err := ionvalue.DecodeOne(data)
	if err != nil {
		return "", fmt.Errorf("streamtail: %w", err)
	}
	var b bytes.Buffer
	appendJSON(&b, v)
	return b.String(), nil
}

func appendJSON(b *bytes.Buffer, v *ionvalue.Value) {
	if v == nil || v.IsNull || v.Type == ion.NullType || v.Type == ion.NoType {
		b.WriteString("null")
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
		if math.IsNaN(v.Float) || math.IsInf(v.Float, 0) {
			b.WriteString("null")
		} else {
			b.WriteString(strconv.FormatFloat(v.Float, 'g', -1, 64))
		}
	case ion.DecimalType:
		// Ion decimal text uses d for the exponent; JSON wants e.
		s := ionvalue.MarshalText(&ionvalue.Value{Type: ion.DecimalType, Decimal: v.Decimal})
		out := []byte(s)
		for i, c := range out {
			if c == 'd' || c == 'D' {
				out[i] = 'e'
			}
		}
		if n := len(out); n > 0 && out[n-1] == '.' {
			out = out[:n-1]
		}
		if _, err := strconv.ParseFloat(string(out), 64); err != nil {
			writeString(b, s)
			return
		}
		b.Write(out)
	case ion.TimestampType:
		writeString(b, ionvalue.FormatTimestamp(v.Time))
	case ion.StringType, ion.SymbolType:
		writeString(b, v.Text)
	case ion.BlobType, ion.ClobType:
		writeString(b, base64.StdEncoding.EncodeToString(v.Bytes))
	case ion.ListType, ion.SexpType:
		b.WriteByte('[')
		for i, e := range v.Elems {
			if i > 0 {
				b.WriteByte(',')
			}
			appendJSON(b, e)
		}
		b.WriteByte(']')
	case ion.StructType:
		b.WriteByte('{')
		for i, f := range v.Fields {
			if i > 0 {
				b.WriteByte(',')
			}
			writeString(b, f.Name)
			b.WriteByte(':')
			appendJSON(b, f.Value)
		}
		b.WriteByte('}')
	default:
		b.WriteString("null")
	}
}

func writeString(b *bytes.Buffer, s string) {
	enc, _ := json.Marshal(s)
	b.Write(enc)
}
