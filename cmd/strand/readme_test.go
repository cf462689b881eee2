package main

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/strand-db/strand/internal/server/servertest"
)

// readmeBlock is a fenced code block of README.md and its info string.
type readmeBlock struct {
	info string
	text string
}

// readmeBlocks returns README.md's fenced code blocks.
func readmeBlocks(t *testing.T, readme []byte) []readmeBlock {
	t.Helper()
	var blocks []readmeBlock
	var cur *readmeBlock
	sc := bufio.NewScanner(bytes.NewReader(readme))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case cur == nil && strings.HasPrefix(line, "```"):
			cur = &readmeBlock{info: strings.TrimSpace(strings.TrimPrefix(line, "```"))}
		case cur != nil && line == "```":
			blocks = append(blocks, *cur)
			cur = nil
		case cur != nil:
			cur.text += line + "\n"
		}
	}
	if cur != nil {
		t.Fatalf("README.md: unterminated code block %q", cur.info)
	}
	return blocks
}

// freePort returns a TCP port that was free on 127.0.0.1 a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// TestReadmeQuickStart runs README.md's quick start as a newcomer would
// paste it into one terminal: every block whose info string is "sh test",
// in order, in one bash from the repository's root, with the "sh server"
// block started in the background (and waited for) where it stands. The
// documented ports 8410 and 4567 are replaced by free ones, the data
// directory is a temporary one (STRAND_DATA_DIR, and STRAND_LISTEN for the
// port) and go install writes
// into a temporary GOPATH, so nothing of the repository or the machine is
// touched. It also checks that README.md points at nothing outside the
// repository. It skips under STRAND_TEST_STORE=postgres (the quick start
// uses the embedded store, and the ordinary pass runs it). It needs Debian's /usr/bin/aws and /usr/bin/python3 with
// boto3, which scripts/test.sh installs, and skips without them.
func TestReadmeQuickStart(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	if m := regexp.MustCompile(`\]\(\.\./|\.\./shared|/work/`).Find(readme); m != nil {
		t.Errorf("README.md points outside the repository: %q", m)
	}
	if servertest.OnPostgres() {
		t.Skip("the quick start runs the embedded store; it runs in the ordinary pass")
	}
	if _, err := os.Stat("/usr/bin/aws"); err != nil {
		t.Skip("needs Debian's awscli (/usr/bin/aws); scripts/test.sh installs it")
	}
	if err := exec.Command("/usr/bin/python3", "-c", "import boto3").Run(); err != nil {
		t.Skip("needs Debian's python3-boto3; scripts/test.sh installs it")
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	strandPort, kinesisPort := freePort(t), freePort(t)
	subst := strings.NewReplacer("127.0.0.1:8410", fmt.Sprintf("127.0.0.1:%d", strandPort),
		"127.0.0.1:4567", fmt.Sprintf("127.0.0.1:%d", kinesisPort),
		"kinesis-emulator.sh 4567", fmt.Sprintf("kinesis-emulator.sh %d", kinesisPort))
	tmp := t.TempDir()
	var script strings.Builder
	script.WriteString("set -euo pipefail\n")
	tested, servers := 0, 0
	for _, b := range readmeBlocks(t, readme) {
		text := subst.Replace(b.text)
		switch b.info {
		case "sh test":
			tested++
			fmt.Fprintf(&script, "echo \"--- README block %d at ${SECONDS}s\"\n%s", tested, text)
		case "sh server":
			servers++
			fmt.Fprintf(&script, "echo '--- README server block'\n( %s ) >%q 2>&1 &\n", strings.TrimSpace(text), filepath.Join(tmp, "server.log"))
			fmt.Fprintf(&script, "for i in $(seq 1 300); do (: </dev/tcp/127.0.0.1/%d) 2>/dev/null && break; sleep 0.1; done\n", strandPort)
			fmt.Fprintf(&script, "strand health --endpoint http://127.0.0.1:%d --ready\n", strandPort)
		}
	}
	if tested < 5 || servers != 1 {
		t.Fatalf("README.md has %d 'sh test' blocks and %d 'sh server' blocks; want at least 5 and exactly 1", tested, servers)
	}

	gomodcache, err := exec.Command("go", "env", "GOMODCACHE").Output()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("bash", "-c", script.String())
	cmd.Dir = root
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_") && !strings.HasPrefix(kv, "STRAND_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "GOPATH="+filepath.Join(tmp, "gopath"), "GOMODCACHE="+strings.TrimSpace(string(gomodcache)),
		"TMPDIR="+tmp, "STRAND_DATA_DIR="+filepath.Join(tmp, "strand-data"), fmt.Sprintf("STRAND_LISTEN=127.0.0.1:%d", strandPort),
		"AWS_EC2_METADATA_DISABLED=true", "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// The emulator and the server run on in the background: end the
	// whole process group.
	pgid := cmd.Process.Pid
	t.Cleanup(func() {
		_ = syscall.Kill(-pgid, syscall.SIGTERM)
		time.Sleep(300 * time.Millisecond)
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
	})
	err = cmd.Wait()
	serverLog, _ := os.ReadFile(filepath.Join(tmp, "server.log"))
	if err != nil {
		t.Fatalf("the README's quick start failed: %v\n%s\nserver output:\n%s", err, out.String(), serverLog)
	}
	if testing.Verbose() {
		t.Logf("the quick start's output:\n%s", out.String())
	}
	for _, want := range []string{"/usr/bin/aws knows QLDB", "/usr/bin/python3: boto3 knows QLDB", "strand (devel)",
		"listening at http://127.0.0.1:", `"Name": "vehicle-registration"`, `"StreamId":`, "['vehicle-registration']", "session API answered"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the quick start's output lacks %q:\n%s", want, out.String())
		}
	}
	if !strings.Contains(string(serverLog), "kinesis: endpoint http://127.0.0.1:") {
		t.Errorf("the server's summary lacks the Kinesis endpoint:\n%s", serverLog)
	}
}
