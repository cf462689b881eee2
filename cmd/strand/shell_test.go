package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/strand-db/strand/internal/server/servertest"
)

// shellEnv is the environment of a `strand shell` under test: no AWS_*
// variable or file of the developer's, static credentials from the
// environment (the default chain's first link), and home in a temporary
// directory (for the history file).
func shellEnv(home string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_") && !strings.HasPrefix(kv, "HOME=") {
			env = append(env, kv)
		}
	}
	return append(env, "HOME="+home, "AWS_ACCESS_KEY_ID="+servertest.AccessKeyID,
		"AWS_SECRET_ACCESS_KEY="+servertest.SecretAccessKey, "AWS_REGION=us-east-1",
		"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_EC2_METADATA_DISABLED=true")
}

// ptyShell is a `strand shell` running on a pseudo-terminal.
type ptyShell struct {
	t    *testing.T
	cmd  *exec.Cmd
	tty  *os.File
	mu   sync.Mutex
	out  bytes.Buffer
	mark int // expect looks at output after this offset
	done chan error
}

func startPtyShell(t *testing.T, bin, home string, args ...string) *ptyShell {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"shell"}, args...)...)
	cmd.Env = shellEnv(home)
	tty, err := pty.Start(cmd)
	if err != nil {
		t.Fatal(err)
	}
	p := &ptyShell{t: t, cmd: cmd, tty: tty, done: make(chan error, 1)}
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := tty.Read(buf)
			p.mu.Lock()
			p.out.Write(buf[:n])
			p.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	go func() { p.done <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill(); tty.Close() })
	return p
}

// expect waits until the output since the last expect holds want, and
// moves past it.
func (p *ptyShell) expect(want string) {
	p.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		p.mu.Lock()
		s := p.out.String()
		p.mu.Unlock()
		if i := strings.Index(s[p.mark:], want); i >= 0 {
			p.mark += i + len(want)
			return
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("shell output has no %q after offset %d:\n%s", want, p.mark, s)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (p *ptyShell) send(keys string) {
	p.t.Helper()
	if _, err := p.tty.Write([]byte(keys)); err != nil {
		p.t.Fatal(err)
	}
}

func (p *ptyShell) wait() error {
	p.t.Helper()
	select {
	case err := <-p.done:
		return err
	case <-time.After(20 * time.Second):
		p.t.Fatal("shell did not exit")
		return nil
	}
}

// TestShellTerminalSession drives `strand shell` through a pseudo-terminal
// as a person would: create, a two-line insert, an explicit transaction
// that is aborted, a select in Ion and table form, history listed, exit;
// then a second shell recalls the first one's statements with Up.
func TestShellTerminalSession(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the shell edits lines itself on Linux only")
	}
	node := servertest.Start(t, nil)
	node.CreateLedger("shelltest")
	bin := buildStrand(t)
	home := t.TempDir()

	p := startPtyShell(t, bin, home, "--ledger", "shelltest", "--endpoint", node.URL())
	p.expect("shelltest> ")
	p.send("CREATE TABLE people;\r")
	p.expect("1 document in bag (read-ios: ")
	p.expect("shelltest> ")
	p.send("INSERT INTO people\r")
	p.expect("... ") // the statement goes on
	p.send("  VALUE {'name': 'Ann', 'age': 31};\r")
	p.expect("1 document in bag")
	p.send("start transaction\r")
	p.expect("shelltest *> ")
	p.send("INSERT INTO people VALUE {'name': 'Bob'};\r")
	p.expect("1 document in bag")
	p.send("abort\r")
	p.expect("aborted")
	p.expect("shelltest> ")
	p.send("SELECT name, age FROM people;\r")
	p.expect("{\r\n  name: \"Ann\",\r\n  age: 31\r\n}")
	p.expect("1 document in bag")
	p.send("\\format table\r")
	p.send("\x1b[A\x1b[A\r") // Up twice: the SELECT again
	p.expect("name  | age")
	p.expect("\"Ann\" | 31")
	p.send("\\history\r")
	p.expect("INSERT INTO people VALUE {'name': 'Ann', 'age': 31};")
	p.send("SELECT COUNT(*) AS n FROM people WHERE name = 'Bob';\r")
	p.expect("-\r\n0\r\n") // the aborted insert left nothing
	p.send("exit\r")
	if err := p.wait(); err != nil {
		t.Fatalf("exit status: %v", err)
	}

	hist, err := os.ReadFile(filepath.Join(home, ".strand_shell_history"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(hist), "\nINSERT INTO people VALUE {'name': 'Ann', 'age': 31};\n") {
		t.Fatalf("history file:\n%s", hist)
	}

	// A new shell recalls the saved history: Up 3 times passes exit and
	// the COUNT and reaches \history; 4 times reaches the table SELECT.
	p2 := startPtyShell(t, bin, home, "--ledger", "shelltest", "--endpoint", node.URL(), "--format", "table")
	p2.expect("shelltest> ")
	// A narrow terminal: recalled lines wrap, and are drawn again across
	// rows (what is sent is the same).
	if err := pty.Setsize(p2.tty, &pty.Winsize{Rows: 24, Cols: 20}); err != nil {
		t.Fatal(err)
	}
	p2.send("\r") // the next line is read at the new width
	p2.expect("shelltest> ")
	p2.send("\x1b[A\x1b[A\x1b[A\x1b[A")
	p2.expect("\x1b[J") // drawn as a wrapping line
	p2.send("\r")
	p2.expect("\"Ann\" | 31")
	p2.send("\x04") // Ctrl-D on an empty line leaves
	if err := p2.wait(); err != nil {
		t.Fatalf("exit status after Ctrl-D: %v", err)
	}
}

// TestShellPipe runs scripts through `strand shell` from a pipe: a good one
// exits 0 with its results on stdout; one with a failing statement exits 1
// and runs nothing after it; one that ends inside a transaction exits 1
// and commits nothing.
func TestShellPipe(t *testing.T) {
	node := servertest.Start(t, nil)
	node.CreateLedger("pipes")
	bin := buildStrand(t)
	home := t.TempDir()
	run := func(script string) (stdout, stderr string, code int) {
		t.Helper()
		cmd := exec.Command(bin, "shell", "--ledger", "pipes", "--endpoint", node.URL())
		cmd.Env = shellEnv(home)
		cmd.Stdin = strings.NewReader(script)
		var o, e bytes.Buffer
		cmd.Stdout, cmd.Stderr = &o, &e
		err := cmd.Run()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return o.String(), e.String(), code
	}

	out, errOut, code := run("CREATE TABLE t;\nINSERT INTO t VALUE {'k': 1, 's': 'a;b', 'i': `{x: \"`;\"}`};\n" +
		"start transaction\nINSERT INTO t VALUE {'k': 2};\nINSERT INTO t VALUE {'k': 3};\ncommit\n" +
		"SELECT VALUE k FROM t\n  -- a comment; with a semicolon\n  WHERE k = 3;\n")
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	if !strings.HasSuffix(out, "}\n3\n") {
		t.Fatalf("stdout:\n%s", out)
	}
	if !strings.Contains(errOut, "committed (") || !strings.Contains(errOut, "1 document in bag") {
		t.Fatalf("stderr:\n%s", errOut)
	}

	_, errOut, code = run("INSERT INTO t VALUE {'k': 4};\nSELECT * FROM nosuch;\nINSERT INTO t VALUE {'k': 5};\n")
	if code != 1 || !strings.Contains(errOut, "error: BadRequestException") {
		t.Fatalf("failing script: exit %d, stderr:\n%s", code, errOut)
	}
	_, errOut, code = run("begin\nINSERT INTO t VALUE {'k': 6};\n")
	if code != 1 || !strings.Contains(errOut, "inside a transaction; it was aborted") {
		t.Fatalf("unfinished transaction: exit %d, stderr:\n%s", code, errOut)
	}
	_, errOut, code = run("SELECT VALUE k FROM t WHERE k = 1\n")
	if code != 1 || !strings.Contains(errOut, "missing ';'") {
		t.Fatalf("unfinished statement: exit %d, stderr:\n%s", code, errOut)
	}

	out, _, code = run("SELECT VALUE k FROM t;\n")
	ks := strings.Fields(out)
	sort.Strings(ks)
	if code != 0 || strings.Join(ks, ",") != "1,2,3,4" {
		t.Fatalf("k 4 committed, k 5 and 6 not: exit %d, stdout:\n%s", code, out)
	}
	if _, err := os.Stat(filepath.Join(home, ".strand_shell_history")); !os.IsNotExist(err) {
		t.Errorf("a piped shell wrote history (%v)", err)
	}
}
