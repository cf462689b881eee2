package partiql

import (
	"strings"
	"unicode/utf8"
)

// Pos is a 1-based line and column (counted in characters) in the statement
// text. The zero Pos means "unknown".
type Pos struct {
	Line int
	Col  int
}

// Position returns p; every AST node embeds a Pos and so has this method.
func (p Pos) Position() Pos { return p }

// tokKind classifies a token.
type tokKind int

const (
	tokEOF     tokKind = iota
	tokIdent           // unquoted identifier that is not a keyword; text as written
	tokQuoted          // "quoted identifier"; text unescaped
	tokKeyword         // reserved word; text upper-cased
	tokString          // 'string'; text unescaped
	tokInt             // integer literal; text as written
	tokDecimal         // 1.5 (no exponent); text as written
	tokFloat           // 1e0, 1.5E-3; text as written
	tokIon             // `ion literal`; text between the backticks
	tokParam           // ?
	tokPunct           // operators and punctuation; text is the symbol
)

// token is one lexical token.
type token struct {
	kind tokKind
	text string
	raw  string // keywords: the text as written (for field names after a dot)
	pos  Pos
}

// describe renders t for error messages.
func (t token) describe() string {
	switch t.kind {
	case tokEOF:
		return "end of statement"
	case tokString:
		return "string '" + t.text + "'"
	case tokQuoted:
		return `identifier "` + t.text + `"`
	case tokIon:
		return "Ion literal"
	case tokKeyword:
		return "keyword " + t.text
	default:
		return "'" + t.text + "'"
	}
}

// keywords are reserved: written unquoted (in any case) they are never
// identifiers. Quote them ("value") to use them as names. The set holds the
// words the grammar uses now or soon will; function names such as COUNT or
// UPPER are deliberately not reserved.
var keywords = map[string]bool{
	"ALL": true, "AND": true, "AS": true, "ASC": true, "AT": true, "BETWEEN": true, "BY": true,
	"CASE": true, "CAST": true, "CREATE": true, "CROSS": true, "DELETE": true, "DESC": true,
	"DISTINCT": true, "DROP": true, "ELSE": true, "END": true, "ESCAPE": true, "EXCEPT": true,
	"EXEC": true, "EXISTS": true, "FALSE": true, "FROM": true, "FULL": true, "GROUP": true,
	"HAVING": true, "IN": true, "INDEX": true, "INNER": true, "INSERT": true, "INTERSECT": true,
	"INTO": true, "IS": true, "JOIN": true, "LEFT": true, "LIKE": true, "LIMIT": true,
	"MISSING": true, "NOT": true, "NULL": true, "OFFSET": true, "ON": true, "OR": true,
	"ORDER": true, "OUTER": true, "PIVOT": true, "REMOVE": true, "RIGHT": true, "SELECT": true,
	"SET": true, "TABLE": true, "THEN": true, "TRUE": true, "UNDROP": true, "UNION": true,
	"UNPIVOT": true, "UPDATE": true, "VALUE": true, "VALUES": true, "WHEN": true, "WHERE": true,
	"WITH": true,
}

// lexer turns statement text into tokens.
type lexer struct {
	src  string
	off  int // byte offset of the next character
	line int
	col  int
}

// lex tokenizes the whole statement, ending with a tokEOF token.
func lex(src string) ([]token, error) {
	lx := &lexer{src: src, line: 1, col: 1}
	var toks []token
	for {
		t, err := lx.next()
		if err != nil {
			return nil, err
		}
		toks = append(toks, t)
		if t.kind == tokEOF {
			return toks, nil
		}
	}
}

func (lx *lexer) pos() Pos { return Pos{Line: lx.line, Col: lx.col} }

// peekByte returns the byte k bytes ahead, or 0 past the end.
func (lx *lexer) peekByte(k int) byte {
	if lx.off+k < len(lx.src) {
		return lx.src[lx.off+k]
	}
	return 0
}

// advance consumes one character (rune), keeping line and column.
func (lx *lexer) advance() rune {
	r, n := utf8.DecodeRuneInString(lx.src[lx.off:])
	lx.off += n
	if r == '\n' {
		lx.line++
		lx.col = 1
	} else {
		lx.col++
	}
	return r
}

// skipSpace skips whitespace and -- and /* */ comments.
func (lx *lexer) skipSpace() error {
	for lx.off < len(lx.src) {
		c := lx.src[lx.off]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v':
			lx.advance()
		case c == '-' && lx.peekByte(1) == '-':
			for lx.off < len(lx.src) && lx.src[lx.off] != '\n' {
				lx.advance()
			}
		case c == '/' && lx.peekByte(1) == '*':
			start := lx.pos()
			lx.advance()
			lx.advance()
			for {
				if lx.off >= len(lx.src) {
					return syntaxErr(start, "unterminated /* comment")
				}
				if lx.src[lx.off] == '*' && lx.peekByte(1) == '/' {
					lx.advance()
					lx.advance()
					break
				}
				lx.advance()
			}
		default:
			return nil
		}
	}
	return nil
}

func isIdentStart(r rune) bool {
	return r == '_' || r == '$' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z')
}

func isIdentPart(r rune) bool {
	return isIdentStart(r) || (r >= '0' && r <= '9')
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// punctuation, longest first so that "<=" wins over "<".
var punctuation = []string{
	"<<", ">>", "<=", ">=", "<>", "!=", "||",
	"(", ")", "[", "]", "{", "}", ",", ".", ":", ";", "*", "=", "<", ">", "+", "-", "/", "%",
}

// next returns the next token.
func (lx *lexer) next() (token, error) {
	if err := lx.skipSpace(); err != nil {
		return token{}, err
	}
	start := lx.pos()
	if lx.off >= len(lx.src) {
		return token{kind: tokEOF, pos: start}, nil
	}
	c := lx.src[lx.off]
	r, _ := utf8.DecodeRuneInString(lx.src[lx.off:])
	switch {
	case isIdentStart(r):
		begin := lx.off
		for lx.off < len(lx.src) {
			r, _ := utf8.DecodeRuneInString(lx.src[lx.off:])
			if !isIdentPart(r) {
				break
			}
			lx.advance()
		}
		text := lx.src[begin:lx.off]
		if up := strings.ToUpper(text); keywords[up] {
			return token{kind: tokKeyword, text: up, raw: text, pos: start}, nil
		}
		return token{kind: tokIdent, text: text, pos: start}, nil
	case isDigit(c):
		return lx.number(start)
	case c == '\'':
		s, err := lx.quoted('\'', "string")
		return token{kind: tokString, text: s, pos: start}, err
	case c == '"':
		s, err := lx.quoted('"', "quoted identifier")
		if err == nil && s == "" {
			return token{}, syntaxErr(start, "empty quoted identifier")
		}
		return token{kind: tokQuoted, text: s, pos: start}, err
	case c == '`':
		return lx.ion(start)
	case c == '?':
		lx.advance()
		return token{kind: tokParam, text: "?", pos: start}, nil
	}
	for _, p := range punctuation {
		if strings.HasPrefix(lx.src[lx.off:], p) {
			for range len(p) {
				lx.advance()
			}
			return token{kind: tokPunct, text: p, pos: start}, nil
		}
	}
	if r == utf8.RuneError {
		return token{}, syntaxErr(start, "invalid UTF-8 in statement")
	}
	return token{}, syntaxErr(start, "unexpected character %q", r)
}

// number lexes 12, 12.5, 12., 1e3, 1.5e-3. A letter right after a number is
// an error (12abc).
func (lx *lexer) number(start Pos) (token, error) {
	begin := lx.off
	kind := tokInt
	for isDigit(lx.peekByte(0)) {
		lx.advance()
	}
	if lx.peekByte(0) == '.' && isDigit(lx.peekByte(1)) {
		kind = tokDecimal
		lx.advance()
		for isDigit(lx.peekByte(0)) {
			lx.advance()
		}
	}
	if c := lx.peekByte(0); c == 'e' || c == 'E' {
		k := 1
		if s := lx.peekByte(1); s == '+' || s == '-' {
			k = 2
		}
		if isDigit(lx.peekByte(k)) {
			kind = tokFloat
			for range k {
				lx.advance()
			}
			for isDigit(lx.peekByte(0)) {
				lx.advance()
			}
		}
	}
	if lx.off < len(lx.src) {
		r, _ := utf8.DecodeRuneInString(lx.src[lx.off:])
		if isIdentPart(r) {
			return token{}, syntaxErr(start, "invalid number %q", lx.src[begin:lx.off]+string(r))
		}
	}
	return token{kind: kind, text: lx.src[begin:lx.off], pos: start}, nil
}

// quoted lexes a q-delimited string in which a doubled q stands for one q.
func (lx *lexer) quoted(q byte, what string) (string, error) {
	start := lx.pos()
	lx.advance()
	var b strings.Builder
	for {
		if lx.off >= len(lx.src) {
			return "", syntaxErr(start, "unterminated %s", what)
		}
		if lx.src[lx.off] == q {
			if lx.peekByte(1) == q {
				b.WriteByte(q)
				lx.advance()
				lx.advance()
				continue
			}
			lx.advance()
			return b.String(), nil
		}
		r := lx.advance()
		b.WriteRune(r)
	}
}

// ion lexes a `backtick` Ion literal. Ion strings and symbols inside it may
// contain backticks; comments may not.
func (lx *lexer) ion(start Pos) (token, error) {
	lx.advance()
	begin := lx.off
	for {
		if lx.off >= len(lx.src) {
			return token{}, syntaxErr(start, "unterminated Ion literal (missing closing `)")
		}
		c := lx.src[lx.off]
		switch c {
		case '`':
			text := lx.src[begin:lx.off]
			lx.advance()
			return token{kind: tokIon, text: text, pos: start}, nil
		case '"', '\'':
			qstart := lx.pos()
			lx.advance()
			for {
				if lx.off >= len(lx.src) {
					return token{}, syntaxErr(qstart, "unterminated quoted text in Ion literal")
				}
				d := lx.src[lx.off]
				lx.advance()
				if d == '\\' && lx.off < len(lx.src) {
					lx.advance()
					continue
				}
				if d == c {
					break
				}
			}
		default:
			lx.advance()
		}
	}
}
