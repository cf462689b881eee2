package partiql

import (
	"errors"

	"github.com/amzn/ion-go/ion"

	"github.com/strand-db/strand/internal/ionvalue"
)

// Path mutation for DML. Documents are never changed in place: every
// function here copies the structs and lists along the path it changes and
// shares everything else.

// mstep is one resolved step of a DML target path.
type mstep struct {
	pos     Pos
	field   string
	index   int
	isIndex bool
}

// errNoPath signals that a REMOVE target does not exist (nothing to do).
var errNoPath = errors.New("partiql: path does not exist")

// dmlSteps resolves a SET/REMOVE/INSERT INTO target against the DML row:
// a path rooted at the row alias is relative to the document (whole when it
// has no steps); any other root name is a top-level field of the document.
func (c *execCtx) dmlSteps(target Expr, lv *fromPlan, s *scope) (steps []mstep, whole bool, err error) {
	var root *VarRef
	var ps []PathStep
	switch t := target.(type) {
	case *VarRef:
		root = t
	case *Path:
		root, ps = t.Root.(*VarRef), t.Steps
	}
	if root == nil {
		return nil, false, evalErr(target.Position(), "invalid DML target")
	}
	switch root.Name {
	case lv.alias:
	case lv.item.By, lv.item.At:
		return nil, false, evalErr(root.Pos, "'%s' is the document id and cannot be changed", root.Name)
	default:
		steps = append(steps, mstep{pos: root.Pos, field: root.Name})
	}
	for _, st := range ps {
		switch st.Kind {
		case StepField:
			steps = append(steps, mstep{pos: st.Pos, field: st.Name})
		case StepIndex:
			ix, err := c.eval(st.Index, s)
			if err != nil {
				return nil, false, err
			}
			switch {
			case isText(ix):
				steps = append(steps, mstep{pos: st.Pos, field: ix.Text})
			case !absent(ix) && ix.Type == ion.IntType && ix.BigInt == nil && ix.Int >= 0 && ix.Int <= 1<<31:
				steps = append(steps, mstep{pos: st.Pos, index: int(ix.Int), isIndex: true})
			default:
				return nil, false, evalErr(st.Pos, "a path index in a DML target must be a non-negative int or a string")
			}
		default:
			return nil, false, evalErr(st.Pos, "wildcards are not allowed in a DML target")
		}
	}
	return steps, len(steps) == 0, nil
}

// typeName names a value's type for error messages.
func typeName(v *ionvalue.Value) string {
	switch {
	case v == nil:
		return "missing"
	case v.IsNullValue():
		return "null"
	}
	return v.Type.String()
}

// modifyPath returns a copy of v in which the value at steps is replaced by
// fn(old) (old nil when absent; a nil result removes it). With create, SET
// semantics apply: missing (or null) structs along the path are created.
// Without it a missing path gives errNoPath.
func modifyPath(v *ionvalue.Value, steps []mstep, create bool, fn func(*ionvalue.Value) (*ionvalue.Value, error)) (*ionvalue.Value, error) {
	if len(steps) == 0 {
		return fn(v)
	}
	st, rest := steps[0], steps[1:]
	if st.isIndex {
		if !isSeq(v) {
			if absent(v) && !create {
				return nil, errNoPath
			}
			return nil, evalErr(st.pos, "cannot use [%d]: the value there is %s, not a list", st.index, typeName(v))
		}
		n := len(v.Elems)
		if st.index > n || (st.index == n && (!create || len(rest) > 0)) {
			if !create {
				return nil, errNoPath
			}
			return nil, evalErr(st.pos, "list index %d is out of range (the list has %d elements)", st.index, n)
		}
		var old *ionvalue.Value
		if st.index < n {
			old = v.Elems[st.index]
		}
		nv, err := modifyPath(old, rest, create, fn)
		if err != nil {
			return nil, err
		}
		cp := *v
		cp.Elems = make([]*ionvalue.Value, 0, n+1)
		cp.Elems = append(cp.Elems, v.Elems[:st.index]...)
		if nv != nil {
			cp.Elems = append(cp.Elems, nv)
		}
		if st.index < n {
			cp.Elems = append(cp.Elems, v.Elems[st.index+1:]...)
		}
		return &cp, nil
	}
	if !isStruct(v) {
		switch {
		case absent(v) && !create:
			return nil, errNoPath
		case absent(v):
			v = &ionvalue.Value{Type: ion.StructType}
		default:
			return nil, evalErr(st.pos, "cannot use field '%s': the value there is %s, not a struct", st.field, typeName(v))
		}
	}
	at := -1
	for i, f := range v.Fields {
		if f.Name == st.field {
			at = i
			break
		}
	}
	var old *ionvalue.Value
	if at >= 0 {
		old = v.Fields[at].Value
	}
	nv, err := modifyPath(old, rest, create, fn)
	if err != nil {
		return nil, err
	}
	cp := *v
	cp.Fields = make([]ionvalue.Field, 0, len(v.Fields)+1)
	switch {
	case at >= 0:
		cp.Fields = append(cp.Fields, v.Fields[:at]...)
		if nv != nil {
			cp.Fields = append(cp.Fields, ionvalue.Field{Name: st.field, Value: nv})
		}
		cp.Fields = append(cp.Fields, v.Fields[at+1:]...)
	default:
		cp.Fields = append(cp.Fields, v.Fields...)
		if nv != nil {
			cp.Fields = append(cp.Fields, ionvalue.Field{Name: st.field, Value: nv})
		}
	}
	return &cp, nil
}

// insertInto implements INSERT INTO target VALUE v [AT pos]: a list gets v
// appended (or inserted before position pos); a struct gets a new field pos.
func insertInto(p Pos, target, v, pos *ionvalue.Value) (*ionvalue.Value, error) {
	switch {
	case isSeq(target):
		n := len(target.Elems)
		at := n
		if pos != nil {
			if absent(pos) || pos.Type != ion.IntType || pos.BigInt != nil || pos.Int < 0 || pos.Int > int64(n) {
				return nil, evalErr(p, "INSERT INTO a list: AT must be an int from 0 to %d", n)
			}
			at = int(pos.Int)
		}
		cp := *target
		cp.Elems = make([]*ionvalue.Value, 0, n+1)
		cp.Elems = append(cp.Elems, target.Elems[:at]...)
		cp.Elems = append(cp.Elems, v)
		cp.Elems = append(cp.Elems, target.Elems[at:]...)
		return &cp, nil
	case isStruct(target):
		if !isText(pos) {
			return nil, evalErr(p, "INSERT INTO a struct needs AT 'fieldName'")
		}
		if _, exists := fieldOf(target, pos.Text); exists {
			return nil, evalErr(p, "INSERT INTO: the struct already has a field '%s' (use SET to replace it)", pos.Text)
		}
		cp := *target
		cp.Fields = append(append([]ionvalue.Field(nil), target.Fields...), ionvalue.Field{Name: pos.Text, Value: v})
		return &cp, nil
	}
	if target == nil {
		return nil, evalErr(p, "INSERT INTO: the target path does not exist; it must be a list or a struct")
	}
	return nil, evalErr(p, "INSERT INTO needs a list or a struct as its target, found %s", typeName(target))
}
