package partiql

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/strand-db/strand/internal/ionvalue"
)

// ExecuteContext runs a parsed statement in a transaction. params bind the
// ? placeholders in order (a nil entry is MISSING); there must be exactly
// stmt.NumParams of them.
//
// Statement errors come back as *Error (see the Code* constants); errors
// from tx come back as they were when they are *Error, otherwise wrapped
// with %w and a "partiql: " prefix. After an error the transaction may hold
// some of the statement's writes: as in QLDB, the caller should abort it.
// ExecuteContext does not keep stmt, params or tx after it returns.
//
// It runs under a context and a budget. The evaluator
// looks at ctx every few hundred rows: once ctx is done the statement stops
// and the error wraps context.Cause(ctx) (so errors.Is finds the cause, for
// example context.Canceled or a cause given to context.WithDeadlineCause).
// A statement that exceeds lim fails with a *Error (Code CodeBudget) that
// errors.Is matches against ErrBudget. Either way the caller should undo
// the statement's writes, as after any error.
func ExecuteContext(ctx context.Context, tx Tx, stmt *Statement, params []*ionvalue.Value, lim Limits) (res *Result, err error) {
	if stmt == nil || stmt.Body == nil {
		return nil, errors.New("partiql: execute: nil statement")
	}
	if len(params) != stmt.NumParams {
		return nil, &Error{Code: CodeEvaluation, Message: fmt.Sprintf(
			"Evaluation Error: the statement has %d parameter(s) (?) but %d value(s) were given", stmt.NumParams, len(params))}
	}
	c := &execCtx{ctx: ctx, lim: lim, tx: tx, params: params, res: &Result{}, scanned: map[string]bool{}}
	if err := c.checkCtx(); err != nil {
		return nil, err
	}
	defer func() {
		if r := recover(); r != nil {
			res, err = nil, fmt.Errorf("partiql: internal error executing %q: %v", stmt.Text, r)
		}
	}()
	switch b := stmt.Body.(type) {
	case *SelectStmt:
		err = c.execSelect(b)
	case *InsertStmt:
		err = c.execInsert(b)
	case *DMLStmt:
		err = c.execDML(b)
	case *CreateTableStmt:
		err = c.execCreateTable(b)
	case *DropTableStmt:
		err = c.execDropTable(b)
	case *UndropTableStmt:
		err = c.execUndropTable(b)
	case *CreateIndexStmt:
		err = c.execCreateIndex(b)
	case *DropIndexStmt:
		err = c.execDropIndex(b)
	case *ExecStmt:
		err = c.execProc(b)
	default:
		err = fmt.Errorf("partiql: execute: unknown statement type %T", b)
	}
	if err != nil {
		return nil, err
	}
	return c.res, nil
}

// txErr passes a Tx error through: *Error unchanged, others wrapped.
func txErr(op string, err error) error {
	var pe *Error
	if errors.As(err, &pe) {
		return err
	}
	return fmt.Errorf("partiql: %s: %w", op, err)
}

func idRow(name, id string) *ionvalue.Value {
	return ionvalue.Struct(ionvalue.Field{Name: name, Value: ionvalue.String(id)})
}

func (c *execCtx) execSelect(st *SelectStmt) error {
	pl, err := c.planSelect(st, nil)
	if err != nil {
		return err
	}
	return c.runSelect(pl, nil, func(v *ionvalue.Value) error {
		if _, err := c.chargeValue(v); err != nil {
			return err
		}
		c.res.Rows = append(c.res.Rows, v)
		return nil
	})
}

func (c *execCtx) execInsert(st *InsertStmt) error {
	t, ok := c.tx.Table(st.Table.Name)
	if !ok {
		return noSuchVariable(st.Table.Pos, st.Table.Name)
	}
	if err := checkExprCalls(st.Value); err != nil {
		return err
	}
	v, err := c.eval(st.Value, nil)
	if err != nil {
		return err
	}
	var docs []*ionvalue.Value
	switch {
	case isStruct(v):
		docs = []*ionvalue.Value{v}
	case st.Single:
		return evalErr(st.Value.Position(), "INSERT INTO %s VALUE takes one document, a struct; found %s (use INSERT INTO %s << ... >> for several)",
			st.Table.Name, typeName(v), st.Table.Name)
	case isSeq(v):
		docs = v.Elems
	default:
		return evalErr(st.Value.Position(), "INSERT INTO %s needs a struct or a collection of structs, found %s", st.Table.Name, typeName(v))
	}
	for i, d := range docs {
		if !isStruct(d) {
			return evalErr(st.Value.Position(), "INSERT INTO %s: document %d is %s; documents must be structs", st.Table.Name, i+1, typeName(d))
		}
	}
	for i, d := range docs {
		if err := ionvalue.CheckDepth(d); err != nil {
			return evalErr(st.Value.Position(), "INSERT INTO %s: document %d: Ion nesting depth exceeds the limit of %d", st.Table.Name, i+1, ionvalue.MaxDepth)
		}
	}
	for _, d := range docs {
		id, err := c.tx.Insert(t.ID, d)
		if err != nil {
			return txErr("insert", err)
		}
		c.res.Rows = append(c.res.Rows, idRow("documentId", id))
		c.res.DocumentsWritten++
	}
	return nil
}

// execDML runs UPDATE, DELETE and FROM statements: it first collects every
// matching document, then applies the operations to each.
func (c *execCtx) execDML(st *DMLStmt) error {
	levels, err := c.planFrom([]*FromItem{st.Target}, st.Where, nil)
	if err != nil {
		return err
	}
	lv := levels[0]
	if lv.kind != srcTable {
		return semanticErr(st.Target.Pos, "%s statements work only on a table's user view", st.Form)
	}
	if err := checkExprCalls(st.Where); err != nil {
		return err
	}
	for _, op := range st.Ops {
		var es []Expr
		switch op := op.(type) {
		case *SetOp:
			es = []Expr{op.Target, op.Value}
		case *RemoveOp:
			es = []Expr{op.Target}
		case *InsertOp:
			es = []Expr{op.Target, op.Value, op.At}
		}
		for _, e := range es {
			if err := checkExprCalls(e); err != nil {
				return err
			}
		}
	}
	var matches []*scope
	if err := c.iterate(levels, 0, nil, func(s *scope) error {
		if err := c.charge(ApproxSize(s.doc.Data) + ptrSize); err != nil {
			return err
		}
		matches = append(matches, s)
		return nil
	}); err != nil {
		return err
	}
	seen := map[string]bool{}
	for _, s := range matches {
		doc := s.doc
		if seen[doc.ID] {
			continue
		}
		seen[doc.ID] = true
		data, deleted, changed, err := c.applyOps(st, lv, s, doc.Data)
		if err != nil {
			return err
		}
		switch {
		case deleted:
			err = c.tx.Delete(lv.table.ID, doc.ID)
		case changed:
			if ionvalue.CheckDepth(data) != nil {
				return evalErr(st.Pos, "%s: document %s: Ion nesting depth exceeds the limit of %d", st.Form, doc.ID, ionvalue.MaxDepth)
			}
			err = c.tx.Update(lv.table.ID, doc.ID, data)
		default:
			continue
		}
		if err != nil {
			return txErr(strings.ToLower(st.Form), err)
		}
		c.res.Rows = append(c.res.Rows, idRow("documentId", doc.ID))
		c.res.DocumentsWritten++
	}
	return nil
}

// applyOps computes a document's new data. Every right-hand side sees the
// document as it was before the statement.
func (c *execCtx) applyOps(st *DMLStmt, lv *fromPlan, s *scope, data *ionvalue.Value) (*ionvalue.Value, bool, bool, error) {
	changed := false
	for _, op := range st.Ops {
		switch op := op.(type) {
		case *DeleteOp:
			return nil, true, true, nil
		case *RemoveOp:
			steps, whole, err := c.dmlSteps(op.Target, lv, s)
			if err != nil {
				return nil, false, false, err
			}
			if whole {
				return nil, true, true, nil
			}
			nd, err := modifyPath(data, steps, false, func(*ionvalue.Value) (*ionvalue.Value, error) { return nil, nil })
			if errors.Is(err, errNoPath) {
				continue
			}
			if err != nil {
				return nil, false, false, err
			}
			data, changed = nd, true
		case *SetOp:
			steps, whole, err := c.dmlSteps(op.Target, lv, s)
			if err != nil {
				return nil, false, false, err
			}
			v, err := c.eval(op.Value, s)
			if err != nil {
				return nil, false, false, err
			}
			if whole {
				if !isStruct(v) {
					return nil, false, false, evalErr(op.Value.Position(), "a document must be a struct, found %s", typeName(v))
				}
				data, changed = v, true
				continue
			}
			nd, err := modifyPath(data, steps, true, func(*ionvalue.Value) (*ionvalue.Value, error) { return v, nil })
			if err != nil {
				return nil, false, false, err
			}
			data, changed = nd, true
		case *InsertOp:
			steps, _, err := c.dmlSteps(op.Target, lv, s)
			if err != nil {
				return nil, false, false, err
			}
			v, err := c.eval(op.Value, s)
			if err != nil {
				return nil, false, false, err
			}
			if v == nil {
				return nil, false, false, evalErr(op.Value.Position(), "INSERT INTO: the value to insert is MISSING")
			}
			var at *ionvalue.Value
			if op.At != nil {
				if at, err = c.eval(op.At, s); err != nil {
					return nil, false, false, err
				}
			}
			nd, err := modifyPath(data, steps, false, func(old *ionvalue.Value) (*ionvalue.Value, error) {
				return insertInto(op.Pos, old, v, at)
			})
			if errors.Is(err, errNoPath) {
				return nil, false, false, evalErr(op.Target.Position(), "INSERT INTO: the target path does not exist; it must be a list or a struct")
			}
			if err != nil {
				return nil, false, false, err
			}
			data, changed = nd, true
		}
	}
	return data, false, changed, nil
}
