package ionvalue

import (
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"

	"github.com/amzn/ion-go/ion"
)

// Read returns the value r is positioned on (after a successful r.Next()),
// including its annotations and, for containers, everything inside it. The
// reader is left on that value, so the caller continues with r.Next(). A
// symbol, field name or annotation whose text is unknown (only a symbol id) is
// read as the text "$<sid>". A value nested deeper than MaxDepth is refused
// with an error wrapping ErrTooDeep before its too-deep container is entered;
// the reader must then not be used further (moving on would make ion-go skip
// the rest of the container, which it does recursively for text).
func Read(r ion.Reader) (*Value, error) {
	v, err := read(r, 0, MaxDepth)
	if err != nil {
		return nil, fmt.Errorf("ionvalue: read: %w", err)
	}
	return v, nil
}

// read reads the value r is on, which sits inside depth containers; no
// container may sit deeper than limit.
func read(r ion.Reader, depth, limit int) (*Value, error) {
	t := r.Type()
	if t == ion.NoType {
		return nil, errors.New("reader is not positioned on a value")
	}
	anns, err := r.Annotations()
	if err != nil {
		return nil, err
	}
	v := &Value{Type: t}
	for _, a := range anns {
		text := tokenText(a)
		if err := checkUTF8("annotation", text); err != nil {
			return nil, err
		}
		v.Annotations = append(v.Annotations, text)
	}
	if t == ion.NullType {
		v.IsNull = true
		return v, nil
	}
	if r.IsNull() {
		v.IsNull = true
		return v, nil
	}
	switch t {
	case ion.BoolType:
		b, err := r.BoolValue()
		if err != nil {
			return nil, err
		}
		v.Bool = *b
	case ion.IntType:
		size, err := r.IntSize()
		if err != nil {
			return nil, err
		}
		if size == ion.BigInt {
			bi, err := r.BigIntValue()
			if err != nil {
				return nil, err
			}
			setBigInt(v, bi)
		} else {
			n, err := r.Int64Value()
			if err != nil {
				return nil, err
			}
			v.Int = *n
		}
	case ion.FloatType:
		f, err := r.FloatValue()
		if err != nil {
			return nil, err
		}
		v.Float = *f
	case ion.DecimalType:
		d, err := r.DecimalValue()
		if err != nil {
			return nil, err
		}
		v.Decimal = d
	case ion.TimestampType:
		ts, err := r.TimestampValue()
		if err != nil {
			return nil, err
		}
		v.Time = *ts
	case ion.SymbolType:
		s, err := r.SymbolValue()
		if err != nil {
			return nil, err
		}
		v.Text = tokenText(*s)
		if err := checkUTF8("symbol", v.Text); err != nil {
			return nil, err
		}
	case ion.StringType:
		s, err := r.StringValue()
		if err != nil {
			return nil, err
		}
		if err := checkUTF8("string", *s); err != nil {
			return nil, err
		}
		v.Text = *s
	case ion.ClobType, ion.BlobType:
		b, err := r.ByteValue()
		if err != nil {
			return nil, err
		}
		v.Bytes = append([]byte{}, b...)
	case ion.ListType, ion.SexpType, ion.StructType:
		if depth >= limit {
			return nil, tooDeep(limit)
		}
		if err := readContainer(r, v, depth+1, limit); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("unknown Ion type %v", t)
	}
	return v, nil
}

// readContainer steps into the container r is on, at the given depth, and
// reads its children into v.
func readContainer(r ion.Reader, v *Value, depth, limit int) error {
	if err := r.StepIn(); err != nil {
		return err
	}
	for r.Next() {
		var name string
		if v.Type == ion.StructType {
			tok, err := r.FieldName()
			if err != nil {
				return err
			}
			if tok == nil {
				return errors.New("struct field without a name")
			}
			name = tokenText(*tok)
			if err := checkUTF8("field name", name); err != nil {
				return err
			}
		}
		child, err := read(r, depth, limit)
		if err != nil {
			if errors.Is(err, ErrTooDeep) {
				return err // the path would be as long as the limit
			}
			if v.Type == ion.StructType {
				return fmt.Errorf("field %q: %w", name, err)
			}
			return fmt.Errorf("element %d: %w", len(v.Elems), err)
		}
		if v.Type == ion.StructType {
			v.Fields = append(v.Fields, Field{Name: name, Value: child})
		} else {
			v.Elems = append(v.Elems, child)
		}
	}
	if err := r.Err(); err != nil {
		return err
	}
	return r.StepOut()
}

// checkUTF8 refuses text that is not valid UTF-8. Ion requires UTF-8
// everywhere, and ion-go's binary reader enforces it, but its text reader
// passes raw bytes through: without this check a text parameter could store
// a value whose binary encoding can never be read back (a block that no
// reader, verifier or stream could decode).
func checkUTF8(what, s string) error {
	if utf8.ValidString(s) {
		return nil
	}
	return fmt.Errorf("%w: %s is not valid UTF-8", ErrInvalidText, what)
}

// tokenText is the text of a symbol token, or "$<sid>" when it has none.
func tokenText(t ion.SymbolToken) string {
	if t.Text != nil {
		return *t.Text
	}
	return "$" + strconv.FormatInt(t.LocalSID, 10)
}

// Decode reads every top-level value of an Ion stream: binary when b starts
// with the Ion 1.0 version marker E0 01 00 EA, text otherwise. An empty or
// all-whitespace input gives no values and no error. A value nested deeper
// than MaxDepth is refused with an error wrapping ErrTooDeep, before the
// reader goes past the limit.
func Decode(b []byte) ([]*Value, error) {
	return decode(b, MaxDepth)
}

func decode(b []byte, limit int) (out []*Value, err error) {
	b, err = ForIonGo(b)
	if err != nil {
		return nil, err
	}
	defer func() {
		if p := recover(); p != nil {
			out, err = nil, fmt.Errorf("%w: the Ion reader failed on it (%v)", ErrMalformed, p)
		}
	}()
	r := ion.NewReaderBytes(b)
	for r.Next() {
		v, err := read(r, 0, limit)
		if err != nil {
			return nil, fmt.Errorf("ionvalue: decode value %d: %w", len(out), err)
		}
		out = append(out, v)
	}
	if err := r.Err(); err != nil {
		return nil, fmt.Errorf("ionvalue: decode value %d: %w", len(out), err)
	}
	return out, nil
}

// DecodeOne decodes an Ion stream (binary or text, as for Decode) that must
// hold exactly one top-level value, and returns it. Values nested deeper than
// MaxDepth are refused (ErrTooDeep). It is the decoder of client input
// (statement parameters): binary Ion goes through Strand's own decoder
// (binary_read.go, at MaxDepth), which hands anything it does not decode
// exactly, errors included, to the ion-go based reader, so the values and
// errors are that reader's (ErrTooDeep, ErrInvalidText, ErrLength,
// ErrMalformed; never a panic). Text Ion is read by ion-go's text reader.
// The values of one result share a few allocations, as for DecodeStored.
func DecodeOne(b []byte) (*Value, error) {
	if v, ok := decodeClientBinary(b); ok {
		return v, nil
	}
	return decodeOne(b, MaxDepth)
}

// decodeClientBinary is Strand's binary decoder at MaxDepth, for client
// input. Should it ever fail inside itself (no input is known to make it;
// FuzzDecodeBinary looks for one), the input goes to the ion-go based
// reader instead, which reports malformed Ion as ErrMalformed.
func decodeClientBinary(b []byte) (v *Value, ok bool) {
	defer func() {
		if recover() != nil {
			v, ok = nil, false
		}
	}()
	return (&binaryDecoder{limit: MaxDepth}).decode(b)
}

// DecodeStored is DecodeOne for Ion that Strand wrote around a user value
// (committed revisions, journal blocks, stream records): it allows
// MaxStoredDepth, so a document of MaxDepth still reads back inside its
// envelope. It decodes the binary Ion Strand writes with its own decoder
// (see Decoder; the values and errors are those of the ion-go based reader),
// so the result's values share a few allocations: keeping any part of it
// keeps the whole decoded input in memory.
func DecodeStored(b []byte) (*Value, error) {
	if v, ok := decodeBinary(b); ok {
		return v, nil
	}
	return decodeOne(b, MaxStoredDepth)
}

func decodeOne(b []byte, limit int) (*Value, error) {
	vs, err := decode(b, limit)
	if err != nil {
		return nil, err
	}
	if len(vs) != 1 {
		return nil, fmt.Errorf("ionvalue: decode: want exactly one value, got %d", len(vs))
	}
	return vs[0], nil
}

// ErrInvalidText reports a string, symbol, field name or annotation whose
// text is not valid UTF-8.
var ErrInvalidText = errors.New("ionvalue: invalid text")

// ErrMalformed reports Ion that ion-go's reader cannot read without failing
// inside itself (it panics on some malformed binary, such as a broken local
// symbol table): the panic is caught and turned into this error, so
// malformed input from a client is a client error.
var ErrMalformed = errors.New("ionvalue: malformed Ion")
