package partiql

import (
	"strconv"

	"github.com/amzn/ion-go/ion"

	"github.com/strand-db/strand/internal/ionvalue"
)

// selectPlan is a planned SELECT.
type selectPlan struct {
	stmt   *SelectStmt
	levels []*fromPlan
	aggs   []*Call // aggregate calls of the projection; empty if none
}

// planSelect resolves sources, plans reads and validates the projection.
func (c *execCtx) planSelect(st *SelectStmt, outer []string) (*selectPlan, error) {
	if err := c.checkSelectExtensions(st); err != nil {
		return nil, err
	}
	levels, err := c.planFrom(st.From, st.Where, outer)
	if err != nil {
		return nil, err
	}
	pl := &selectPlan{stmt: st, levels: levels}
	if err := checkExprCalls(st.Where); err != nil {
		return nil, err
	}
	for _, it := range st.From {
		if err := checkExprCalls(it.On); err != nil {
			return nil, err
		}
	}
	var proj []Expr
	if st.Value != nil {
		proj = append(proj, st.Value)
	}
	for _, it := range st.Items {
		proj = append(proj, it.Expr)
	}
	// Find aggregates, check the other calls.
	for _, e := range proj {
		var perr error
		walkExpr(e, func(x Expr) bool {
			call, ok := x.(*Call)
			if !ok || perr != nil {
				return perr == nil
			}
			if aggregateFuncs[call.Name] {
				if perr = checkCall(call); perr == nil {
					pl.aggs = append(pl.aggs, call)
					for _, a := range call.Args {
						perr = checkExprCalls(a)
					}
				}
				return false
			}
			perr = checkCall(call)
			return perr == nil
		})
		if perr != nil {
			return nil, perr
		}
	}
	if len(pl.aggs) == 0 {
		return pl, nil
	}
	// Without GROUP BY, an aggregate query may only use variables inside
	// aggregate calls.
	if st.Star {
		return nil, semanticErr(st.Pos, "SELECT * cannot be combined with aggregate functions")
	}
	for _, e := range proj {
		var perr error
		walkExpr(e, func(x Expr) bool {
			switch x := x.(type) {
			case *Call:
				return !aggregateFuncs[x.Name]
			case *VarRef:
				if perr == nil {
					perr = semanticErr(x.Pos, "'%s' must be inside an aggregate function: GROUP BY is not supported", x.Name)
				}
			}
			return perr == nil
		})
		if perr != nil {
			return nil, perr
		}
	}
	return pl, nil
}

// runSelect evaluates a planned SELECT in scope outer, calling emit for each
// result row.
func (c *execCtx) runSelect(pl *selectPlan, outer *scope, emit func(*ionvalue.Value) error) error {
	if pl.stmt.hasTail() {
		return c.runTail(pl, outer, emit) // ORDER BY, LIMIT, OFFSET (extensions.go)
	}
	return c.runSelectBody(pl, outer, emit)
}

// runSelectBody is runSelect without ORDER BY, LIMIT and OFFSET.
func (c *execCtx) runSelectBody(pl *selectPlan, outer *scope, emit func(*ionvalue.Value) error) error {
	st := pl.stmt
	if len(pl.aggs) == 0 {
		return c.iterate(pl.levels, 0, outer, func(s *scope) error {
			row, err := c.project(st, len(pl.levels), s)
			if err != nil || row == nil {
				return err
			}
			return emit(row)
		})
	}
	states := make([]*aggState, len(pl.aggs))
	for i, call := range pl.aggs {
		states[i] = &aggState{call: call}
	}
	err := c.iterate(pl.levels, 0, outer, func(s *scope) error {
		for _, a := range states {
			var v *ionvalue.Value
			if !a.call.Star {
				var err error
				if v, err = c.eval(a.call.Args[0], s); err != nil {
					return err
				}
			}
			if err := a.add(v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	saved := c.aggs
	c.aggs = make(map[*Call]*ionvalue.Value, len(states))
	for _, a := range states {
		v, err := a.result()
		if err != nil {
			return err
		}
		c.aggs[a.call] = v
	}
	row, err := c.project(st, 0, outer)
	c.aggs = saved
	if err != nil || row == nil {
		return err
	}
	return emit(row)
}

// subquery runs a nested SELECT and returns its rows.
func (c *execCtx) subquery(st *SelectStmt, s *scope) ([]*ionvalue.Value, error) {
	pl, ok := c.subplans[st]
	if !ok {
		var outer []string
		for f := s; f != nil; f = f.parent {
			outer = append(outer, f.names...)
		}
		var err error
		if pl, err = c.planSelect(st, outer); err != nil {
			return nil, err
		}
		if c.subplans == nil {
			c.subplans = map[*SelectStmt]*selectPlan{}
		}
		c.subplans[st] = pl
	}
	var rows []*ionvalue.Value
	var held int64
	// The rows are charged while the subquery runs; once returned they are
	// part of a value the caller charges if it keeps it (a result row).
	defer func() { c.release(held) }()
	err := c.runSelect(pl, s, func(v *ionvalue.Value) error {
		n, err := c.chargeValue(v)
		held += n
		if err != nil {
			return err
		}
		rows = append(rows, v)
		return nil
	})
	return rows, err
}

// iterate runs the nested loop from level i, calling fn with the scope of
// every row that satisfies all conjuncts.
func (c *execCtx) iterate(levels []*fromPlan, i int, s *scope, fn func(*scope) error) error {
	if i == len(levels) {
		return fn(s)
	}
	lv := levels[i]
	return c.produce(lv, s, func(f *scope) error {
		for _, cond := range lv.conds {
			v, err := c.eval(cond, f)
			if err != nil {
				return err
			}
			if !truthy(v) {
				return nil
			}
		}
		return c.iterate(levels, i+1, f, fn)
	})
}

// frame builds the scope of one row of a level.
func frame(parent *scope, lv *fromPlan, row, at, by *ionvalue.Value, doc *Document) *scope {
	f := &scope{parent: parent, row: row, doc: doc}
	if lv.alias != "" {
		f.names = append(f.names, lv.alias)
		f.vals = append(f.vals, row)
	}
	if lv.item.At != "" {
		f.names = append(f.names, lv.item.At)
		f.vals = append(f.vals, at)
	}
	if lv.item.By != "" {
		f.names = append(f.names, lv.item.By)
		f.vals = append(f.vals, by)
	}
	return f
}

// produce reads the rows of one level in scope s.
func (c *execCtx) produce(lv *fromPlan, s *scope, emit func(*scope) error) error {
	switch lv.kind {
	case srcTable, srcCommitted:
		docs, held, err := c.fetch(lv, s)
		defer c.release(held)
		if err != nil {
			return err
		}
		for i := range docs {
			d := &docs[i]
			row := d.Data
			if lv.kind == srcCommitted {
				row = committedView(d)
			}
			if err := emit(frame(s, lv, row, nil, ionvalue.String(d.ID), d)); err != nil {
				return err
			}
		}
		return nil
	case srcHistory:
		revs, held, err := c.history(lv, s)
		defer c.release(held)
		if err != nil {
			return err
		}
		for _, r := range revs {
			if err := emit(frame(s, lv, r, nil, nil, nil)); err != nil {
				return err
			}
		}
		return nil
	case srcCatalog:
		tables := c.tx.Tables()
		c.res.DocumentsRead += int64(len(tables))
		if err := c.visit(int64(len(tables))); err != nil {
			return err
		}
		for _, t := range tables {
			if err := emit(frame(s, lv, catalogRow(t), nil, nil, nil)); err != nil {
				return err
			}
		}
		return nil
	}
	v, err := c.eval(lv.item.Source, s)
	if err != nil {
		return err
	}
	switch {
	case absent(v):
		return nil
	case isSeq(v):
		for i, e := range v.Elems {
			if err := c.visit(1); err != nil {
				return err
			}
			if err := emit(frame(s, lv, e, ionvalue.Int(int64(i)), nil, nil)); err != nil {
				return err
			}
		}
		return nil
	}
	if err := c.visit(1); err != nil {
		return err
	}
	return emit(frame(s, lv, v, nil, nil, nil))
}

// keyValues evaluates access keys. For IN (e) with a single element that
// is a list (x IN (?) with a list parameter), the elements are the keys.
// NULL and MISSING keys are dropped: they can equal nothing.
func (c *execCtx) keyValues(acc access, s *scope) ([]*ionvalue.Value, error) {
	var out []*ionvalue.Value
	for _, k := range acc.keys {
		v, err := c.eval(k, s)
		if err != nil {
			return nil, err
		}
		if acc.in && len(acc.keys) == 1 && isSeq(v) {
			for _, e := range v.Elems {
				if !absent(e) {
					out = append(out, e)
				}
			}
			continue
		}
		if !absent(v) {
			out = append(out, v)
		}
	}
	return out, nil
}

// fetch reads a table level's documents with its planned access. Every
// document delivered counts as a visited row and is charged to the memory
// budget; held is what was charged, for the caller to release once it no
// longer holds the documents (also on error).
func (c *execCtx) fetch(lv *fromPlan, s *scope) (docs []Document, held int64, err error) {
	tid := lv.table.ID
	var stop error // budget or context error raised inside a Tx callback
	collect := func(d Document) bool {
		if stop = c.visit(1); stop != nil {
			return false
		}
		n := docSize(lv, d)
		held += n
		if stop = c.charge(n); stop != nil {
			return false
		}
		docs = append(docs, d)
		return true
	}
	switch lv.access.kind {
	case accScan:
		if !c.scanned[tid] {
			c.scanned[tid] = true
			c.res.FullScans = append(c.res.FullScans, tid)
		}
		if err := c.tx.Scan(tid, collect); err != nil {
			return nil, held, txErr("scan", err)
		}
	default:
		keys, err := c.keyValues(lv.access, s)
		if err != nil {
			return nil, held, err
		}
		seenKey := map[string]bool{}
		seenDoc := map[string]bool{}
		for _, k := range keys {
			if stop != nil {
				break
			}
			kb := string(IndexKey(k))
			if seenKey[kb] {
				continue
			}
			seenKey[kb] = true
			if lv.access.kind == accGet {
				if !isText(k) {
					continue
				}
				d, ok, err := c.tx.Get(tid, k.Text)
				if err != nil {
					return nil, held, txErr("get", err)
				}
				if ok {
					collect(d)
				}
				continue
			}
			before := len(docs)
			if err := c.tx.Lookup(tid, lv.access.field, k, collect); err != nil {
				return nil, held, txErr("lookup", err)
			}
			// Drop documents already found under another key.
			kept := docs[:before]
			for _, d := range docs[before:] {
				if !seenDoc[d.ID] {
					seenDoc[d.ID] = true
					kept = append(kept, d)
				}
			}
			docs = kept
		}
	}
	if stop != nil {
		return nil, held, stop
	}
	c.res.DocumentsRead += int64(len(docs))
	return docs, held, nil
}

// docSize is the memory charged for a document a level holds.
func docSize(lv *fromPlan, d Document) int64 {
	if lv.kind == srcCommitted && d.Committed != nil {
		return ApproxSize(d.Committed) + 64
	}
	return ApproxSize(d.Data) + 64
}

// history reads a history() level; revisions are accounted as fetch
// accounts documents.
func (c *execCtx) history(lv *fromPlan, s *scope) (revs []*ionvalue.Value, held int64, err error) {
	var q HistoryQuery
	for i, a := range lv.histArgs {
		v, err := c.eval(a, s)
		if err != nil {
			return nil, held, err
		}
		if absent(v) {
			continue
		}
		if v.Type != ion.TimestampType {
			return nil, held, evalErr(a.Position(), "history() start and end times must be timestamps, such as `2019-06-05T00:00:00Z`")
		}
		if i == 0 {
			q.Start = v.Time.GetDateTime()
		} else {
			q.End = v.Time.GetDateTime()
		}
	}
	ids := []string{""}
	if lv.access.kind == accGet {
		keys, err := c.keyValues(lv.access, s)
		if err != nil {
			return nil, held, err
		}
		ids = ids[:0]
		seen := map[string]bool{}
		for _, k := range keys {
			if isText(k) && !seen[k.Text] {
				seen[k.Text] = true
				ids = append(ids, k.Text)
			}
		}
	}
	var stop error
	for _, id := range ids {
		q.DocumentID = id
		err := c.tx.History(lv.table.ID, q, func(r *ionvalue.Value) bool {
			if stop = c.visit(1); stop != nil {
				return false
			}
			n := ApproxSize(r) + ptrSize
			held += n
			if stop = c.charge(n); stop != nil {
				return false
			}
			revs = append(revs, r)
			return true
		})
		if err != nil {
			return nil, held, txErr("history", err)
		}
		if stop != nil {
			return nil, held, stop
		}
	}
	c.res.DocumentsRead += int64(len(revs))
	return revs, held, nil
}

// committedView is a document's row in _ql_committed_<table>.
func committedView(d *Document) *ionvalue.Value {
	if d.Committed != nil {
		return d.Committed
	}
	return ionvalue.Struct(
		ionvalue.Field{Name: "data", Value: d.Data},
		ionvalue.Field{Name: "metadata", Value: ionvalue.Struct(ionvalue.Field{Name: "id", Value: ionvalue.String(d.ID)})},
	)
}

// catalogRow is a table's row in information_schema.user_tables.
func catalogRow(t TableInfo) *ionvalue.Value {
	idx := make([]*ionvalue.Value, 0, len(t.Indexes))
	for _, ix := range t.Indexes {
		fs := []ionvalue.Field{
			{Name: "indexId", Value: ionvalue.String(ix.ID)},
			{Name: "expr", Value: ionvalue.String("[" + ix.Field + "]")},
			{Name: "status", Value: ionvalue.String(ix.Status)},
		}
		if ix.Message != "" {
			fs = append(fs, ionvalue.Field{Name: "message", Value: ionvalue.String(ix.Message)})
		}
		idx = append(idx, ionvalue.Struct(fs...))
	}
	status := "INACTIVE"
	if t.Active {
		status = "ACTIVE"
	}
	return ionvalue.Struct(
		ionvalue.Field{Name: "name", Value: ionvalue.String(t.Name)},
		ionvalue.Field{Name: "tableId", Value: ionvalue.String(t.ID)},
		ionvalue.Field{Name: "indexes", Value: ionvalue.List(idx...)},
		ionvalue.Field{Name: "status", Value: ionvalue.String(status)},
	)
}

// project builds the result row of one FROM row (nil means no row:
// SELECT VALUE of MISSING). nLevels frames of s belong to this query.
func (c *execCtx) project(st *SelectStmt, nLevels int, s *scope) (*ionvalue.Value, error) {
	if st.Value != nil {
		return c.eval(st.Value, s)
	}
	out := &ionvalue.Value{Type: ion.StructType}
	if st.Star {
		frames := make([]*scope, nLevels)
		f := s
		for i := nLevels - 1; i >= 0; i-- {
			frames[i], f = f, f.parent
		}
		for i, fr := range frames {
			appendAll(out, fr.row, i+1)
		}
		return out, nil
	}
	for i, it := range st.Items {
		v, err := c.eval(it.Expr, s)
		if err != nil {
			return nil, err
		}
		if it.AllFields {
			appendAll(out, v, i+1)
			continue
		}
		if v == nil {
			continue
		}
		name := it.Alias
		if name == "" {
			name = derivedName(it.Expr, i+1)
		}
		out.Fields = append(out.Fields, ionvalue.Field{Name: name, Value: v})
	}
	return out, nil
}

// appendAll adds a struct's fields to out, or the value itself as _pos.
func appendAll(out, v *ionvalue.Value, pos int) {
	switch {
	case v == nil:
	case isStruct(v):
		out.Fields = append(out.Fields, v.Fields...)
	default:
		out.Fields = append(out.Fields, ionvalue.Field{Name: "_" + strconv.Itoa(pos), Value: v})
	}
}

// derivedName names an unaliased SELECT item: a variable or a path ending in
// a field gives that name, anything else _pos (1-based).
func derivedName(e Expr, pos int) string {
	switch e := e.(type) {
	case *VarRef:
		return e.Name
	case *Path:
		last := e.Steps[len(e.Steps)-1]
		switch {
		case last.Kind == StepField:
			return last.Name
		case last.Kind == StepIndex:
			if lit, ok := last.Index.(*Lit); ok && isText(lit.Value) {
				return lit.Value.Text
			}
		}
	}
	return "_" + strconv.Itoa(pos)
}
