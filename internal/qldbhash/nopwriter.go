package qldbhash

import (
	"math/big"

	"github.com/amzn/ion-go/ion"
)

// nopWriter is the ion.Writer under the HashWriter: it discards every value
// but tracks container nesting, because the hasher asks the wrapped writer
// whether it is inside a struct. Using it instead of a binary writer avoids
// buffering an encoding nobody reads.
type nopWriter struct {
	stack []ion.Type
}

func (w *nopWriter) push(t ion.Type) error { w.stack = append(w.stack, t); return nil }

func (w *nopWriter) pop() error {
	if len(w.stack) > 0 {
		w.stack = w.stack[:len(w.stack)-1]
	}
	return nil
}

func (w *nopWriter) FieldName(ion.SymbolToken) error      { return nil }
func (w *nopWriter) Annotation(ion.SymbolToken) error     { return nil }
func (w *nopWriter) Annotations(...ion.SymbolToken) error { return nil }
func (w *nopWriter) WriteNull() error                     { return nil }
func (w *nopWriter) WriteNullType(ion.Type) error         { return nil }
func (w *nopWriter) WriteBool(bool) error                 { return nil }
func (w *nopWriter) WriteInt(int64) error                 { return nil }
func (w *nopWriter) WriteUint(uint64) error               { return nil }
func (w *nopWriter) WriteBigInt(*big.Int) error           { return nil }
func (w *nopWriter) WriteFloat(float64) error             { return nil }
func (w *nopWriter) WriteDecimal(*ion.Decimal) error      { return nil }
func (w *nopWriter) WriteTimestamp(ion.Timestamp) error   { return nil }
func (w *nopWriter) WriteSymbol(ion.SymbolToken) error    { return nil }
func (w *nopWriter) WriteSymbolFromString(string) error   { return nil }
func (w *nopWriter) WriteString(string) error             { return nil }
func (w *nopWriter) WriteClob([]byte) error               { return nil }
func (w *nopWriter) WriteBlob([]byte) error               { return nil }
func (w *nopWriter) BeginList() error                     { return w.push(ion.ListType) }
func (w *nopWriter) EndList() error                       { return w.pop() }
func (w *nopWriter) BeginSexp() error                     { return w.push(ion.SexpType) }
func (w *nopWriter) EndSexp() error                       { return w.pop() }
func (w *nopWriter) BeginStruct() error                   { return w.push(ion.StructType) }
func (w *nopWriter) EndStruct() error                     { return w.pop() }
func (w *nopWriter) Finish() error                        { return nil }
func (w *nopWriter) IsInStruct() bool {
	return len(w.stack) > 0 && w.stack[len(w.stack)-1] == ion.StructType
}

var _ ion.Writer = (*nopWriter)(nil)
