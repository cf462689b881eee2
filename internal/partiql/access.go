package partiql

import (
	"strings"

	"github.com/amzn/ion-go/ion"
)

// The IAM actions QLDB defined for PartiQL commands in the STANDARD
// permissions mode (one per command; see Accesses).
const (
	ActionCreateTable     = "qldb:PartiQLCreateTable"
	ActionDropTable       = "qldb:PartiQLDropTable"
	ActionUndropTable     = "qldb:PartiQLUndropTable"
	ActionCreateIndex     = "qldb:PartiQLCreateIndex"
	ActionDropIndex       = "qldb:PartiQLDropIndex"
	ActionInsert          = "qldb:PartiQLInsert"
	ActionUpdate          = "qldb:PartiQLUpdate"
	ActionDelete          = "qldb:PartiQLDelete"
	ActionSelect          = "qldb:PartiQLSelect"
	ActionHistoryFunction = "qldb:PartiQLHistoryFunction"
	ActionRedact          = "qldb:PartiQLRedact"
)

// Access is one permission a statement needs: an action on one table (by
// name as written, or by id), on the catalog, or on a table to be created.
type Access struct {
	Action   string
	Table    string // table name as written (empty with TableID, Catalog, NewTable)
	TableID  string // UNDROP TABLE "id", history('id')
	Catalog  bool   // information_schema.user_tables
	NewTable bool   // CREATE TABLE: no table id exists yet (resource table/*)
	Purge    bool   // DROP INDEX ... WITH (purge = true): the qldb:Purge condition key
	// Tags are CREATE TABLE's aws_tags when written as an Ion struct
	// literal of strings (the aws:RequestTag/aws:TagKeys condition keys);
	// nil otherwise.
	Tags map[string]string
	Pos  Pos // where the table is named, for the error that hides it
}

// Accesses lists what st needs in QLDB's STANDARD permissions mode, in
// text order, repetitions included: each table the statement writes (its
// command's action), and each table it reads anywhere (FROM, joins,
// subqueries, the committed view _ql_committed_T: qldb:PartiQLSelect;
// history(): qldb:PartiQLHistoryFunction; information_schema.user_tables:
// qldb:PartiQLSelect on the catalog). It errs on the side of asking: a FROM
// name that could be a variable bound by an enclosing query is listed as a
// table too (the caller resolves names; a name that is no table needs
// nothing). ok is false for a statement kind it does not know, which a
// caller must refuse rather than run unchecked.
func Accesses(st *Statement) (acc []Access, ok bool) {
	w := &accessWalker{}
	switch s := st.Body.(type) {
	case *SelectStmt:
		w.selectStmt(s)
	case *InsertStmt:
		w.add(Access{Action: ActionInsert, Table: s.Table.Name, Pos: s.Table.Pos})
		w.expr(s.Value)
	case *DMLStmt:
		action := ActionUpdate
		if s.Form == "DELETE" {
			action = ActionDelete
		}
		alias := s.Target.As
		if v, ok := s.Target.Source.(*VarRef); ok {
			if alias == "" {
				alias = v.Name
			}
			for _, op := range s.Ops {
				switch op := op.(type) {
				case *DeleteOp:
					action = ActionDelete
				case *RemoveOp:
					// Removing the row variable deletes the document.
					if r, ok := op.Target.(*VarRef); ok && r.Name == alias {
						action = ActionDelete
					}
				}
			}
			w.add(Access{Action: action, Table: v.Name, Pos: v.Pos})
		} else {
			w.fromSource(s.Target.Source)
		}
		w.expr(s.Target.On)
		w.expr(s.Where)
		for _, op := range s.Ops {
			switch op := op.(type) {
			case *SetOp:
				w.expr(op.Target)
				w.expr(op.Value)
			case *RemoveOp:
				w.expr(op.Target)
			case *InsertOp:
				w.expr(op.Target)
				w.expr(op.Value)
				w.expr(op.At)
			}
		}
	case *CreateTableStmt:
		w.add(Access{Action: ActionCreateTable, NewTable: true, Pos: s.Table.Pos, Tags: literalTags(s.Tags)})
		w.expr(s.Tags)
	case *DropTableStmt:
		w.add(Access{Action: ActionDropTable, Table: s.Table.Name, Pos: s.Table.Pos})
	case *UndropTableStmt:
		w.add(Access{Action: ActionUndropTable, TableID: s.TableID, Pos: s.Pos})
	case *CreateIndexStmt:
		w.add(Access{Action: ActionCreateIndex, Table: s.Table.Name, Pos: s.Table.Pos})
	case *DropIndexStmt:
		w.add(Access{Action: ActionDropIndex, Table: s.Table.Name, Purge: s.Purge, Pos: s.Table.Pos})
	case *ExecStmt:
		// EXEC redact_revision: its table id is known only once the
		// arguments are evaluated, so the caller asks for ActionRedact
		// when the redaction runs (the transaction's guard); the
		// arguments may read tables like any expression.
		for _, a := range s.Args {
			w.expr(a)
		}
	default:
		// A statement kind added later must be listed here.
		return nil, false
	}
	return w.out, true
}

// literalTags returns the tags of an aws_tags literal ({'k': 'v', ...}),
// or nil when e is not such a literal.
func literalTags(e Expr) map[string]string {
	lit, ok := e.(*Lit)
	if !ok || lit.Value == nil || lit.Value.Type != ion.StructType || lit.Value.IsNull {
		return nil
	}
	out := map[string]string{}
	for _, f := range lit.Value.Fields {
		if !isText(f.Value) {
			return nil
		}
		out[f.Name] = f.Value.Text
	}
	return out
}

type accessWalker struct{ out []Access }

func (w *accessWalker) add(a Access) { w.out = append(w.out, a) }

func (w *accessWalker) selectStmt(s *SelectStmt) {
	if s == nil {
		return
	}
	for _, it := range s.From {
		w.fromSource(it.Source)
		w.expr(it.On)
	}
	w.expr(s.Value)
	for _, it := range s.Items {
		w.expr(it.Expr)
	}
	w.expr(s.Where)
}

// fromSource lists what a FROM source reads.
func (w *accessWalker) fromSource(src Expr) {
	switch s := src.(type) {
	case *VarRef:
		name := s.Name
		if rest, ok := strings.CutPrefix(name, committedPrefix); ok && rest != "" {
			name = rest
		}
		w.add(Access{Action: ActionSelect, Table: name, Pos: s.Pos})
		return
	case *Path:
		if root, ok := s.Root.(*VarRef); ok && root.Name == "information_schema" && len(s.Steps) == 1 &&
			s.Steps[0].Kind == StepField && s.Steps[0].Name == "user_tables" {
			w.add(Access{Action: ActionSelect, Catalog: true, Pos: s.Pos})
			return
		}
	case *Call:
		if s.Name == "HISTORY" && len(s.Args) > 0 {
			switch a := s.Args[0].(type) {
			case *VarRef:
				w.add(Access{Action: ActionHistoryFunction, Table: a.Name, Pos: a.Pos})
			case *Lit:
				if isText(a.Value) {
					w.add(Access{Action: ActionHistoryFunction, TableID: a.Value.Text, Pos: a.Pos})
				}
			}
			for _, x := range s.Args[1:] {
				w.expr(x)
			}
			return
		}
	}
	w.expr(src)
}

// expr lists what the subqueries inside e read.
func (w *accessWalker) expr(e Expr) {
	walkExpr(e, func(x Expr) bool {
		if sq, ok := x.(*SubqueryExpr); ok {
			w.selectStmt(sq.Select)
			return false
		}
		return true
	})
}
