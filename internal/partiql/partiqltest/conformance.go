// Package partiqltest reads the PartiQL conformance table, the data files
// under internal/partiql/testdata/conformance, for the tests that run it:
// in-process against the evaluator (internal/partiql) and through the
// official QLDB Go driver against a real node (internal/e2e).
//
// A file is a sequence of blocks separated by blank lines; lines starting
// with "#" are comments.
//
//	seed Table            creates Table (if needed) and inserts the Ion
//	{...}                 documents that follow, one a line
//
//	> statement           one statement (continued on lines that start
//	| more statement      with "| ", joined by newlines), then what it gives:
//	value                 the result rows as Ion text, one a line, in any
//	value                 order (QLDB results are bags); no lines: no rows
//
//	> statement
//	error CODE part       a statement error with that code whose message
//	                      contains part
//
// Blocks run in file order, each file against a fresh ledger. Expected
// values are written from QLDB's documentation, never copied from output.
package partiqltest

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/strand-db/strand/internal/ionvalue"
)

// Case is one block of a conformance file.
type Case struct {
	// Pos is file:line of the block's first line, for failure messages.
	Pos string
	// Seed names the table of a seed block (Docs holds its documents);
	// empty for a statement.
	Seed string
	Docs []*ionvalue.Value
	// Stmt is the statement; Want the expected rows in canonical Ion text,
	// sorted; or ErrCode and ErrPart the expected statement error.
	Stmt    string
	Want    []string
	ErrCode string
	ErrPart string
}

// Files lists the conformance files in dir (sorted).
func Files(dir string) ([]string, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.partiql"))
	if err != nil {
		return nil, fmt.Errorf("partiqltest: %w", err)
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("partiqltest: no *.partiql files in %s", dir)
	}
	slices.Sort(files)
	return files, nil
}

// Read parses one conformance file.
func Read(path string) ([]Case, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("partiqltest: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var (
		cases []Case
		cur   *Case
		line  int
	)
	name := filepath.Base(path)
	fail := func(format string, args ...any) error {
		return fmt.Errorf("partiqltest: %s:%d: %s", name, line, fmt.Sprintf(format, args...))
	}
	for sc.Scan() {
		line++
		text := sc.Text()
		switch {
		case strings.TrimSpace(text) == "":
			cur = nil
		case strings.HasPrefix(text, "#"):
		case cur == nil:
			pos := fmt.Sprintf("%s:%d", name, line)
			switch {
			case strings.HasPrefix(text, "> "):
				cases = append(cases, Case{Pos: pos, Stmt: strings.TrimPrefix(text, "> ")})
			case strings.HasPrefix(text, "seed "):
				cases = append(cases, Case{Pos: pos, Seed: strings.TrimSpace(strings.TrimPrefix(text, "seed "))})
			default:
				return nil, fail("expected '> statement' or 'seed Table', found %q", text)
			}
			cur = &cases[len(cases)-1]
		case cur.Seed == "" && strings.HasPrefix(text, "| ") && len(cur.Want) == 0 && cur.ErrCode == "":
			cur.Stmt += "\n" + strings.TrimPrefix(text, "| ")
		case cur.Seed != "":
			v, err := ionvalue.DecodeOne([]byte(text))
			if err != nil {
				return nil, fail("bad document %q: %v", text, err)
			}
			cur.Docs = append(cur.Docs, v)
		case strings.HasPrefix(text, "error "):
			if len(cur.Want) > 0 || cur.ErrCode != "" {
				return nil, fail("an error line must be the only expectation")
			}
			cur.ErrCode, cur.ErrPart, _ = strings.Cut(strings.TrimPrefix(text, "error "), " ")
		default:
			if cur.ErrCode != "" {
				return nil, fail("an error line must be the only expectation")
			}
			v, err := ionvalue.DecodeOne([]byte(text))
			if err != nil {
				return nil, fail("bad expected value %q: %v", text, err)
			}
			cur.Want = append(cur.Want, ionvalue.MarshalText(v))
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("partiqltest: %s: %w", name, err)
	}
	for i := range cases {
		slices.Sort(cases[i].Want)
	}
	return cases, nil
}

// Check compares what a statement gave with what c expects and returns ""
// when they agree, a description of the difference otherwise. For a
// statement error, code and msg are its Code and Message; err is any
// other error.
func Check(c Case, rows []*ionvalue.Value, code, msg string, err error) string {
	switch {
	case err != nil:
		return fmt.Sprintf("%s: %s\n got error %v", c.Pos, c.Stmt, err)
	case c.ErrCode != "":
		if code == c.ErrCode && strings.Contains(msg, c.ErrPart) {
			return ""
		}
		if code == "" {
			return fmt.Sprintf("%s: %s\n got rows %v\n want error %s %q", c.Pos, c.Stmt, texts(rows), c.ErrCode, c.ErrPart)
		}
		return fmt.Sprintf("%s: %s\n got error %s %q\n want error %s %q", c.Pos, c.Stmt, code, msg, c.ErrCode, c.ErrPart)
	case code != "":
		return fmt.Sprintf("%s: %s\n got error %s %q\n want %v", c.Pos, c.Stmt, code, msg, c.Want)
	}
	got := texts(rows)
	if !slices.Equal(got, c.Want) {
		return fmt.Sprintf("%s: %s\n got  %v\n want %v", c.Pos, c.Stmt, got, c.Want)
	}
	return ""
}

// texts renders rows as sorted canonical Ion text.
func texts(rows []*ionvalue.Value) []string {
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = ionvalue.MarshalText(r)
	}
	slices.Sort(out)
	return out
}
