package partiql

import (
	"strings"

	"github.com/amzn/ion-go/ion"

	"github.com/strand-db/strand/internal/ionvalue"
)

// Stored procedures: EXEC name arg, arg, ... QLDB has one,
// redact_revision (its name is matched case-insensitively, as QLDB's
// examples write it both ways):
//
//	EXEC redact_revision `{strandId: "...", sequenceNo: 17}`, 'tableId', 'documentId'
//
// Any argument may be a ? parameter. It returns one row naming the
// revision to redact, {blockAddress, tableId, documentId, version}, and the
// redaction happens when the transaction commits.

// ExecStmt is EXEC Proc Args.
type ExecStmt struct {
	Pos
	Proc string // as written
	Args []Expr
}

func (*ExecStmt) stmtNode() {}

// Redactor is implemented by a Tx that can redact revisions (EXEC
// redact_revision). The evaluator has checked the argument types.
//
// RedactRevision schedules, for the transaction's commit, the redaction of
// the revision of document docID in table tableID written by block seq of
// strand strandID, and returns that revision's version. It refuses, with a
// *Error or an error of the transaction layer, a second redaction in the
// same transaction, an unknown block, table or revision, a revision that
// is the document's latest, a deletion and a revision already redacted.
type Redactor interface {
	RedactRevision(strandID string, seq uint64, tableID, docID string) (version uint64, err error)
}

// execStmt parses EXEC name [arg {, arg}].
func (p *parser) execStmt() (Stmt, error) {
	start := p.advance()
	name, _, _, err := p.name("a stored procedure name after EXEC")
	if err != nil {
		return nil, err
	}
	s := &ExecStmt{Pos: start.pos, Proc: name}
	if t := p.peek(); t.kind == tokEOF || p.isPunct(";") {
		return s, nil
	}
	for {
		e, err := p.expr()
		if err != nil {
			return nil, err
		}
		s.Args = append(s.Args, e)
		if !p.acceptPunct(",") {
			return s, nil
		}
	}
}

// execProc runs EXEC.
func (c *execCtx) execProc(st *ExecStmt) error {
	if !strings.EqualFold(st.Proc, "redact_revision") {
		return semanticErr(st.Pos, "No such stored procedure: %s (QLDB has one: redact_revision)", st.Proc)
	}
	const usage = "redact_revision takes three arguments: a block address `{strandId: \"...\", sequenceNo: n}`, a table id and a document id"
	if len(st.Args) != 3 {
		return semanticErr(st.Pos, "%s; found %d", usage, len(st.Args))
	}
	args := make([]*ionvalue.Value, 3)
	for i, a := range st.Args {
		if err := checkExprCalls(a); err != nil {
			return err
		}
		v, err := c.eval(a, nil)
		if err != nil {
			return err
		}
		args[i] = v
	}
	addr := args[0]
	strand, seq := addr.Get("strandId"), addr.Get("sequenceNo")
	if !isStruct(addr) || strand == nil || strand.Type != ion.StringType || seq == nil || seq.Type != ion.IntType ||
		seq.IsNullValue() || strand.IsNullValue() || seq.Int < 0 || seq.BigInt != nil || len(addr.Fields) != 2 {
		return evalErr(st.Args[0].Position(), "%s; the block address is %s", usage, describeArg(addr))
	}
	for i, what := range []string{"table id", "document id"} {
		v := args[i+1]
		if v == nil || v.Type != ion.StringType || v.IsNullValue() || v.Text == "" {
			return evalErr(st.Args[i+1].Position(), "%s; the %s is %s, not a string", usage, what, describeArg(v))
		}
	}
	r, ok := c.tx.(Redactor)
	if !ok {
		return unsupportedErr(st.Pos, "redact_revision is not supported by this transaction")
	}
	tableID, docID := args[1].Text, args[2].Text
	version, err := r.RedactRevision(strand.Text, uint64(seq.Int), tableID, docID)
	if err != nil {
		return txErr("redact revision", err)
	}
	c.res.Rows = append(c.res.Rows, ionvalue.Struct(
		ionvalue.Field{Name: "blockAddress", Value: ionvalue.Struct(
			ionvalue.Field{Name: "strandId", Value: ionvalue.String(strand.Text)},
			ionvalue.Field{Name: "sequenceNo", Value: ionvalue.Int(seq.Int)},
		)},
		ionvalue.Field{Name: "tableId", Value: ionvalue.String(tableID)},
		ionvalue.Field{Name: "documentId", Value: ionvalue.String(docID)},
		ionvalue.Field{Name: "version", Value: ionvalue.Int(int64(version))},
	))
	c.res.DocumentsWritten++
	return nil
}

// describeArg names a procedure argument's type for an error message.
func describeArg(v *ionvalue.Value) string {
	if v == nil {
		return "MISSING"
	}
	return typeName(v)
}
