package shell

import "strings"

// splitter cuts PartiQL input into statements. A statement ends at a ';'
// that is outside a 'string', a "quoted identifier", an `Ion literal`
// (whose own strings and comments may hold ';' and '`'), a -- line comment
// and a /* block comment */. Input arrives line by line; what follows the
// last ';' waits for the next line.
type splitter struct {
	buf   strings.Builder
	state splitState
	// ionQuote is the quote character open inside an Ion literal ('\'', '"')
	// or 0; ionEsc marks a backslash just seen inside it.
	ionQuote byte
	ionEsc   bool
	// content marks text other than white space and comments since the
	// last ';'.
	content bool
	// commentAt is where a -- line comment began in the line last fed, or
	// -1 (history keeps a statement on one line, so the comment must go).
	commentAt int
}

type splitState int

const (
	sCode         splitState = iota
	sString                  // inside '...'
	sIdent                   // inside "..."
	sIon                     // inside `...`
	sLineComment             // after --
	sBlockComment            // inside /* */
)

// pending reports whether a statement has begun and not yet ended (text
// other than white space and comments follows the last ';').
func (s *splitter) pending() bool { return s.content }

// reset drops any partial statement.
func (s *splitter) reset() { *s = splitter{} }

// feed adds one line (without its newline) and returns the statements it
// completed, each without its ';' and trimmed; empty statements (";;") are
// skipped.
func (s *splitter) feed(line string) []string {
	var out []string
	s.commentAt = -1
	text := line + "\n"
	for i := 0; i < len(text); i++ {
		c := text[i]
		next := byte(0)
		if i+1 < len(text) {
			next = text[i+1]
		}
		wasComment := s.state == sLineComment || s.state == sBlockComment
		switch s.state {
		case sCode:
			switch {
			case c == ';':
				if s.content {
					out = append(out, strings.TrimSpace(s.buf.String()))
				}
				s.buf.Reset()
				s.content = false
				continue
			case c == '\'':
				s.state = sString
			case c == '"':
				s.state = sIdent
			case c == '`':
				s.state = sIon
			case c == '-' && next == '-':
				s.state = sLineComment
				if s.commentAt < 0 {
					s.commentAt = i
				}
			case c == '/' && next == '*':
				s.state = sBlockComment
				s.buf.WriteByte(c)
				i++
				c = next
			}
		case sString, sIdent:
			q := byte('\'')
			if s.state == sIdent {
				q = '"'
			}
			if c == q {
				if next == q { // doubled quote: an escaped quote
					s.buf.WriteByte(c)
					i++
				} else {
					s.state = sCode
				}
			}
		case sIon:
			switch {
			case s.ionEsc:
				s.ionEsc = false
			case s.ionQuote != 0 && c == '\\':
				s.ionEsc = true
			case s.ionQuote != 0:
				if c == s.ionQuote {
					s.ionQuote = 0
				}
			case c == '\'' || c == '"':
				s.ionQuote = c
			case c == '`':
				s.state = sCode
			}
		case sLineComment:
			if c == '\n' {
				s.state = sCode
			}
		case sBlockComment:
			if c == '*' && next == '/' {
				s.buf.WriteByte(c)
				i++
				c = next
				s.state = sCode
			}
		}
		if !wasComment && s.state != sLineComment && s.state != sBlockComment && c != ' ' && c != '\t' && c != '\n' && c != '\r' {
			s.content = true
		}
		s.buf.WriteByte(c)
	}
	return out
}
