package ionvalue

import (
	"bytes"
	"strings"

	"github.com/amzn/ion-go/ion"
)

// MarshalPretty returns the Ion text of v laid out for people, as the QLDB
// shell prints results: every non-empty struct, list and sexp opens a new
// line per element, indented by indent per level, with "name: value" fields
// and ", " separators; scalars and empty containers are written exactly as
// MarshalText writes them. Decode(MarshalPretty(v, ...)) gives a value Equal
// to v, like MarshalText.
func MarshalPretty(v *Value, indent string) string {
	var b bytes.Buffer
	appendPretty(&b, v, indent, 0)
	return b.String()
}

func appendPretty(b *bytes.Buffer, v *Value, indent string, depth int) {
	if v == nil || v.IsNull || !v.isContainer() || depth >= MaxStoredDepth ||
		(len(v.Elems) == 0 && len(v.Fields) == 0) {
		appendText(b, v, depth)
		return
	}
	for _, a := range v.Annotations {
		appendSymbol(b, a)
		b.WriteString("::")
	}
	open, sep, end := "[", ",", "]"
	switch v.Type {
	case ion.SexpType:
		open, sep, end = "(", "", ")"
	case ion.StructType:
		open, end = "{", "}"
	}
	pad := strings.Repeat(indent, depth+1)
	b.WriteString(open)
	n := len(v.Elems)
	if v.Type == ion.StructType {
		n = len(v.Fields)
	}
	for i := 0; i < n; i++ {
		b.WriteByte('\n')
		b.WriteString(pad)
		if v.Type == ion.StructType {
			appendSymbol(b, v.Fields[i].Name)
			b.WriteString(": ")
			appendPretty(b, v.Fields[i].Value, indent, depth+1)
		} else {
			appendPretty(b, v.Elems[i], indent, depth+1)
		}
		if i < n-1 {
			b.WriteString(sep)
		}
	}
	b.WriteByte('\n')
	b.WriteString(strings.Repeat(indent, depth))
	b.WriteString(end)
}
