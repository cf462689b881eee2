package partiql

import (
	"strings"
)

// Statement is a parsed PartiQL statement. It is immutable: cache it by its
// text and run it with Execute as often as needed, from any goroutine.
type Statement struct {
	// Text is the statement as given to Parse.
	Text string
	// Body is the root of the AST.
	Body Stmt
	// NumParams is the number of ? placeholders; Execute needs exactly this
	// many parameters.
	NumParams int
}

// Position returns the position of the statement's first token, so that a
// *Statement is a Node (for Dump).
func (s *Statement) Position() Pos {
	if s.Body == nil {
		return Pos{}
	}
	return s.Body.Position()
}

// ReadOnly reports whether running s can change the ledger: only SELECT is
// read-only.
func (s *Statement) ReadOnly() bool {
	_, ok := s.Body.(*SelectStmt)
	return ok
}

// Kind names the statement class, for metrics and logs: "SELECT", "INSERT",
// "UPDATE", "DELETE", "FROM", "CREATE TABLE", "DROP TABLE", "UNDROP TABLE",
// "CREATE INDEX", "DROP INDEX" or "EXEC".
func (s *Statement) Kind() string {
	switch b := s.Body.(type) {
	case *SelectStmt:
		return "SELECT"
	case *InsertStmt:
		return "INSERT"
	case *DMLStmt:
		return b.Form
	case *CreateTableStmt:
		return "CREATE TABLE"
	case *DropTableStmt:
		return "DROP TABLE"
	case *UndropTableStmt:
		return "UNDROP TABLE"
	case *CreateIndexStmt:
		return "CREATE INDEX"
	case *DropIndexStmt:
		return "DROP INDEX"
	case *ExecStmt:
		return "EXEC"
	}
	return "UNKNOWN"
}

// maxDepth bounds expression nesting so that hostile input cannot exhaust
// the stack.
const maxDepth = 200

// Parse parses one PartiQL statement (an optional trailing ';' is allowed).
// Errors are *Error with Code CodeSyntax (or CodeUnsupported for recognised
// but unsupported syntax) and a message naming the line and column. Parse
// never panics and does not touch any ledger state.
func Parse(text string) (*Statement, error) {
	toks, err := lex(text)
	if err != nil {
		return nil, err
	}
	p := &parser{toks: toks}
	body, err := p.statement()
	if err != nil {
		return nil, err
	}
	p.acceptPunct(";")
	if t := p.peek(); t.kind != tokEOF {
		return nil, syntaxErr(t.pos, "unexpected %s after the end of the statement", t.describe())
	}
	return &Statement{Text: text, Body: body, NumParams: p.nparams}, nil
}

// parser is a recursive-descent parser over the token slice.
type parser struct {
	toks    []token
	i       int
	nparams int
	depth   int
}

func (p *parser) peek() token { return p.toks[p.i] }

// peekAt returns the token k ahead (the EOF token past the end).
func (p *parser) peekAt(k int) token {
	if p.i+k < len(p.toks) {
		return p.toks[p.i+k]
	}
	return p.toks[len(p.toks)-1]
}

func (p *parser) advance() token {
	t := p.toks[p.i]
	if t.kind != tokEOF {
		p.i++
	}
	return t
}

func (p *parser) isKw(kw string) bool {
	t := p.peek()
	return t.kind == tokKeyword && t.text == kw
}

func (p *parser) acceptKw(kw string) bool {
	if p.isKw(kw) {
		p.i++
		return true
	}
	return false
}

func (p *parser) expectKw(kw, where string) (token, error) {
	if p.isKw(kw) {
		return p.advance(), nil
	}
	t := p.peek()
	return t, syntaxErr(t.pos, "expected %s %s, found %s", kw, where, t.describe())
}

func (p *parser) isPunct(s string) bool {
	t := p.peek()
	return t.kind == tokPunct && t.text == s
}

func (p *parser) acceptPunct(s string) bool {
	if p.isPunct(s) {
		p.i++
		return true
	}
	return false
}

func (p *parser) expectPunct(s, where string) (token, error) {
	if p.isPunct(s) {
		return p.advance(), nil
	}
	t := p.peek()
	return t, syntaxErr(t.pos, "expected '%s' %s, found %s", s, where, t.describe())
}

// name parses an identifier or quoted identifier.
func (p *parser) name(what string) (string, bool, Pos, error) {
	t := p.peek()
	switch t.kind {
	case tokIdent:
		p.i++
		return t.text, false, t.pos, nil
	case tokQuoted:
		p.i++
		return t.text, true, t.pos, nil
	case tokKeyword:
		return "", false, t.pos, syntaxErr(t.pos, "expected %s, found reserved word %s (write it in double quotes to use it as a name)", what, t.text)
	}
	return "", false, t.pos, syntaxErr(t.pos, "expected %s, found %s", what, t.describe())
}

func (p *parser) tableRef(what string) (TableRef, error) {
	n, q, pos, err := p.name(what)
	return TableRef{Pos: pos, Name: n, Quoted: q}, err
}

// statement dispatches on the first keyword.
func (p *parser) statement() (Stmt, error) {
	t := p.peek()
	if t.kind == tokKeyword {
		switch t.text {
		case "SELECT":
			return p.selectStmt()
		case "INSERT":
			return p.insertStmt()
		case "UPDATE":
			return p.updateStmt()
		case "DELETE":
			return p.deleteStmt()
		case "FROM":
			return p.fromStmt()
		case "CREATE":
			return p.createStmt()
		case "DROP":
			return p.dropStmt()
		case "UNDROP":
			return p.undropStmt()
		case "EXEC":
			return p.execStmt()
		}
	}
	if t.kind == tokEOF {
		return nil, syntaxErr(t.pos, "empty statement")
	}
	return nil, syntaxErr(t.pos, "expected a statement (SELECT, INSERT, UPDATE, DELETE, FROM, CREATE, DROP or UNDROP), found %s", t.describe())
}

// selectStmt parses SELECT ... FROM ... [WHERE ...].
func (p *parser) selectStmt() (*SelectStmt, error) {
	start, _ := p.expectKw("SELECT", "")
	s := &SelectStmt{Pos: start.pos}
	if t := p.peek(); t.kind == tokKeyword && (t.text == "DISTINCT" || t.text == "ALL") {
		return nil, unsupportedErr(t.pos, "SELECT %s is not supported", t.text)
	}
	switch {
	case p.acceptKw("VALUE"):
		e, err := p.expr()
		if err != nil {
			return nil, err
		}
		s.Value = e
	case p.acceptPunct("*"):
		s.Star = true
	default:
		for {
			it, err := p.selectItem()
			if err != nil {
				return nil, err
			}
			s.Items = append(s.Items, it)
			if !p.acceptPunct(",") {
				break
			}
		}
	}
	if _, err := p.expectKw("FROM", "after the SELECT list"); err != nil {
		return nil, err
	}
	from, err := p.fromList()
	if err != nil {
		return nil, err
	}
	s.From = from
	if p.acceptKw("WHERE") {
		if s.Where, err = p.expr(); err != nil {
			return nil, err
		}
	}
	if err := p.selectTail(s); err != nil { // ORDER BY, LIMIT, OFFSET (extensions.go)
		return nil, err
	}
	if err := p.refuseClauseBeyondQLDB(); err != nil { // GROUP BY, HAVING, set operators (strict.go)
		return nil, err
	}
	return s, nil
}

// selectItem parses expr [[AS] alias] or path.*.
func (p *parser) selectItem() (SelectItem, error) {
	t := p.peek()
	e, err := p.expr()
	if err != nil {
		return SelectItem{}, err
	}
	it := SelectItem{Pos: t.pos, Expr: e}
	if path, ok := e.(*Path); ok && path.Steps[len(path.Steps)-1].Kind == StepAllFields {
		it.AllFields = true
		if len(path.Steps) == 1 {
			it.Expr = path.Root
		} else {
			it.Expr = &Path{Pos: path.Pos, Root: path.Root, Steps: path.Steps[:len(path.Steps)-1]}
		}
		return it, nil
	}
	if p.acceptKw("AS") {
		n, _, _, err := p.name("an alias after AS")
		if err != nil {
			return it, err
		}
		it.Alias = n
	} else if k := p.peek().kind; k == tokIdent || k == tokQuoted {
		it.Alias, _, _, _ = p.name("")
	}
	return it, nil
}

// fromList parses from items separated by ',' or [INNER|CROSS] JOIN.
func (p *parser) fromList() ([]*FromItem, error) {
	first, err := p.fromItem()
	if err != nil {
		return nil, err
	}
	items := []*FromItem{first}
	for {
		switch {
		case p.acceptPunct(","):
			it, err := p.fromItem()
			if err != nil {
				return nil, err
			}
			items = append(items, it)
			continue
		case p.isKw("JOIN") || ((p.isKw("INNER") || p.isKw("CROSS")) && p.peekAt(1).kind == tokKeyword && p.peekAt(1).text == "JOIN"):
			if !p.acceptKw("JOIN") {
				p.advance()
				p.advance()
			}
			it, err := p.fromItem()
			if err != nil {
				return nil, err
			}
			it.Join = "JOIN"
			if p.acceptKw("ON") {
				if it.On, err = p.expr(); err != nil {
					return nil, err
				}
			}
			items = append(items, it)
			continue
		case p.isKw("LEFT") || p.isKw("RIGHT") || p.isKw("FULL") || p.isKw("OUTER"):
			return nil, unsupportedErr(p.peek().pos, "only inner joins are supported")
		}
		return items, nil
	}
}

// fromItem parses source [[AS] alias] [AT name] [BY name].
func (p *parser) fromItem() (*FromItem, error) {
	t := p.peek()
	src, err := p.postfix()
	if err != nil {
		return nil, err
	}
	it := &FromItem{Pos: t.pos, Source: src}
	if p.acceptKw("AS") {
		if it.As, _, _, err = p.name("an alias after AS"); err != nil {
			return nil, err
		}
	} else if k := p.peek().kind; k == tokIdent || k == tokQuoted {
		it.As, _, _, _ = p.name("")
	}
	if p.acceptKw("AT") {
		if it.At, _, _, err = p.name("a name after AT"); err != nil {
			return nil, err
		}
	}
	if p.acceptKw("BY") {
		if it.By, _, _, err = p.name("a name after BY"); err != nil {
			return nil, err
		}
	}
	return it, nil
}

// insertStmt parses INSERT INTO t VALUE e | INSERT INTO t e.
func (p *parser) insertStmt() (*InsertStmt, error) {
	start := p.advance()
	if _, err := p.expectKw("INTO", "after INSERT"); err != nil {
		return nil, err
	}
	tbl, err := p.tableRef("a table name after INSERT INTO")
	if err != nil {
		return nil, err
	}
	s := &InsertStmt{Pos: start.pos, Table: tbl}
	if t := p.peek(); t.kind == tokKeyword && t.text == "VALUES" {
		return nil, syntaxErr(t.pos, "expected VALUE {...}, << ... >> or ? after the table name, found VALUES (QLDB PartiQL inserts documents, not rows)")
	}
	s.Single = p.acceptKw("VALUE")
	if s.Value, err = p.expr(); err != nil {
		return nil, err
	}
	return s, nil
}

// dmlTarget parses the single table of a DML statement.
func (p *parser) dmlTarget() (*FromItem, error) {
	it, err := p.fromItem()
	if err != nil {
		return nil, err
	}
	if _, ok := it.Source.(*VarRef); !ok {
		return nil, syntaxErr(it.Source.Position(), "DML works on one table: expected a table name")
	}
	return it, nil
}

// updateStmt parses UPDATE t [AS a] [BY id] (SET ... | REMOVE ...)+ [WHERE c].
func (p *parser) updateStmt() (*DMLStmt, error) {
	start := p.advance()
	tgt, err := p.dmlTarget()
	if err != nil {
		return nil, err
	}
	s := &DMLStmt{Pos: start.pos, Form: "UPDATE", Target: tgt}
	if s.Ops, err = p.dmlOps(false); err != nil {
		return nil, err
	}
	if len(s.Ops) == 0 {
		t := p.peek()
		return nil, syntaxErr(t.pos, "expected SET or REMOVE in UPDATE, found %s", t.describe())
	}
	if p.acceptKw("WHERE") {
		if s.Where, err = p.expr(); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// deleteStmt parses DELETE FROM t [AS a] [BY id] [WHERE c].
func (p *parser) deleteStmt() (*DMLStmt, error) {
	start := p.advance()
	if _, err := p.expectKw("FROM", "after DELETE"); err != nil {
		return nil, err
	}
	tgt, err := p.dmlTarget()
	if err != nil {
		return nil, err
	}
	s := &DMLStmt{Pos: start.pos, Form: "DELETE", Target: tgt, Ops: []DMLOp{&DeleteOp{Pos: start.pos}}}
	if p.acceptKw("WHERE") {
		if s.Where, err = p.expr(); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// fromStmt parses FROM t [AS a] [BY id] [WHERE c] op+ (WHERE may also follow
// the operations).
func (p *parser) fromStmt() (*DMLStmt, error) {
	start := p.advance()
	tgt, err := p.dmlTarget()
	if err != nil {
		return nil, err
	}
	s := &DMLStmt{Pos: start.pos, Form: "FROM", Target: tgt}
	if p.acceptKw("WHERE") {
		if s.Where, err = p.expr(); err != nil {
			return nil, err
		}
	}
	if s.Ops, err = p.dmlOps(true); err != nil {
		return nil, err
	}
	if len(s.Ops) == 0 {
		t := p.peek()
		return nil, syntaxErr(t.pos, "expected INSERT INTO, SET or REMOVE after the FROM clause, found %s", t.describe())
	}
	if s.Where == nil && p.acceptKw("WHERE") {
		if s.Where, err = p.expr(); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// dmlOps parses a sequence of SET, REMOVE and (when allowInsert) INSERT INTO
// operations.
func (p *parser) dmlOps(allowInsert bool) ([]DMLOp, error) {
	var ops []DMLOp
	for {
		t := p.peek()
		switch {
		case p.acceptKw("SET"):
			for {
				tp := p.peek()
				target, err := p.dmlPath("SET")
				if err != nil {
					return nil, err
				}
				if _, err := p.expectPunct("=", "after the SET target"); err != nil {
					return nil, err
				}
				v, err := p.expr()
				if err != nil {
					return nil, err
				}
				ops = append(ops, &SetOp{Pos: tp.pos, Target: target, Value: v})
				if !p.acceptPunct(",") {
					break
				}
			}
		case p.acceptKw("REMOVE"):
			target, err := p.dmlPath("REMOVE")
			if err != nil {
				return nil, err
			}
			ops = append(ops, &RemoveOp{Pos: t.pos, Target: target})
		case allowInsert && p.acceptKw("INSERT"):
			if _, err := p.expectKw("INTO", "after INSERT"); err != nil {
				return nil, err
			}
			target, err := p.dmlPath("INSERT INTO")
			if err != nil {
				return nil, err
			}
			if _, err := p.expectKw("VALUE", "after the INSERT INTO target"); err != nil {
				return nil, err
			}
			v, err := p.expr()
			if err != nil {
				return nil, err
			}
			op := &InsertOp{Pos: t.pos, Target: target, Value: v}
			if p.acceptKw("AT") {
				if op.At, err = p.expr(); err != nil {
					return nil, err
				}
			}
			ops = append(ops, op)
		default:
			return ops, nil
		}
	}
}

// dmlPath parses the target of SET, REMOVE or INSERT INTO: a name or a path.
func (p *parser) dmlPath(what string) (Expr, error) {
	t := p.peek()
	e, err := p.postfix()
	if err != nil {
		return nil, err
	}
	switch e := e.(type) {
	case *VarRef:
		return e, nil
	case *Path:
		if _, ok := e.Root.(*VarRef); ok {
			for _, st := range e.Steps {
				if st.Kind == StepAllFields || st.Kind == StepAllElems {
					return nil, syntaxErr(st.Pos, "wildcards are not allowed in a %s target", what)
				}
			}
			return e, nil
		}
	}
	return nil, syntaxErr(t.pos, "expected a path such as a.b.c as the %s target", what)
}

// createStmt parses CREATE TABLE and CREATE INDEX.
func (p *parser) createStmt() (Stmt, error) {
	start := p.advance()
	unique := p.acceptUnique() // CREATE UNIQUE INDEX (extensions.go)
	switch {
	case unique && !p.isKw("INDEX"):
		t := p.peek()
		return nil, syntaxErr(t.pos, "expected INDEX after CREATE UNIQUE, found %s", t.describe())
	case p.acceptKw("TABLE"):
		tbl, err := p.tableRef("a table name after CREATE TABLE")
		if err != nil {
			return nil, err
		}
		s := &CreateTableStmt{Pos: start.pos, Table: tbl}
		if p.acceptKw("WITH") {
			if _, err := p.expectPunct("(", "after WITH"); err != nil {
				return nil, err
			}
			n, _, npos, err := p.name("aws_tags")
			if err != nil {
				return nil, err
			}
			if n != "aws_tags" {
				return nil, syntaxErr(npos, "expected aws_tags in CREATE TABLE ... WITH, found '%s'", n)
			}
			if _, err := p.expectPunct("=", "after aws_tags"); err != nil {
				return nil, err
			}
			if s.Tags, err = p.expr(); err != nil {
				return nil, err
			}
			if _, err := p.expectPunct(")", "to close WITH ("); err != nil {
				return nil, err
			}
		}
		return s, nil
	case p.acceptKw("INDEX"):
		if _, err := p.expectKw("ON", "after CREATE INDEX"); err != nil {
			return nil, err
		}
		tbl, err := p.tableRef("a table name after CREATE INDEX ON")
		if err != nil {
			return nil, err
		}
		if _, err := p.expectPunct("(", "before the indexed field"); err != nil {
			return nil, err
		}
		field, _, fpos, err := p.name("a top-level field name")
		if err != nil {
			return nil, err
		}
		if p.isPunct(".") || p.isPunct("[") || p.isPunct(",") {
			return nil, unsupportedErr(fpos, "an index covers exactly one top-level field")
		}
		if _, err := p.expectPunct(")", "after the indexed field"); err != nil {
			return nil, err
		}
		return &CreateIndexStmt{Pos: start.pos, Table: tbl, Field: field, Unique: unique}, nil
	}
	t := p.peek()
	return nil, syntaxErr(t.pos, "expected TABLE or INDEX after CREATE, found %s", t.describe())
}

// dropStmt parses DROP TABLE t and DROP INDEX "id" ON t [WITH (purge = true)].
func (p *parser) dropStmt() (Stmt, error) {
	start := p.advance()
	switch {
	case p.acceptKw("TABLE"):
		tbl, err := p.tableRef("a table name after DROP TABLE")
		if err != nil {
			return nil, err
		}
		return &DropTableStmt{Pos: start.pos, Table: tbl}, nil
	case p.acceptKw("INDEX"):
		id, _, _, err := p.name(`an index id in double quotes after DROP INDEX`)
		if err != nil {
			return nil, err
		}
		if _, err := p.expectKw("ON", "after the index id"); err != nil {
			return nil, err
		}
		tbl, err := p.tableRef("a table name after ON")
		if err != nil {
			return nil, err
		}
		s := &DropIndexStmt{Pos: start.pos, IndexID: id, Table: tbl}
		if p.acceptKw("WITH") {
			if _, err := p.expectPunct("(", "after WITH"); err != nil {
				return nil, err
			}
			n, _, npos, err := p.name("purge")
			if err != nil {
				return nil, err
			}
			if !strings.EqualFold(n, "purge") {
				return nil, syntaxErr(npos, "expected purge in DROP INDEX ... WITH, found '%s'", n)
			}
			if _, err := p.expectPunct("=", "after purge"); err != nil {
				return nil, err
			}
			if _, err := p.expectKw("TRUE", "after purge ="); err != nil {
				return nil, err
			}
			if _, err := p.expectPunct(")", "to close WITH ("); err != nil {
				return nil, err
			}
			s.Purge = true
		}
		return s, nil
	}
	t := p.peek()
	return nil, syntaxErr(t.pos, "expected TABLE or INDEX after DROP, found %s", t.describe())
}

// undropStmt parses UNDROP TABLE "tableId".
func (p *parser) undropStmt() (Stmt, error) {
	start := p.advance()
	if _, err := p.expectKw("TABLE", "after UNDROP"); err != nil {
		return nil, err
	}
	id, _, _, err := p.name(`a table id in double quotes after UNDROP TABLE`)
	if err != nil {
		return nil, err
	}
	return &UndropTableStmt{Pos: start.pos, TableID: id}, nil
}
