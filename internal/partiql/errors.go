package partiql

import "fmt"

// Error codes carried by *Error. QLDB returned statement errors as a
// BadRequestException whose Code member was a numeric string; the two codes
// seen from real QLDB (by the Go driver's integration tests) are 412 and 432.
// The others are Strand's choice, kept in the same "4xx" style so that a
// client that only checks "is it a statement error" treats them alike.
const (
	// CodeSyntax is for lexer and parser errors ("Syntax Error: at line L,
	// column C: ..."). QLDB's own code for these is not known; 400 is ours.
	CodeSyntax = "400"
	// CodeEvaluation is for errors raised while running a well-formed
	// statement: a document that is not a struct, division by zero, a SET
	// through a scalar, the wrong number of parameters... (Strand's choice.)
	CodeEvaluation = "400"
	// CodeUnsupported is for PartiQL that parses but that Strand does not
	// run yet (Strand's choice).
	CodeUnsupported = "400"
	// CodeAlreadyExists is QLDB's code for "Table with name: USER.<name>
	// already exists" and, here, for the other "state does not allow this"
	// DDL failures (undropping an active table, a duplicate index).
	CodeAlreadyExists = "412"
	// CodeSemantic is QLDB's code for "Semantic Error: ... No such variable
	// named '<name>'": an unknown table, table id or variable.
	CodeSemantic = "432"
)

// Error is a statement error meant for the person who wrote the statement. Its
// Code and Message are what the session API sends back in a
// BadRequestException (Code, Message). Line and Col, 1-based, locate the
// offending token when known (0 otherwise); Message already mentions them.
type Error struct {
	Code    string
	Message string
	Line    int
	Col     int
}

// Error returns e.Message, without any prefix: it is written for the client.
func (e *Error) Error() string { return e.Message }

// syntaxErr builds a CodeSyntax error at p.
func syntaxErr(p Pos, format string, args ...any) *Error {
	return &Error{
		Code:    CodeSyntax,
		Message: fmt.Sprintf("Syntax Error: at line %d, column %d: %s", p.Line, p.Col, fmt.Sprintf(format, args...)),
		Line:    p.Line,
		Col:     p.Col,
	}
}

// noSuchVariable builds QLDB's semantic error for an unknown table or
// variable name, message text repeated after "; " exactly as QLDB did.
func noSuchVariable(p Pos, name string) *Error {
	what := fmt.Sprintf("No such variable named '%s'", name)
	return &Error{
		Code:    CodeSemantic,
		Message: fmt.Sprintf("Semantic Error: at line %d, column %d: %s; %s", p.Line, p.Col, what, what),
		Line:    p.Line,
		Col:     p.Col,
	}
}

// semanticErr builds a CodeSemantic error at p.
func semanticErr(p Pos, format string, args ...any) *Error {
	return &Error{
		Code:    CodeSemantic,
		Message: fmt.Sprintf("Semantic Error: at line %d, column %d: %s", p.Line, p.Col, fmt.Sprintf(format, args...)),
		Line:    p.Line,
		Col:     p.Col,
	}
}

// evalErr builds a CodeEvaluation error at p (no position when p is zero).
func evalErr(p Pos, format string, args ...any) *Error {
	msg := fmt.Sprintf(format, args...)
	if p.Line > 0 {
		msg = fmt.Sprintf("Evaluation Error: at line %d, column %d: %s", p.Line, p.Col, msg)
	} else {
		msg = "Evaluation Error: " + msg
	}
	return &Error{Code: CodeEvaluation, Message: msg, Line: p.Line, Col: p.Col}
}

// unsupportedErr builds a CodeUnsupported error at p.
func unsupportedErr(p Pos, format string, args ...any) *Error {
	return &Error{
		Code:    CodeUnsupported,
		Message: fmt.Sprintf("Unsupported: at line %d, column %d: %s", p.Line, p.Col, fmt.Sprintf(format, args...)),
		Line:    p.Line,
		Col:     p.Col,
	}
}

// alreadyExists builds a CodeAlreadyExists error with a plain message.
func alreadyExists(format string, args ...any) *Error {
	return &Error{Code: CodeAlreadyExists, Message: fmt.Sprintf(format, args...)}
}
