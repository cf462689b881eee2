package ionvalue

import "errors"

// ErrLength is returned (wrapped) by CheckBinaryLengths, and so by Decode,
// for binary Ion whose top-level value declares more bytes than the input
// holds.
var ErrLength = errors.New("ionvalue: value length exceeds the input")

// CheckBinaryLengths guards ion-go's binary reader (v1.1.3), which allocates
// a buffer of a value's declared length before reading it and checks that
// length against the enclosing container only: at the top level nothing
// bounds it, so a 16-byte input declaring a 2 TB int makes the process die
// with a fatal (unrecoverable) out-of-memory error. Values inside a container
// are bounded by the container's declared length, so it is enough that every
// top-level value, and every top-level annotation wrapper's contents, fit in
// b. Text input (b not starting with the binary version marker, as ion-go
// decides) is not checked.
//
// It returns an error wrapping ErrLength when a top-level value overruns
// b. It returns nil, leaving the error to the reader, as soon as it meets a
// byte sequence the reader rejects before allocating anything. ion-go itself
// would accept a truncated top-level container (it treats the end of input
// as the end of the container); such input is rejected here.
func CheckBinaryLengths(b []byte) error {
	if len(b) < 4 || b[0] != 0xE0 || b[3] != 0xEA { // ion-go's own test of the marker
		return nil
	}
	n := uint64(len(b))
	for pos := uint64(0); pos < n; {
		c := b[pos]
		pos++
		t, l := c>>4, c&0x0F
		switch {
		case t == 0xF, t == 0xE && l == 0x0F, t == 0x1 && l > 1 && l != 0x0F:
			return nil // invalid type descriptor: the reader fails here
		case t == 0xE && l == 0:
			pos += 3 // version marker
			continue
		case l == 0x0F, t == 0x1:
			continue // a null, or a bool (whose L nibble is its value)
		}
		length := uint64(l)
		if l == 0x0E || t == 0xD && l == 1 {
			v, k, ok := ReadVarUint(b[pos:])
			if !ok {
				return nil // the reader fails on the VarUInt
			}
			pos += uint64(k)
			length = v
		}
		if t == 0x0 {
			// NOP padding is skipped, never read into memory, and the
			// reader accepts it truncated.
			pos += min(length, n-pos)
			continue
		}
		if length > n-pos {
			return ErrLength
		}
		if t == 0xE {
			// Annotation wrapper: the annotation list must leave room for
			// the value. ion-go subtracts without checking and would take
			// an underflowed remainder as the wrapped value's length.
			v, k, ok := ReadVarUint(b[pos : pos+length])
			if !ok || v >= length-uint64(k) {
				return ErrLength
			}
		}
		pos += length
	}
	return nil
}
