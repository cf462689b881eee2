package main

import (
	"bufio"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestMain removes the binary buildStrand compiled, once every test ran.
func TestMain(m *testing.M) {
	code := m.Run()
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
	os.Exit(code)
}

// built is the strand binary compiled once for the package's tests.
var built struct {
	once sync.Once
	dir  string
	bin  string
	err  error
	out  []byte
}

// buildStrand returns the binary under test, compiled on first use (one
// link per test run instead of one per test: on a loaded 2-core machine a
// link takes up to a minute).
func buildStrand(t *testing.T) string {
	t.Helper()
	built.once.Do(func() {
		built.dir, built.err = os.MkdirTemp("", "strand-bin-")
		if built.err != nil {
			return
		}
		built.bin = filepath.Join(built.dir, "strand")
		built.out, built.err = exec.Command("go", "build", "-o", built.bin, ".").CombinedOutput()
	})
	if built.err != nil {
		t.Fatalf("go build: %v\n%s", built.err, built.out)
	}
	return built.bin
}

// startStrand runs `strand serve` and returns it with its first output line.
func startStrand(t *testing.T, bin string, env []string, args ...string) (*exec.Cmd, *bufio.Scanner) {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"serve"}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	sc := bufio.NewScanner(stdout)
	return cmd, sc
}

func TestServeBannerLockAndSignal(t *testing.T) {
	bin := buildStrand(t)
	dir := t.TempDir()
	// Flags may come from STRAND_* variables.
	cmd, out := startStrand(t, bin, []string{"STRAND_DATA_DIR=" + dir}, "--listen", "127.0.0.1:0")
	var banner []string
	for len(banner) < 4 && out.Scan() {
		banner = append(banner, out.Text())
	}
	text := strings.Join(banner, "\n")
	if !strings.Contains(text, "listening on http://127.0.0.1:") || !strings.Contains(text, "data directory: "+dir) || !strings.Contains(text, "authentication: none") ||
		!strings.Contains(text, "authorization: none") {
		t.Fatalf("banner:\n%s", text)
	}
	url := strings.TrimPrefix(strings.Fields(banner[0])[3], "")

	// A second server on the same data directory fails at once.
	second := exec.Command(bin, "serve", "--listen", "127.0.0.1:0", "--data-dir", dir)
	msg, err := second.CombinedOutput()
	if err == nil || !strings.Contains(string(msg), "in use by another strand process") {
		t.Fatalf("second server: err=%v output=%s", err, msg)
	}

	// Listening beyond loopback without credentials is refused with a reason.
	third := exec.Command(bin, "serve", "--listen", "0.0.0.0:0", "--data-dir", t.TempDir())
	msg, err = third.CombinedOutput()
	if err == nil || !strings.Contains(string(msg), "without credentials") {
		t.Fatalf("non-loopback without credentials: err=%v output=%s", err, msg)
	}

	resp, err := http.Get(url + "/ledgers")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 403 {
		t.Errorf("unsigned request: %d", resp.StatusCode)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no exit after SIGTERM")
	}
	// The lock is released: the directory opens again.
	cmd2, out2 := startStrand(t, bin, nil, "--listen", "127.0.0.1:0", "--data-dir", dir)
	if !out2.Scan() || !strings.Contains(out2.Text(), "listening on") {
		t.Fatalf("restart on the same directory failed")
	}
	_ = cmd2.Process.Signal(syscall.SIGINT)
}
