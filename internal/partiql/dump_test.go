package partiql

import (
	"strconv"
	"strings"

	"github.com/amzn/ion-go/ion"

	"github.com/strand-db/strand/internal/ionvalue"
)

// Dump renders an AST node (a Stmt, Expr or *Statement) as a compact
// s-expression, for tests and debugging. Positions are left out. The format
// is stable enough for golden tests but is not a serialization: there is no
// parser for it.
//
// Examples: a.b[0] is (path a .b [0]); 'x' is 'x'; ? is ?0; x = 1 is (= x 1).
func Dump(n Node) string {
	var b strings.Builder
	dump(&b, n)
	return b.String()
}

func dump(b *strings.Builder, n Node) {
	switch n := n.(type) {
	case nil:
		b.WriteString("<nil>")
	case *Lit:
		dumpLit(b, n.Value)
	case *Param:
		b.WriteString("?" + strconv.Itoa(n.Index))
	case *VarRef:
		if n.Quoted {
			b.WriteString(strconv.Quote(n.Name))
		} else {
			b.WriteString(n.Name)
		}
	case *Path:
		b.WriteString("(path ")
		dump(b, n.Root)
		for _, s := range n.Steps {
			b.WriteByte(' ')
			switch s.Kind {
			case StepField:
				b.WriteString("." + s.Name)
			case StepIndex:
				b.WriteByte('[')
				dump(b, s.Index)
				b.WriteByte(']')
			case StepAllFields:
				b.WriteString(".*")
			case StepAllElems:
				b.WriteString("[*]")
			}
		}
		b.WriteByte(')')
	case *Unary:
		list(b, strings.ToLower(n.Op), n.X)
	case *Binary:
		list(b, strings.ToLower(n.Op), n.L, n.R)
	case *In:
		op := "in"
		if n.Not {
			op = "not-in"
		}
		b.WriteString("(" + op + " ")
		dump(b, n.X)
		b.WriteByte(' ')
		if n.Coll != nil {
			dump(b, n.Coll)
		} else {
			list(b, "list", n.List...)
		}
		b.WriteByte(')')
	case *Is:
		op := "is-"
		if n.Not {
			op += "not-"
		}
		list(b, op+strings.ToLower(n.Type), n.X)
	case *Between:
		op := "between"
		if n.Not {
			op = "not-between"
		}
		list(b, op, n.X, n.Lo, n.Hi)
	case *Like:
		op := "like"
		if n.Not {
			op = "not-like"
		}
		if n.Escape != nil {
			list(b, op, n.X, n.Pattern, n.Escape)
		} else {
			list(b, op, n.X, n.Pattern)
		}
	case *Call:
		b.WriteString("(call " + n.Name)
		if n.Star {
			b.WriteString(" *")
		}
		for _, a := range n.Args {
			b.WriteByte(' ')
			dump(b, a)
		}
		b.WriteByte(')')
	case *StructExpr:
		b.WriteString("(struct")
		for _, f := range n.Fields {
			b.WriteString(" (")
			dump(b, f.Key)
			b.WriteByte(' ')
			dump(b, f.Value)
			b.WriteByte(')')
		}
		b.WriteByte(')')
	case *ListExpr:
		list(b, "list", n.Elems...)
	case *BagExpr:
		list(b, "bag", n.Elems...)
	case *SubqueryExpr:
		b.WriteString("(subquery ")
		dump(b, n.Select)
		b.WriteByte(')')
	case *Statement:
		dump(b, n.Body)
	default:
		dumpStmt(b, n)
	}
}

func dumpStmt(b *strings.Builder, n Node) {
	switch n := n.(type) {
	case *SelectStmt:
		b.WriteString("(select ")
		switch {
		case n.Value != nil:
			list(b, "value", n.Value)
		case n.Star:
			b.WriteByte('*')
		default:
			b.WriteString("(items")
			for _, it := range n.Items {
				b.WriteString(" (item ")
				dump(b, it.Expr)
				if it.AllFields {
					b.WriteString(" .*")
				}
				if it.Alias != "" {
					b.WriteString(" as " + it.Alias)
				}
				b.WriteByte(')')
			}
			b.WriteByte(')')
		}
		b.WriteString(" (from")
		for _, it := range n.From {
			b.WriteByte(' ')
			dumpFromItem(b, it)
		}
		b.WriteByte(')')
		if n.Where != nil {
			b.WriteByte(' ')
			list(b, "where", n.Where)
		}
		for _, o := range n.OrderBy {
			head := "order-by"
			if o.Desc {
				head += " desc"
			}
			if o.Nulls != 0 {
				head += " nulls-" + string(o.Nulls)
			}
			b.WriteByte(' ')
			list(b, head, o.Expr)
		}
		if n.Limit != nil {
			b.WriteByte(' ')
			list(b, "limit", n.Limit)
		}
		if n.Offset != nil {
			b.WriteByte(' ')
			list(b, "offset", n.Offset)
		}
		b.WriteByte(')')
	case *InsertStmt:
		b.WriteString("(insert " + tableName(n.Table) + " ")
		if n.Single {
			list(b, "value", n.Value)
		} else {
			dump(b, n.Value)
		}
		b.WriteByte(')')
	case *DMLStmt:
		b.WriteString("(" + strings.ToLower(n.Form) + " ")
		dumpFromItem(b, n.Target)
		for _, op := range n.Ops {
			b.WriteByte(' ')
			switch op := op.(type) {
			case *SetOp:
				list(b, "set", op.Target, op.Value)
			case *RemoveOp:
				list(b, "remove", op.Target)
			case *InsertOp:
				if op.At != nil {
					list(b, "insert-into", op.Target, op.Value, op.At)
				} else {
					list(b, "insert-into", op.Target, op.Value)
				}
			case *DeleteOp:
				b.WriteString("(delete)")
			}
		}
		if n.Where != nil {
			b.WriteByte(' ')
			list(b, "where", n.Where)
		}
		b.WriteByte(')')
	case *CreateTableStmt:
		b.WriteString("(create-table " + tableName(n.Table))
		if n.Tags != nil {
			b.WriteByte(' ')
			list(b, "tags", n.Tags)
		}
		b.WriteByte(')')
	case *DropTableStmt:
		b.WriteString("(drop-table " + tableName(n.Table) + ")")
	case *UndropTableStmt:
		b.WriteString("(undrop-table " + strconv.Quote(n.TableID) + ")")
	case *CreateIndexStmt:
		if n.Unique {
			b.WriteString("(create-unique-index " + tableName(n.Table) + " " + n.Field + ")")
		} else {
			b.WriteString("(create-index " + tableName(n.Table) + " " + n.Field + ")")
		}
	case *ExecStmt:
		list(b, "exec "+n.Proc, n.Args...)
	case *DropIndexStmt:
		b.WriteString("(drop-index " + strconv.Quote(n.IndexID) + " " + tableName(n.Table))
		if n.Purge {
			b.WriteString(" purge")
		}
		b.WriteByte(')')
	default:
		b.WriteString("<unknown node>")
	}
}

func dumpFromItem(b *strings.Builder, it *FromItem) {
	b.WriteString("(")
	if it.Join != "" {
		b.WriteString("join ")
	}
	dump(b, it.Source)
	if it.As != "" {
		b.WriteString(" as " + it.As)
	}
	if it.At != "" {
		b.WriteString(" at " + it.At)
	}
	if it.By != "" {
		b.WriteString(" by " + it.By)
	}
	if it.On != nil {
		b.WriteByte(' ')
		list(b, "on", it.On)
	}
	b.WriteByte(')')
}

func tableName(t TableRef) string {
	if t.Quoted {
		return strconv.Quote(t.Name)
	}
	return t.Name
}

// list writes (head e1 e2 ...).
func list(b *strings.Builder, head string, es ...Expr) {
	b.WriteString("(" + head)
	for _, e := range es {
		b.WriteByte(' ')
		dump(b, e)
	}
	b.WriteByte(')')
}

// dumpLit writes a literal: strings in PartiQL quotes, MISSING as missing,
// anything else as Ion text.
func dumpLit(b *strings.Builder, v *ionvalue.Value) {
	switch {
	case v == nil:
		b.WriteString("missing")
	case v.Type == ion.StringType && !v.IsNull && len(v.Annotations) == 0:
		b.WriteString("'" + strings.ReplaceAll(v.Text, "'", "''") + "'")
	default:
		b.WriteString(ionvalue.MarshalText(v))
	}
}
