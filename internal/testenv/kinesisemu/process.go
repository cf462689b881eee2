package kinesisemu

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"sync"
	"time"
)

// tailSize is how much of an emulator's output is kept for diagnostics.
const tailSize = 64 << 10

// tailBuffer is a goroutine-safe io.Writer that keeps the last tailSize
// bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
}

// Write implements io.Writer.
func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if over := len(b.buf) - tailSize; over > 0 {
		b.buf = append(b.buf[:0], b.buf[over:]...)
	}
	return len(p), nil
}

// String returns the kept output.
func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}

// process is a running node process in its own process group.
type process struct {
	cmd     *exec.Cmd
	out     *tailBuffer
	done    chan struct{} // closed when the process has exited
	waitErr error         // set before done is closed
	once    sync.Once
}

// startProcess runs node with args in dir, with exactly the environment env.
func startProcess(args, env []string, dir string) (*process, error) {
	node, err := exec.LookPath("node")
	if err != nil {
		return nil, fmt.Errorf("node not found on PATH (Node.js is needed for the Kinesis emulators): %w", err)
	}
	p := &process{out: &tailBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(node, args...)
	p.cmd.Env = env
	p.cmd.Dir = dir
	p.cmd.Stdout = p.out
	p.cmd.Stderr = p.out
	setProcAttr(p.cmd)
	if err := p.cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		p.waitErr = p.cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// exited returns an errExited error that carries the exit status and output.
func (p *process) exited() error {
	return fmt.Errorf("%w (%v); output:\n%s", errExited, p.waitErr, p.out.String())
}

var listeningRE = regexp.MustCompile(`Listening at http://127\.0\.0\.1:(\d+)`)

// waitKinesaliteReady waits for serve.js's readiness line and returns the
// port it reports.
func (p *process) waitKinesaliteReady(timeout time.Duration) (int, error) {
	deadline := time.Now().Add(timeout)
	for {
		if m := listeningRE.FindStringSubmatch(p.out.String()); m != nil {
			return strconv.Atoi(m[1])
		}
		select {
		case <-p.done:
			return 0, p.exited()
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("not ready after %v; output:\n%s", timeout, p.out.String())
		}
	}
}

// waitHTTPReady polls url until it answers 200 OK.
func (p *process) waitHTTPReady(url string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		resp, err := healthClient.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-p.done:
			return p.exited()
		case <-time.After(25 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after %v (last error: %v); output:\n%s", url, timeout, err, p.out.String())
		}
	}
}

// stop asks the process group to terminate and kills it if it has not
// exited within grace; it reports whether it had to kill. It waits for the
// process to be reaped. Signals go to the group only while its leader has
// not been reaped, so that a recycled process ID is never signalled.
func (p *process) stop(grace time.Duration) (killed bool) {
	p.once.Do(func() {
		select {
		case <-p.done:
			return
		default:
		}
		terminate(p.cmd.Process)
		select {
		case <-p.done:
			return
		case <-time.After(grace):
		}
		killed = true
		kill(p.cmd.Process)
		<-p.done
	})
	return killed
}

// childEnv returns a minimal environment for an emulator: no AWS_* or
// emulator variables leak in from the test's environment.
func childEnv(extra ...string) []string {
	env := []string{}
	for _, k := range []string{"PATH", "HOME", "TMPDIR", "LANG", "TZ"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return append(env, extra...)
}

// freePorts returns n distinct free TCP ports on 127.0.0.1. Another process
// may take them before they are used; callers retry on failure.
func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	ports := make([]int, 0, n)
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		addr, ok := l.Addr().(*net.TCPAddr)
		if !ok {
			return nil, errors.New("listener has no TCP address")
		}
		ports = append(ports, addr.Port)
	}
	return ports, nil
}
