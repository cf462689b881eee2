package partiql

import (
	"context"
	"errors"
	"fmt"
	"math"
	"unsafe"

	"github.com/strand-db/strand/internal/ionvalue"
)

// Limits bound the work of one statement, so that no single statement can
// take the machine. A zero field means no limit.
type Limits struct {
	// MaxRowsVisited bounds the rows the statement's FROM sources produce,
	// counted every time a nested loop produces them again (a three-way
	// cross join of 100-element lists visits 100 + 100² + 100³ rows), plus
	// the documents its reads deliver.
	MaxRowsVisited int64
	// MaxMemoryBytes bounds the approximate in-memory size (see ApproxSize)
	// of what the statement holds at once: its result rows, the rows of a
	// running nested SELECT, the documents read for a level of a nested
	// loop and the documents an UPDATE/DELETE/FROM has matched.
	MaxMemoryBytes int64
}

// CodeBudget is the Code of the BadRequestException for a statement that
// exceeded its Limits (Strand's choice, in the style of the other codes).
const CodeBudget = "400"

// ErrBudget is matched (errors.Is) by the *Error a statement gets when it
// exceeds its Limits.
var ErrBudget = errors.New("partiql: statement budget exceeded")

// budgetError is the *Error for an exceeded budget; Is lets callers count it.
type budgetError struct{ pe *Error }

func (e *budgetError) Error() string { return e.pe.Message }

// Is matches ErrBudget.
func (e *budgetError) Is(target error) bool { return target == ErrBudget }

// Unwrap exposes the *Error so errors.As(err, **Error) finds it.
func (e *budgetError) Unwrap() error { return e.pe }

func newBudgetError(format string, args ...any) error {
	return &budgetError{&Error{Code: CodeBudget, Message: "Statement budget exceeded: " + fmt.Sprintf(format, args...)}}
}

// ctxCheckEvery is how many visited rows pass between two looks at the
// statement's context: often enough to stop within milliseconds, rarely
// enough to cost nothing measurable.
const ctxCheckEvery = 256

// visit counts n rows visited and, every ctxCheckEvery rows, looks at the
// statement's context. It returns the budget error or the context's cause
// (wrapped) once the statement must stop.
func (c *execCtx) visit(n int64) error {
	c.visited += n
	if c.lim.MaxRowsVisited > 0 && c.visited > c.lim.MaxRowsVisited {
		return newBudgetError("the statement visited more than %d rows; narrow it with an indexed WHERE condition or split it", c.lim.MaxRowsVisited)
	}
	if c.visited-c.lastCheck >= ctxCheckEvery {
		c.lastCheck = c.visited
		return c.checkCtx()
	}
	return nil
}

// checkCtx returns a non-nil error once the statement's context is done.
func (c *execCtx) checkCtx() error {
	if c.ctx.Err() != nil {
		return fmt.Errorf("partiql: statement stopped: %w", context.Cause(c.ctx))
	}
	return nil
}

// charge accounts n more bytes held by the statement.
func (c *execCtx) charge(n int64) error {
	c.mem += n
	if c.lim.MaxMemoryBytes > 0 && c.mem > c.lim.MaxMemoryBytes {
		return newBudgetError("the statement needs more than %d bytes of memory for its rows; narrow it with a WHERE condition or split it", c.lim.MaxMemoryBytes)
	}
	return nil
}

// release gives back n bytes charged earlier.
func (c *execCtx) release(n int64) { c.mem -= n }

// Approximate sizes of the in-memory value representation.
var (
	valueSize = int64(unsafe.Sizeof(ionvalue.Value{}))
	fieldSize = int64(unsafe.Sizeof(ionvalue.Field{}))
	ptrSize   = int64(unsafe.Sizeof(uintptr(0)))
)

// ApproxSize estimates the bytes v occupies in memory as an
// *ionvalue.Value tree: a node per value, its text, bytes, field names and
// the slices that hold its children. Shared sub-values are counted once per
// reference, as an encoder would write them. It is a budget estimate, not
// an exact measure. A nil value (MISSING) is 0. Its time is linear in
// that size, so on a value the statement built from shared parts it can be
// exponential in the statement's length: use ApproxSizeUpTo where v may be
// such a value.
func ApproxSize(v *ionvalue.Value) int64 { return ApproxSizeUpTo(v, math.MaxInt64) }

// ApproxSizeUpTo is ApproxSize(v) when that is at most limit, and otherwise
// some number above limit. It stops walking v once the sum passes limit,
// so it visits at most about limit/valueSize values whatever v's shape.
func ApproxSizeUpTo(v *ionvalue.Value, limit int64) int64 {
	if v == nil {
		return 0
	}
	n := valueSize + int64(len(v.Text)) + int64(len(v.Bytes))
	for _, a := range v.Annotations {
		n += int64(len(a)) + 16
	}
	switch {
	case v.BigInt != nil:
		n += 32 + int64(v.BigInt.BitLen()+7)/8
	case v.Decimal != nil:
		co, _ := v.Decimal.CoEx()
		n += 64 + int64(co.BitLen()+7)/8
	}
	for _, e := range v.Elems {
		if n > limit {
			return n
		}
		n += ptrSize + ApproxSizeUpTo(e, limit-n)
	}
	for _, f := range v.Fields {
		if n > limit {
			return n
		}
		n += fieldSize + int64(len(f.Name)) + ApproxSizeUpTo(f.Value, limit-n)
	}
	return n
}

// chargeValue charges what holding v costs (its ApproxSize and a pointer)
// and returns the amount charged. It walks v no further than the budget
// left, so a value built from shared parts costs no more time than one of
// the budget's size.
func (c *execCtx) chargeValue(v *ionvalue.Value) (int64, error) {
	limit := int64(math.MaxInt64)
	if c.lim.MaxMemoryBytes > 0 {
		limit = c.lim.MaxMemoryBytes - c.mem
	}
	n := ApproxSizeUpTo(v, limit) + ptrSize
	if err := c.spend(n / valueSize); err != nil {
		return 0, err
	}
	return n, c.charge(n)
}

// built returns v, a value the statement constructed (a list, bag or
// struct literal, or a concatenated string), or the budget error if its
// ApproxSize exceeds the memory budget. Constructed values may share
// parts: a few dozen FROM sources, each a list of the one before twice,
// make a value whose size is exponential in the statement's length, and
// every later walk of it (comparing, charging, encoding) would take as
// long. Checking each constructed value keeps every value the statement
// holds within the budget, and so every walk of one within limit/valueSize
// steps.
func (c *execCtx) built(v *ionvalue.Value) (*ionvalue.Value, error) {
	if c.lim.MaxMemoryBytes <= 0 {
		return v, nil
	}
	n := ApproxSizeUpTo(v, c.lim.MaxMemoryBytes)
	if n > c.lim.MaxMemoryBytes {
		return nil, newBudgetError("the statement builds a value of more than %d bytes; build it in smaller parts", c.lim.MaxMemoryBytes)
	}
	return v, c.spend(n / valueSize)
}

// spendCheckEvery is how many units of work (values walked, characters
// compared) pass between two looks at the statement's context, about a
// millisecond's worth.
const spendCheckEvery = 1 << 20

// spend counts n units of work done inside one row's evaluation (values
// walked, pattern steps) and, every spendCheckEvery units, looks at the
// statement's context, so that a single expression of quadratic cost
// (LIKE on long strings) stops when its transaction does.
func (c *execCtx) spend(n int64) error {
	c.spent += n
	if c.spent-c.lastSpendCheck >= spendCheckEvery {
		c.lastSpendCheck = c.spent
		return c.checkCtx()
	}
	return nil
}
