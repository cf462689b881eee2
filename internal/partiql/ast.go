package partiql

import "github.com/strand-db/strand/internal/ionvalue"

// The AST is built by Parse and never changed afterwards: a *Statement can be
// cached and executed any number of times, concurrently. Every node embeds the
// Pos of its first token. Names are case-sensitive, as in QLDB; keywords were
// matched case-insensitively by the lexer and are not kept.

// Node is any AST node.
type Node interface {
	Position() Pos
}

// Expr is an expression node: *Lit, *Param, *VarRef, *Path, *Unary, *Binary,
// *In, *Is, *Between, *Like, *Call, *StructExpr, *ListExpr, *BagExpr or
// *SubqueryExpr.
type Expr interface {
	Node
	exprNode()
}

// Stmt is a statement node: *SelectStmt, *InsertStmt, *DMLStmt,
// *CreateTableStmt, *DropTableStmt, *UndropTableStmt, *CreateIndexStmt or
// *DropIndexStmt.
type Stmt interface {
	Node
	stmtNode()
}

// Lit is a literal. Value nil stands for MISSING.
type Lit struct {
	Pos
	Value *ionvalue.Value
}

// Param is the Index'th (0-based, in text order) ? parameter.
type Param struct {
	Pos
	Index int
}

// VarRef names a variable (a FROM alias, AT or BY name), a table (in FROM,
// INSERT INTO...), or, failing both, a field of the FROM row.
type VarRef struct {
	Pos
	Name   string
	Quoted bool // written "Name"
}

// StepKind tells what a PathStep does.
type StepKind int

// Path step kinds.
const (
	StepField     StepKind = iota // .name or ."name": field Name
	StepIndex                     // [expr]: list position (int) or field (string)
	StepAllFields                 // .*  (only valid as the last step of a SELECT item)
	StepAllElems                  // [*] (parsed; not evaluated yet)
)

// PathStep is one step of a Path.
type PathStep struct {
	Pos
	Kind  StepKind
	Name  string // StepField
	Index Expr   // StepIndex
}

// Path navigates from Root through Steps: a.b[0]['c'].
type Path struct {
	Pos
	Root  Expr
	Steps []PathStep
}

// Unary is NOT x, -x or +x. Op is "NOT", "-" or "+".
type Unary struct {
	Pos
	Op string
	X  Expr
}

// Binary is L Op R with Op one of AND OR = <> < <= > >= + - * / % ||
// (!= is normalised to <>).
type Binary struct {
	Pos
	Op   string
	L, R Expr
}

// In is X [NOT] IN (List...) or X [NOT] IN Coll. Exactly one of List (the
// parenthesised form) and Coll is set.
type In struct {
	Pos
	X    Expr
	List []Expr
	Coll Expr
	Not  bool
}

// Is is X IS [NOT] Type with Type a canonical type name (typeNames).
type Is struct {
	Pos
	X    Expr
	Type string
	Not  bool
}

// Between is X [NOT] BETWEEN Lo AND Hi.
type Between struct {
	Pos
	X, Lo, Hi Expr
	Not       bool
}

// Like is X [NOT] LIKE Pattern [ESCAPE Escape].
type Like struct {
	Pos
	X, Pattern, Escape Expr // Escape may be nil
	Not                bool
}

// Call is a function call. Name is upper-cased; Star marks COUNT(*).
type Call struct {
	Pos
	Name string
	Args []Expr
	Star bool
}

// StructField is one key: value pair of a struct constructor.
type StructField struct {
	Key, Value Expr
}

// StructExpr is {key: value, ...}.
type StructExpr struct {
	Pos
	Fields []StructField
}

// ListExpr is [e, ...].
type ListExpr struct {
	Pos
	Elems []Expr
}

// BagExpr is <<e, ...>>. Ion has no bag type: a bag evaluates to an Ion list.
type BagExpr struct {
	Pos
	Elems []Expr
}

// SubqueryExpr is a parenthesised SELECT used as an expression or FROM source.
type SubqueryExpr struct {
	Pos
	Select *SelectStmt
}

func (*Lit) exprNode()          {}
func (*Param) exprNode()        {}
func (*VarRef) exprNode()       {}
func (*Path) exprNode()         {}
func (*Unary) exprNode()        {}
func (*Binary) exprNode()       {}
func (*In) exprNode()           {}
func (*Is) exprNode()           {}
func (*Between) exprNode()      {}
func (*Like) exprNode()         {}
func (*Call) exprNode()         {}
func (*StructExpr) exprNode()   {}
func (*ListExpr) exprNode()     {}
func (*BagExpr) exprNode()      {}
func (*SubqueryExpr) exprNode() {}

// SelectItem is one projection of a SELECT list: Expr [AS Alias], or Expr.*
// when AllFields is set.
type SelectItem struct {
	Pos
	Expr      Expr
	Alias     string
	AllFields bool
}

// FromItem is one FROM source: Source [AS As] [AT At] [BY By]. Join is ""
// for the first item and comma-separated items, "JOIN" for [INNER|CROSS]
// JOIN; On is the join condition, if any.
type FromItem struct {
	Pos
	Source Expr
	As     string
	At     string
	By     string
	Join   string
	On     Expr
}

// SelectStmt is SELECT [VALUE Value | * | Items] FROM From [WHERE Where].
type SelectStmt struct {
	Pos
	Value Expr // SELECT VALUE; nil otherwise
	Star  bool // SELECT *
	Items []SelectItem
	From  []*FromItem
	Where Expr
	// ORDER BY, LIMIT and OFFSET are parsed always and run only in the
	// extension mode (extensions.go); QLDB refuses them.
	OrderBy []OrderItem
	Limit   Expr
	Offset  Expr
	// LimitPos and OffsetPos are where the LIMIT and OFFSET keywords
	// stand (for the default mode's refusal).
	LimitPos, OffsetPos Pos
}

// TableRef names a table in a DDL or DML statement.
type TableRef struct {
	Pos
	Name   string
	Quoted bool
}

// InsertStmt is INSERT INTO Table VALUE v (Single) or INSERT INTO Table e,
// where e yields a struct or a collection of structs.
type InsertStmt struct {
	Pos
	Table  TableRef
	Value  Expr
	Single bool
}

// DMLOp is one operation of a DMLStmt: *SetOp, *RemoveOp, *InsertOp or
// *DeleteOp.
type DMLOp interface {
	Node
	dmlOp()
}

// SetOp is SET Target = Value.
type SetOp struct {
	Pos
	Target Expr
	Value  Expr
}

// RemoveOp is REMOVE Target; removing the row variable deletes the document.
type RemoveOp struct {
	Pos
	Target Expr
}

// InsertOp is INSERT INTO Target VALUE Value [AT At].
type InsertOp struct {
	Pos
	Target Expr
	Value  Expr
	At     Expr
}

// DeleteOp deletes the document (DELETE FROM ...).
type DeleteOp struct {
	Pos
}

func (*SetOp) dmlOp()    {}
func (*RemoveOp) dmlOp() {}
func (*InsertOp) dmlOp() {}
func (*DeleteOp) dmlOp() {}

// DMLStmt is UPDATE, DELETE or FROM-style DML on one user table. Form is
// "UPDATE", "DELETE" or "FROM" (as written); Target.Source is a *VarRef
// naming the table; Ops run in order on every document matching Where.
type DMLStmt struct {
	Pos
	Form   string
	Target *FromItem
	Where  Expr
	Ops    []DMLOp
}

// CreateTableStmt is CREATE TABLE Table [WITH (aws_tags = Tags)].
type CreateTableStmt struct {
	Pos
	Table TableRef
	Tags  Expr // nil when there is no WITH clause
}

// DropTableStmt is DROP TABLE Table.
type DropTableStmt struct {
	Pos
	Table TableRef
}

// UndropTableStmt is UNDROP TABLE "TableID".
type UndropTableStmt struct {
	Pos
	TableID string
}

// CreateIndexStmt is CREATE [UNIQUE] INDEX ON Table (Field). UNIQUE is
// an extension (extensions.go).
type CreateIndexStmt struct {
	Pos
	Table  TableRef
	Field  string
	Unique bool
}

// DropIndexStmt is DROP INDEX "IndexID" ON Table [WITH (purge = true)].
type DropIndexStmt struct {
	Pos
	IndexID string
	Table   TableRef
	Purge   bool
}

func (*SelectStmt) stmtNode()      {}
func (*InsertStmt) stmtNode()      {}
func (*DMLStmt) stmtNode()         {}
func (*CreateTableStmt) stmtNode() {}
func (*DropTableStmt) stmtNode()   {}
func (*UndropTableStmt) stmtNode() {}
func (*CreateIndexStmt) stmtNode() {}
func (*DropIndexStmt) stmtNode()   {}
