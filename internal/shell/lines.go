package shell

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// pipeReader reads lines from a non-terminal input (a pipe or a file).
type pipeReader struct{ r *bufio.Reader }

// NewPipeReader returns a LineReader over r that shows no prompt.
func NewPipeReader(r io.Reader) LineReader { return &pipeReader{r: bufio.NewReaderSize(r, 64*1024)} }

func (p *pipeReader) ReadLine(string) (string, error) {
	line, err := p.r.ReadString('\n')
	if err != nil && !(errors.Is(err, io.EOF) && line != "") {
		return "", err
	}
	return strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r"), nil
}

// Terminal is a LineReader for a person at a terminal: it puts the terminal
// in raw mode while a line is typed and offers the usual editing keys (Left,
// Right, Home, End, Backspace, Delete, Ctrl-A/E/B/F/U/K/W) and Up/Down (or
// Ctrl-P/N) to recall History entries.
type Terminal struct {
	in   *bufio.Reader
	fd   int
	out  io.Writer
	hist *History
}

// NewTerminal returns a Terminal reading from in (whose descriptor fd must
// be a terminal, see IsTerminal) and echoing to out.
func NewTerminal(in io.Reader, fd int, out io.Writer, hist *History) *Terminal {
	return &Terminal{in: bufio.NewReader(in), fd: fd, out: out, hist: hist}
}

// ReadLine reads one line with editing and history recall.
func (t *Terminal) ReadLine(prompt string) (string, error) {
	restore, err := makeRaw(t.fd)
	if err != nil {
		return "", fmt.Errorf("shell: terminal: %w", err)
	}
	defer restore()
	var hist []string
	if t.hist != nil {
		hist = t.hist.Entries()
	}
	e := &editor{out: t.out, prompt: prompt, hist: hist, idx: len(hist), cols: termWidth(t.fd)}
	e.redraw()
	for {
		r, _, err := t.in.ReadRune()
		if err != nil {
			return "", err
		}
		switch r {
		case '\r', '\n':
			e.pos = len(e.buf)
			e.redraw() // the cursor to the end of a line that wraps
			if total := utf8.RuneCountInString(e.prompt) + len(e.buf); e.cols <= 0 || total == 0 || total%e.cols != 0 {
				fmt.Fprint(t.out, "\r\n") // (at the margin redraw has begun a new row already)
			}
			return string(e.buf), nil
		case 3: // Ctrl-C
			fmt.Fprint(t.out, "^C\r\n")
			return "", ErrInterrupt
		case 4: // Ctrl-D
			if len(e.buf) == 0 {
				fmt.Fprint(t.out, "\r\n")
				return "", io.EOF
			}
			e.del()
		case 127, 8:
			e.backspace()
		case 1:
			e.pos = 0
		case 5:
			e.pos = len(e.buf)
		case 2:
			e.left()
		case 6:
			e.right()
		case 16:
			e.recall(-1)
		case 14:
			e.recall(+1)
		case 21:
			e.buf, e.pos = append([]rune(nil), e.buf[e.pos:]...), 0
		case 11:
			e.buf = e.buf[:e.pos]
		case 23: // Ctrl-W: delete the word before the cursor
			i := e.pos
			for i > 0 && e.buf[i-1] == ' ' {
				i--
			}
			for i > 0 && e.buf[i-1] != ' ' {
				i--
			}
			e.buf, e.pos = append(e.buf[:i:i], e.buf[e.pos:]...), i
		case 27:
			t.escape(e)
		default:
			if r >= 32 {
				e.insert(r)
			}
		}
		e.redraw()
	}
}

// escape handles an escape sequence (arrow and editing keys).
func (t *Terminal) escape(e *editor) {
	b, err := t.in.ReadByte()
	if err != nil || (b != '[' && b != 'O') {
		return
	}
	var param []byte
	for {
		c, err := t.in.ReadByte()
		if err != nil {
			return
		}
		if c >= '0' && c <= '9' || c == ';' {
			param = append(param, c)
			continue
		}
		switch c {
		case 'A':
			e.recall(-1)
		case 'B':
			e.recall(+1)
		case 'C':
			e.right()
		case 'D':
			e.left()
		case 'H':
			e.pos = 0
		case 'F':
			e.pos = len(e.buf)
		case '~':
			switch string(param) {
			case "1", "7":
				e.pos = 0
			case "4", "8":
				e.pos = len(e.buf)
			case "3":
				e.del()
			}
		}
		return
	}
}

// editor is the state of the line being typed.
type editor struct {
	out    io.Writer
	prompt string
	buf    []rune
	pos    int
	hist   []string
	idx    int    // position in hist; len(hist) is the line being typed
	draft  []rune // the line being typed while browsing history
	// cols is the terminal's width (0: unknown, the line is drawn as if it
	// never wrapped); row is the screen row of the cursor counted from the
	// prompt's row, as the last redraw left it.
	cols int
	row  int
}

// redraw draws prompt and line again and puts the cursor at pos. A line
// longer than the terminal is wide wraps: redraw goes back up to the
// prompt's row first and clears to the end of the screen.
func (e *editor) redraw() {
	var b strings.Builder
	plen := utf8.RuneCountInString(e.prompt)
	if e.cols <= 0 {
		b.WriteString("\r")
		b.WriteString(e.prompt)
		b.WriteString(string(e.buf))
		b.WriteString("\x1b[K")
		if back := len(e.buf) - e.pos; back > 0 {
			fmt.Fprintf(&b, "\x1b[%dD", back)
		}
		io.WriteString(e.out, b.String())
		return
	}
	if e.row > 0 {
		fmt.Fprintf(&b, "\x1b[%dA", e.row)
	}
	b.WriteString("\r")
	b.WriteString(e.prompt)
	b.WriteString(string(e.buf))
	b.WriteString("\x1b[J")
	total := plen + len(e.buf)
	if total > 0 && total%e.cols == 0 {
		b.WriteString("\r\n") // leave the pending-wrap state at the right margin
	}
	endRow := total / e.cols
	at := plen + e.pos
	row, col := at/e.cols, at%e.cols
	if endRow > row {
		fmt.Fprintf(&b, "\x1b[%dA", endRow-row)
	}
	b.WriteString("\r")
	if col > 0 {
		fmt.Fprintf(&b, "\x1b[%dC", col)
	}
	e.row = row
	io.WriteString(e.out, b.String())
}

func (e *editor) insert(r rune) {
	e.buf = append(e.buf, 0)
	copy(e.buf[e.pos+1:], e.buf[e.pos:])
	e.buf[e.pos] = r
	e.pos++
}

func (e *editor) backspace() {
	if e.pos > 0 {
		e.buf = append(e.buf[:e.pos-1], e.buf[e.pos:]...)
		e.pos--
	}
}

func (e *editor) del() {
	if e.pos < len(e.buf) {
		e.buf = append(e.buf[:e.pos], e.buf[e.pos+1:]...)
	}
}

func (e *editor) left() {
	if e.pos > 0 {
		e.pos--
	}
}

func (e *editor) right() {
	if e.pos < len(e.buf) {
		e.pos++
	}
}

// recall moves dir entries through history (-1 older, +1 newer).
func (e *editor) recall(dir int) {
	n := e.idx + dir
	if n < 0 || n > len(e.hist) {
		return
	}
	if e.idx == len(e.hist) {
		e.draft = append([]rune(nil), e.buf...)
	}
	e.idx = n
	if n == len(e.hist) {
		e.buf = append([]rune(nil), e.draft...)
	} else {
		e.buf = []rune(e.hist[n])
	}
	e.pos = len(e.buf)
}
