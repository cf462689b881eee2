package partiql

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/strand-db/strand/internal/ionvalue"
)

// The files under testdata/ hold parser and evaluator cases as data. Each
// file runs against one fresh memTx, top to bottom, so later cases see what
// earlier ones wrote. A case is a directive line, input lines, a line
// "----", and the expected output, ending at a blank line:
//
//	parse                 input: one statement (it may span lines)
//	                      output: its Dump, or error: <code> <message part>
//	exec                  input: one statement, then one "? <Ion text>" line
//	                      per parameter
//	                      output: the result rows as Ion text, one a line,
//	                      then "written: N" when N > 0 documents were written,
//	                      or error: <code> <message part>
//	seed <table>          input: Ion documents, one a line, inserted into the
//	                      table (created when absent); output: nothing
//
// Lines starting with "#" between cases are comments. An error matches when
// the code is equal and the message contains the given part.

// ddCase is one case read from a data file.
type ddCase struct {
	pos       string // file:line of the directive
	directive string
	args      []string
	input     []string
	want      []string
}

func readCases(t *testing.T, path string) []ddCase {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var (
		cases []ddCase
		cur   *ddCase
		inOut bool
		line  int
	)
	name := filepath.ToSlash(path)
	for sc.Scan() {
		line++
		text := sc.Text()
		switch {
		case cur == nil:
			if strings.TrimSpace(text) == "" || strings.HasPrefix(text, "#") {
				continue
			}
			fields := strings.Fields(text)
			cases = append(cases, ddCase{pos: fmt.Sprintf("%s:%d", name, line), directive: fields[0], args: fields[1:]})
			cur, inOut = &cases[len(cases)-1], false
		case !inOut && text == "----":
			inOut = true
		case !inOut:
			cur.input = append(cur.input, text)
		case text == "":
			cur = nil
		default:
			cur.want = append(cur.want, text)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if cur != nil && !inOut {
		t.Fatalf("%s: case has no ---- line", cur.pos)
	}
	return cases
}

// TestDataDriven runs every file under testdata/ with the .partiql suffix.
func TestDataDriven(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.partiql"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no testdata/*.partiql files")
	}
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			tx := newMemTx()
			for _, c := range readCases(t, path) {
				got := runCase(t, tx, c)
				if !outputMatches(got, c.want) {
					t.Errorf("%s: %s\n%s\n got:\n%s\n want:\n%s", c.pos, c.directive,
						strings.Join(c.input, "\n"), strings.Join(got, "\n"), strings.Join(c.want, "\n"))
				}
			}
		})
	}
}

func runCase(t *testing.T, tx *memTx, c ddCase) []string {
	switch c.directive {
	case "parse":
		st, err := Parse(strings.Join(c.input, "\n"))
		if err != nil {
			return errorLines(err)
		}
		return []string{Dump(st)}
	case "exec":
		var stmt []string
		params := []*ionvalue.Value{}
		for _, l := range c.input {
			if p, ok := strings.CutPrefix(l, "? "); ok {
				v, err := ionvalue.DecodeOne([]byte(p))
				if err != nil {
					t.Fatalf("%s: bad parameter %q: %v", c.pos, p, err)
				}
				params = append(params, v)
				continue
			}
			stmt = append(stmt, l)
		}
		res, err := tryExec(tx, strings.Join(stmt, "\n"), params...)
		if err != nil {
			return errorLines(err)
		}
		var out []string
		for _, r := range res.Rows {
			out = append(out, ionvalue.MarshalText(r))
		}
		if res.DocumentsWritten > 0 {
			out = append(out, fmt.Sprintf("written: %d", res.DocumentsWritten))
		}
		return out
	case "seed":
		if len(c.args) != 1 {
			t.Fatalf("%s: seed takes one table name", c.pos)
		}
		if _, ok := tx.Table(c.args[0]); !ok {
			if _, err := tryExec(tx, "CREATE TABLE "+c.args[0]); err != nil {
				t.Fatalf("%s: %v", c.pos, err)
			}
		}
		for _, d := range c.input {
			v, err := ionvalue.DecodeOne([]byte(d))
			if err != nil {
				t.Fatalf("%s: bad document %q: %v", c.pos, d, err)
			}
			if _, err := tryExec(tx, "INSERT INTO "+c.args[0]+" ?", v); err != nil {
				t.Fatalf("%s: %v", c.pos, err)
			}
		}
		return nil
	}
	t.Fatalf("%s: unknown directive %q", c.pos, c.directive)
	return nil
}

func errorLines(err error) []string {
	var pe *Error
	if errors.As(err, &pe) {
		return []string{"error: " + pe.Code + " " + pe.Message}
	}
	return []string{"error: " + err.Error()}
}

// outputMatches compares output lines; an expected error line matches an
// error with the same code whose message contains the expected part.
func outputMatches(got, want []string) bool {
	if len(want) == 1 && strings.HasPrefix(want[0], "error: ") {
		if len(got) != 1 {
			return false
		}
		code, part, _ := strings.Cut(strings.TrimPrefix(want[0], "error: "), " ")
		gotCode, gotMsg, _ := strings.Cut(strings.TrimPrefix(got[0], "error: "), " ")
		return strings.HasPrefix(got[0], "error: ") && gotCode == code && strings.Contains(gotMsg, part)
	}
	return strings.Join(got, "\n") == strings.Join(want, "\n")
}
