package ionvalue

import (
	"fmt"
	"sync"
	"time"
)

// This file holds the Encoder methods that let a writer of a fixed record
// shape (journal blocks and revisions) produce exactly the bytes
// MarshalBinary gives for the equivalent Value, without building that
// Value: field names checked as a struct's are, a nested Value written at
// its real depth with ion-go's symbol order, millisecond timestamps, and
// reuse of one Encoder's buffers.

// Reset empties the Encoder for the next top-level value, keeping its
// buffers and its style. Bytes returned earlier stay valid.
func (w *Encoder) Reset() {
	w.e.reset()
	w.open = w.open[:0]
	w.err = nil
}

// marshalEncoders holds MarshalBinary's encoders between calls: their
// buffers and symbol map are reused (each call's result is a fresh slice).
var marshalEncoders = sync.Pool{New: func() any { return &binaryEncoder{body: make([]byte, 0, 256)} }}

// Bounds of what a reused encoder keeps: a rare huge value does not pin
// its buffer, and a value with many distinct symbols does not leave a map
// that every later reset would have to clear.
const (
	keepBodyBytes = 1 << 20
	keepSymbols   = 256
)

// reset empties e for the next top-level value, keeping its buffers.
func (e *binaryEncoder) reset() {
	e.body = e.body[:0]
	e.limit = 0
	clear(e.syms) // drop the references to the texts
	e.syms = e.syms[:0]
	if len(e.local) > keepSymbols {
		e.local = nil
	} else {
		clear(e.local)
	}
}

// release returns e to pool unless its buffers grew too large to keep.
func (e *binaryEncoder) release(pool *sync.Pool) {
	if cap(e.body) <= keepBodyBytes && cap(e.syms) <= keepSymbols {
		pool.Put(e)
	}
}

// StructField writes the name of the next field of a struct, refusing (in
// IonGoStyle, as MarshalBinary does) a name of the form $<digits> with an
// error wrapping ErrSymbolIDText.
func (w *Encoder) StructField(name string) error {
	if !w.e.java && isSymbolID(name) {
		return fmt.Errorf("field name %q: %w", name, ErrSymbolIDText)
	}
	w.FieldName(name)
	return nil
}

// WriteField writes the struct field name: v as MarshalBinary writes a
// field of a struct that sits inside depth containers (the field's value
// is at depth+1): in IonGoStyle the text of a symbol value is interned
// before the field name, as ion-go does. On error the Encoder must not be
// used further.
func (w *Encoder) WriteField(name string, v *Value, depth int) error {
	if !w.e.java && isSymbolID(name) {
		return fmt.Errorf("field name %q: %w", name, ErrSymbolIDText)
	}
	if !w.e.java {
		w.e.symbolFirst(v)
	}
	w.FieldName(name)
	if err := w.e.value(v, depth+1); err != nil {
		return fmt.Errorf("field %q: %w", name, err)
	}
	return nil
}

// WriteTimeMillis writes t as TimeMillis(t) is written: UTC, truncated to
// the millisecond, three fractional digits.
func (w *Encoder) WriteTimeMillis(t time.Time) error {
	return w.WriteTimestamp(MillisTimestamp(t))
}

// Reusable reports whether w's buffers are small enough to keep in a pool
// for later values (see Reset).
func (w *Encoder) Reusable() bool {
	return cap(w.e.body) <= keepBodyBytes && cap(w.e.syms) <= keepSymbols
}
