// Package shell is `strand shell`: an interactive PartiQL shell for one
// ledger in the spirit of the QLDB shell, spoken over the QLDBSession API
// (SendCommand), so it works against any Strand server or QLDB endpoint.
//
// Input is PartiQL statements ending in ';' (a statement may span lines)
// and the shell commands listed by `help`. By default every statement runs
// in a transaction of its own (auto-commit, tried again on an OCC conflict
// or a lost session, as the QLDB driver does);
// `start transaction` (or `begin`) opens an explicit transaction that
// `commit` or `abort` ends. Results go to Out, one Ion value per document,
// pretty-printed (or as a table); the per-statement summary (documents,
// read and write I/Os, server and total time), notices and errors go to
// Err. Read from a pipe, the shell stops at the first failed statement or
// command, aborts any open transaction, and Run returns 1.
package shell

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/strand-db/strand/internal/ionvalue"
)

// ErrInterrupt is returned by a LineReader when the user pressed Ctrl-C:
// the shell drops the statement being typed.
var ErrInterrupt = errors.New("shell: interrupted")

// LineReader supplies input lines without their line ending; it returns
// io.EOF at the end of input.
type LineReader interface {
	ReadLine(prompt string) (string, error)
}

// Options configure Run.
type Options struct {
	Ledger string
	Client Sender
	// Format is "ion" (the default) or "table".
	Format string
	Lines  LineReader
	Out    io.Writer
	Err    io.Writer
	// Interactive marks a person at a terminal: prompts are shown, errors
	// do not end the shell and Ctrl-C cancels a running statement.
	Interactive bool
	// History records each entered statement and command (nil: none).
	History *History
}

// shell is one running REPL.
type shell struct {
	Options
	s        session
	split    splitter
	entry    []string // lines of the entry being typed, for History
	failures int
}

// errExit ends the loop on exit/quit/\q.
var errExit = errors.New("exit")

// Run runs the shell until exit, end of input or, when not Interactive, the
// first error. It returns the process exit status: 0, or 1 when input ended
// in an error, an unfinished statement or an open transaction (which it
// aborts).
func Run(ctx context.Context, o Options) int {
	if o.Format == "" {
		o.Format = "ion"
	}
	sh := &shell{Options: o, s: session{c: o.Client, ledger: o.Ledger}}
	defer sh.s.end(context.WithoutCancel(ctx))
	if o.Interactive {
		fmt.Fprintf(o.Err, "strand shell on ledger %s: statements end with ';'; auto-commit is on; 'help' lists commands\n", o.Ledger)
	}
	for {
		line, err := o.Lines.ReadLine(sh.prompt())
		if errors.Is(err, ErrInterrupt) {
			sh.split.reset()
			sh.entry = nil
			continue
		}
		if errors.Is(err, io.EOF) {
			return sh.finish(ctx)
		}
		if err != nil {
			fmt.Fprintf(o.Err, "error: reading input: %v\n", err)
			return 1
		}
		if err := sh.handle(ctx, line); err != nil {
			if errors.Is(err, errExit) {
				return sh.finish(ctx)
			}
			fmt.Fprintf(o.Err, "error: %s\n", describe(err))
			sh.failures++
			if !o.Interactive {
				if sh.s.inTx() {
					_ = sh.s.abort(context.WithoutCancel(ctx))
					fmt.Fprintln(o.Err, "transaction aborted")
				}
				return 1
			}
		}
	}
}

// finish ends input. An open transaction is aborted; from a pipe, that and
// an unfinished statement are errors (as PostgreSQL's psql treats the end
// of a script), while a person leaving the shell gets status 0.
func (sh *shell) finish(ctx context.Context) int {
	if sh.Interactive {
		if sh.s.inTx() {
			_ = sh.s.abort(context.WithoutCancel(ctx))
			fmt.Fprintln(sh.Err, "the open transaction was aborted")
		}
		return 0
	}
	status := 0
	if sh.split.pending() {
		fmt.Fprintln(sh.Err, "error: input ended inside a statement (missing ';'); it was not run")
		status = 1
	}
	if sh.s.inTx() {
		_ = sh.s.abort(context.WithoutCancel(ctx))
		fmt.Fprintln(sh.Err, "error: input ended inside a transaction; it was aborted")
		status = 1
	}
	if sh.failures > 0 {
		status = 1
	}
	return status
}

func (sh *shell) prompt() string {
	if !sh.Interactive {
		return ""
	}
	p := sh.Ledger
	if sh.s.inTx() {
		p += " *"
	}
	p += "> "
	if sh.split.pending() {
		return strings.Repeat(" ", max(len(p)-4, 0)) + "... "
	}
	return p
}

// handle processes one input line: a shell command when no statement is
// being typed, otherwise PartiQL text.
func (sh *shell) handle(ctx context.Context, line string) error {
	if !sh.split.pending() {
		cmd := strings.TrimSpace(line)
		cmd = strings.TrimSpace(strings.TrimSuffix(cmd, ";"))
		if ok, err := sh.command(ctx, cmd); ok {
			if cmd != "" && sh.History != nil {
				sh.History.Add(strings.TrimSpace(line))
			}
			return err
		}
	}
	stmts := sh.split.feed(line)
	// History holds the statement on one line: a -- comment would swallow
	// what follows it there, so it is left out.
	kept := line
	if at := sh.split.commentAt; at >= 0 {
		kept = line[:at]
	}
	if t := strings.TrimSpace(kept); t != "" {
		sh.entry = append(sh.entry, t)
	}
	if len(stmts) > 0 && !sh.split.pending() && sh.History != nil && len(sh.entry) > 0 {
		sh.History.Add(strings.Join(sh.entry, " "))
		sh.entry = nil
	}
	for _, st := range stmts {
		if err := sh.statement(ctx, st); err != nil {
			sh.split.reset() // what followed a failed statement is not run
			sh.entry = nil
			return err
		}
	}
	return nil
}

// command runs a shell command; ok is false when cmd is not one.
func (sh *shell) command(ctx context.Context, cmd string) (ok bool, err error) {
	lower := strings.ToLower(strings.Join(strings.Fields(cmd), " "))
	switch {
	case lower == "":
		return true, nil
	case lower == "help" || lower == `\h` || lower == `\?`:
		fmt.Fprint(sh.Out, helpText)
		return true, nil
	case lower == "exit" || lower == "quit" || lower == `\q`:
		return true, errExit
	case lower == "start transaction" || lower == "begin" || lower == "begin transaction":
		if sh.s.inTx() {
			return true, errors.New("a transaction is already open: commit or abort it first")
		}
		return true, sh.s.begin(ctx)
	case lower == "commit":
		if !sh.s.inTx() {
			return true, errors.New("no transaction is open (auto-commit commits each statement)")
		}
		start := time.Now()
		var u usage
		if err := sh.s.commit(ctx, &u); err != nil {
			return true, fmt.Errorf("commit failed, the transaction is gone: %w", err)
		}
		fmt.Fprintf(sh.Err, "committed (%s)\n", u.summary(time.Since(start)))
		return true, nil
	case lower == "abort" || lower == "rollback":
		if !sh.s.inTx() {
			return true, errors.New("no transaction is open")
		}
		if err := sh.s.abort(ctx); err != nil {
			return true, err
		}
		fmt.Fprintln(sh.Err, "aborted")
		return true, nil
	case lower == `\format`:
		fmt.Fprintf(sh.Out, "format: %s\n", sh.Format)
		return true, nil
	case strings.HasPrefix(lower, `\format `):
		f := strings.TrimSpace(strings.TrimPrefix(lower, `\format `))
		if f != "ion" && f != "table" {
			return true, fmt.Errorf(`\format takes ion or table, not %q`, f)
		}
		sh.Format = f
		return true, nil
	case lower == `\history`:
		if sh.History == nil {
			return true, nil
		}
		for i, e := range sh.History.Entries() {
			fmt.Fprintf(sh.Out, "%5d  %s\n", i+1, e)
		}
		return true, nil
	case strings.HasPrefix(lower, `\`):
		return true, fmt.Errorf("unknown command %s ('help' lists them)", cmd)
	}
	return false, nil
}

const helpText = `PartiQL statements end with ';' and may span lines.
Commands (case-insensitive, ';' optional):
  start transaction | begin   open an explicit transaction (prompt shows '*')
  commit                      commit it
  abort                       abort it
  \format ion|table           how results are shown (Ion, pretty-printed, or a table)
  \history                    list the statements entered (kept in the history file)
  help | \h                   this text
  exit | quit | \q            leave (an open transaction is aborted)
Outside an explicit transaction every statement runs in a transaction of its
own (auto-commit), tried up to 3 times on an OCC conflict or a lost session. After each
statement: the number of documents, read and write I/Os, server time and
total time. On a terminal, Up/Down recall earlier entries, Ctrl-C drops the
line being typed or cancels a running statement, Ctrl-D on an empty line leaves.
`

// statement runs one PartiQL statement and prints its result and summary.
func (sh *shell) statement(ctx context.Context, stmt string) error {
	if sh.Interactive {
		var stop context.CancelFunc
		ctx, stop = signal.NotifyContext(ctx, os.Interrupt)
		defer stop()
	}
	start := time.Now()
	var u usage
	var rows []*ionvalue.Value
	var err error
	if sh.s.inTx() {
		rows, err = sh.s.execute(ctx, stmt, &u)
		if err != nil && !sh.s.inTx() {
			err = fmt.Errorf("%w (the transaction is gone)", err)
		}
	} else {
		for attempt := 1; ; attempt++ {
			u = usage{}
			rows, err = sh.autoCommit(ctx, stmt, &u)
			if err == nil || !retryable(err) || attempt == 3 || ctx.Err() != nil {
				break
			}
		}
	}
	if err != nil {
		return err
	}
	sh.print(rows)
	fmt.Fprintf(sh.Err, "%d document%s in bag (%s)\n", len(rows), plural(len(rows)), u.summary(time.Since(start)))
	return nil
}

func (sh *shell) autoCommit(ctx context.Context, stmt string, u *usage) ([]*ionvalue.Value, error) {
	if err := sh.s.begin(ctx); err != nil {
		return nil, err
	}
	rows, err := sh.s.execute(ctx, stmt, u)
	if err != nil {
		_ = sh.s.abort(context.WithoutCancel(ctx))
		return nil, err
	}
	if err := sh.s.commit(ctx, u); err != nil {
		return nil, err
	}
	return rows, nil
}

func (u usage) summary(total time.Duration) string {
	return fmt.Sprintf("read-ios: %d, write-ios: %d, server-time: %dms, total-time: %dms",
		u.readIOs, u.writeIOs, u.serverMillis, total.Milliseconds())
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func (sh *shell) print(rows []*ionvalue.Value) {
	if sh.Format == "table" {
		writeTable(sh.Out, rows)
		return
	}
	for _, r := range rows {
		fmt.Fprintln(sh.Out, ionvalue.MarshalPretty(r, "  "))
	}
}
