package partiql

import (
	"context"
	"errors"
	"fmt"
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
// an exact measure. A nil value (MISSING) is 0.
func ApproxSize(v *ionvalue.Value) int64 {
	if v == nil {
		return 0
	}
	n := valueSize + int64(len(v.Text)) + int64(len(v.Bytes))
	for _, a := range v.Annotations {
		n += int64(len(a)) + 16
	}
	if v.BigInt != nil || v.Decimal != nil {
		n += 64
	}
	for _, e := range v.Elems {
		n += ptrSize + ApproxSize(e)
	}
	for _, f := range v.Fields {
		n += fieldSize + int64(len(f.Name)) + ApproxSize(f.Value)
	}
	return n
}
