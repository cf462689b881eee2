package ionvalue

import (
	"bytes"
	"errors"
	"fmt"
)

// ErrLength is returned (wrapped) by CheckBinaryLengths, and so by Decode,
// for binary Ion whose structure does not hold together: a value that
// declares more bytes than its container (or the input) holds, a container
// whose contents do not end exactly where it says, a field name, annotation
// or length whose VarUInt runs past its container, an annotation wrapper
// that does not wrap exactly one value, or a type descriptor no value has.
var ErrLength = errors.New("ionvalue: value length exceeds the input")

// CheckBinaryLengths guards ion-go's binary reader (v1.1.3), which allocates
// a buffer of a value's declared length before reading it. ion-go checks
// that length against the enclosing container only, so at the top level
// nothing bounds it; and it does not step into a sorted struct (see
// ForIonGo), so it reads the bytes inside one as top-level values. Either
// way a 25-byte input can declare a 1.6 TB blob, and the process dies with
// a fatal (unrecoverable) out-of-memory error.
//
// It therefore walks the whole structure the way the Ion 1.0 binary format
// defines it, containers included, without recursion (an explicit stack of
// at most one entry per two input bytes), and rejects any input whose
// structure does not hold together (see ErrLength): ion-go is only ever
// handed binary Ion in which every declared length, at every level, lies
// inside its container. Values are not otherwise checked (a string's
// UTF-8, an int's encoding): that is the readers' job. Text input (b not
// starting with the binary version marker, as ion-go decides) is not
// checked.
//
// Containers nested deeper than every reader allows are refused with an
// error wrapping ErrTooDeep (see maxGuardFrames), so that the walk's own
// memory stays bounded.
//
// Two leniencies of ion-go are kept at the top level: a NOP pad cut short by
// the end of the input, and a type descriptor no value has (the reader fails
// on it before allocating anything); inside a container the latter is
// refused here.
func CheckBinaryLengths(b []byte) error {
	_, err := ForIonGo(b)
	return err
}

// ForIonGo checks b as CheckBinaryLengths does and returns the bytes to hand
// to ion-go's reader: b itself, or a copy of b in which the type descriptor
// of every sorted struct (0xD1: a struct whose length follows as a VarUInt
// and whose fields are in symbol order) is re-marked 0xDE (a struct whose
// length follows as a VarUInt), the same layout and the same value. ion-go
// v1.1.3 does not step into a sorted struct as a struct: it reads the
// struct's first field name as the type descriptor of a top-level value,
// where no container bounds its length, so a 30-byte input declaring a
// 200 TB blob inside a sorted struct ended the process (found by
// FuzzMarshalBinary, 2026-12-07). Strand's own binary decoder reads sorted
// structs itself.
func ForIonGo(b []byte) ([]byte, error) {
	if len(b) < 4 || b[0] != 0xE0 || b[3] != 0xEA { // ion-go's own test of the marker
		return b, nil
	}
	sorted, err := checkStructure(b)
	if err != nil || len(sorted) == 0 {
		return b, err
	}
	out := bytes.Clone(b)
	for _, at := range sorted {
		out[at] = 0xDE
	}
	return out, nil
}

// guardFrame is a container being walked by checkStructure.
type guardFrame struct {
	end     int  // offset just past its contents
	kind    byte // 0xB list, 0xC sexp, 0xD struct, 0xE annotation wrapper
	wrapped bool // annotation wrapper: its one value has been read
}

func lengthErr(pos int, format string, args ...any) error {
	return fmt.Errorf("%w: at byte %d: %s", ErrLength, pos, fmt.Sprintf(format, args...))
}

// maxGuardFrames bounds checkStructure's stack, so that the check costs at
// most a few tens of KiB whatever the input: a container and its annotation
// wrapper take a frame each, so deeper input nests containers beyond
// MaxStoredDepth, which every reader refuses (ErrTooDeep) anyway.
const maxGuardFrames = 2*MaxStoredDepth + 2

// maxLengthVarUint is the longest VarUInt length checkStructure accepts:
// 9 bytes hold 63 bits, more than any input's length; a longer one could
// overflow while being read.
const maxLengthVarUint = 9

// checkStructure walks b (binary Ion starting with the version marker) and
// returns the offsets of the sorted structs' type descriptors, or an error
// wrapping ErrLength.
func checkStructure(b []byte) (sorted []int, err error) {
	n := len(b)
	var stack []guardFrame
	pos := 0
	for {
		// Close the containers that end here.
		for len(stack) > 0 && pos == stack[len(stack)-1].end {
			c := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if c.kind == 0xE && !c.wrapped {
				return nil, lengthErr(pos, "annotation wrapper without a value")
			}
		}
		if pos == n {
			return sorted, nil
		}
		limit := n
		var parent *guardFrame
		if len(stack) > 0 {
			parent = &stack[len(stack)-1]
			limit = parent.end
		}
		if parent != nil && parent.kind == 0xE && parent.wrapped {
			return nil, lengthErr(pos, "bytes after an annotation wrapper's value, inside the wrapper")
		}
		if parent != nil && parent.kind == 0xD {
			_, k, ok := ReadVarUint(b[pos:limit])
			if !ok {
				return nil, lengthErr(pos, "a field name runs past its struct")
			}
			pos += k
			if pos == limit {
				return nil, lengthErr(pos, "a field name without a value at the end of its struct")
			}
		}
		start := pos
		c := b[pos]
		pos++
		t, l := c>>4, int(c&0x0F)
		if parent != nil && parent.kind == 0xE {
			parent.wrapped = true
		}
		switch {
		case t == 0xF, t == 0xE && l == 0x0F, t == 0x1 && l > 1 && l != 0x0F:
			if parent == nil {
				return sorted, nil // the reader fails here, before allocating
			}
			return nil, lengthErr(start, "type descriptor %#02x", c)
		case t == 0xE && l == 0:
			if parent != nil {
				return nil, lengthErr(start, "a version marker inside a container")
			}
			if n-start < 4 {
				return nil, lengthErr(start, "a version marker cut short")
			}
			pos = start + 4
			continue
		case l == 0x0F, t == 0x1:
			continue // a null, or a bool (whose L nibble is its value)
		}
		length := l
		if l == 0x0E || t == 0xD && l == 1 {
			end := min(limit, pos+maxLengthVarUint)
			v, k, ok := ReadVarUint(b[pos:end])
			if !ok {
				if parent == nil && limit-pos >= maxLengthVarUint {
					return nil, lengthErr(start, "a length VarUInt longer than %d bytes", maxLengthVarUint)
				}
				if parent == nil {
					return sorted, nil // the reader fails on the VarUInt
				}
				return nil, lengthErr(start, "a length VarUInt runs past its container")
			}
			pos += k
			if v > uint64(limit-pos) {
				if t == 0x0 && parent == nil {
					return sorted, nil // a top-level NOP pad cut short: skipped, never read
				}
				return nil, lengthErr(start, "a value of %d bytes with %d left in its container", v, limit-pos)
			}
			length = int(v)
		}
		if length > limit-pos {
			if t == 0x0 && parent == nil {
				return sorted, nil
			}
			return nil, lengthErr(start, "a value of %d bytes with %d left in its container", length, limit-pos)
		}
		if t == 0xD && l == 1 {
			if length == 0 {
				return nil, lengthErr(start, "an empty sorted struct")
			}
			sorted = append(sorted, start)
		}
		if (t >= 0xB && t <= 0xE) && len(stack) >= maxGuardFrames {
			return nil, fmt.Errorf("%w: at byte %d: containers nested more than %d deep", ErrTooDeep, start, MaxStoredDepth)
		}
		switch t {
		case 0xB, 0xC, 0xD:
			if length > 0 {
				stack = append(stack, guardFrame{end: pos + length, kind: t})
				continue
			}
		case 0xE:
			// Annotation wrapper: the annotation list (whose own length
			// ion-go subtracts without checking) must leave room for the
			// value, which must fill the rest of the wrapper exactly.
			if parent != nil && parent.kind == 0xE {
				return nil, lengthErr(start, "an annotation wrapper directly inside another")
			}
			end := pos + length
			annLen, k, ok := ReadVarUint(b[pos:end])
			if !ok || annLen == 0 || annLen >= uint64(end-pos-k) {
				return nil, lengthErr(start, "an annotation list that leaves no room for its value")
			}
			p, annEnd := pos+k, pos+k+int(annLen)
			for p < annEnd {
				_, m, ok := ReadVarUint(b[p:annEnd])
				if !ok {
					return nil, lengthErr(p, "an annotation runs past its list")
				}
				p += m
			}
			stack = append(stack, guardFrame{end: end, kind: 0xE})
			pos = annEnd
			continue
		}
		pos += length
	}
}
