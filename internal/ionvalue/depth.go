package ionvalue

import (
	"errors"
	"fmt"

	"github.com/amzn/ion-go/ion"
)

// MaxDepth is the deepest container nesting Strand accepts in a value that a
// client sends or that a statement builds: statement parameters, PartiQL Ion
// literals, documents written and statement results. A scalar has depth 0,
// [] and {} depth 1, [{a:[]}] depth 3; annotations do not count.
//
// Every routine over a Value (reading, writing, hashing, comparing,
// evaluating) recurses once per level, and Go cannot recover from a stack
// overflow, so an unbounded depth lets one request end the process. 1,000 is
// far beyond any real document (QLDB documents are at most 128 KB, and
// nesting beyond a few dozen levels is unheard of in practice) while keeping
// the deepest recursion well under a megabyte of stack. It sits between
// Python's json module (about 1,000, its recursion limit) and Go's
// encoding/json (10,000).
const MaxDepth = 1000

// MaxStoredDepth bounds Ion that Strand writes around a user value: a
// committed revision ({blockAddress, hash, data, metadata}), a journal block
// (block -> revisions -> revision -> data) and a stream record (record ->
// payload -> revision -> data) add at most a few levels to a value of
// MaxDepth. DecodeStored, the encoders and the hashers accept values up to
// this depth.
const MaxStoredDepth = MaxDepth + 8

// ErrTooDeep is returned (wrapped) for a value nested deeper than the limit
// that applies: MaxDepth for Decode, DecodeOne and CheckDepth, MaxStoredDepth
// for DecodeStored, the encoders and the hashers.
var ErrTooDeep = errors.New("ionvalue: Ion nesting depth exceeds the limit")

// tooDeep returns ErrTooDeep with the limit in its message.
func tooDeep(limit int) error {
	return fmt.Errorf("%w of %d", ErrTooDeep, limit)
}

// isContainer reports whether v is a non-null list, s-expression or struct.
func (v *Value) isContainer() bool {
	if v == nil || v.IsNull {
		return false
	}
	switch v.Type {
	case ion.ListType, ion.SexpType, ion.StructType:
		return true
	}
	return false
}

// Depth returns the container nesting depth of v (0 for a scalar, a null or
// nil; 1 for a container of scalars). It walks v without recursion, so it is
// safe on a value of any depth, and stops counting at limit+1 when limit > 0
// (so that a caller checking a bound does not pay for the whole tree).
func Depth(v *Value, limit int) int {
	type frame struct {
		v     *Value
		depth int
	}
	max := 0
	stack := []frame{{v, 0}}
	for len(stack) > 0 {
		f := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if !f.v.isContainer() {
			continue
		}
		d := f.depth + 1
		if d > max {
			max = d
			if limit > 0 && max > limit {
				return max
			}
		}
		for _, e := range f.v.Elems {
			stack = append(stack, frame{e, d})
		}
		for _, fl := range f.v.Fields {
			stack = append(stack, frame{fl.Value, d})
		}
	}
	return max
}

// CheckDepth returns an error wrapping ErrTooDeep when v is nested deeper
// than MaxDepth. Code that builds values other than by decoding (PartiQL
// constructors, nested queries) calls it before handing a value on.
func CheckDepth(v *Value) error {
	if deeper(v, 0, MaxDepth) {
		return tooDeep(MaxDepth)
	}
	return nil
}

// deeper reports whether v, inside depth containers, holds a container
// deeper than limit. It recurses at most limit+1 levels and does not
// allocate.
func deeper(v *Value, depth, limit int) bool {
	if !v.isContainer() {
		return false
	}
	if depth >= limit {
		return true
	}
	for _, e := range v.Elems {
		if deeper(e, depth+1, limit) {
			return true
		}
	}
	for _, f := range v.Fields {
		if deeper(f.Value, depth+1, limit) {
			return true
		}
	}
	return false
}
