package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/qldb"

	"github.com/strand-db/strand/internal/server/plainbody"
)

// target is the server under measurement.
type target struct {
	url  string
	pid  int
	cmd  *exec.Cmd // nil when the server is not ours
	opts *Options
	// started is when the child process was started, ready when it
	// printed its address.
	started, ready time.Time
}

// startServer starts `strand serve` on dataDir as a child process with the
// benchmark credentials, env added to its environment and extra flags, or
// returns o.Endpoint when set.
func startServer(ctx context.Context, o *Options, dataDir string, env []string, extra ...string) (*target, error) {
	if o.Endpoint != "" {
		return &target{url: strings.TrimRight(o.Endpoint, "/"), pid: o.PID, opts: o}, nil
	}
	exe := o.Exe
	if exe == "" {
		var err error
		if exe, err = os.Executable(); err != nil {
			return nil, fmt.Errorf("bench: %w", err)
		}
	}
	args := append([]string{"serve", "--listen", "127.0.0.1:0", "--data-dir", dataDir, "--region", o.Region}, extra...)
	cmd := exec.Command(exe, args...)
	cmd.Env = append(append(os.Environ(), "STRAND_ACCESS_KEY_ID="+o.AccessKey, "STRAND_SECRET_ACCESS_KEY="+o.Secret), env...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	var logTail tail
	cmd.Stderr = &logTail
	t := &target{cmd: cmd, opts: o, started: time.Now()}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("bench: start server: %w", err)
	}
	t.pid = cmd.Process.Pid
	urlc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if u, ok := strings.CutPrefix(sc.Text(), "strand listening on "); ok {
				urlc <- strings.TrimSpace(u)
			}
		}
		close(urlc)
	}()
	select {
	case u, ok := <-urlc:
		if !ok {
			_ = cmd.Wait()
			return nil, fmt.Errorf("bench: the server exited before listening: %s", logTail.String())
		}
		t.url, t.ready = u, time.Now()
	case <-time.After(5 * time.Minute):
		t.stop()
		return nil, errors.New("bench: the server did not start listening within 5 minutes")
	case <-ctx.Done():
		t.stop()
		return nil, ctx.Err()
	}
	return t, nil
}

// stop ends a child server with SIGTERM (SIGKILL after 30 s) and waits.
func (t *target) stop() {
	if t.cmd == nil || t.cmd.Process == nil {
		return
	}
	_ = t.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = t.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = t.cmd.Process.Kill()
		<-done
	}
	t.cmd = nil
}

// cpuFunc returns the server's CPU-time reader, or nil without a PID.
func (t *target) cpuFunc() func() (time.Duration, error) {
	if t.pid <= 0 {
		return nil
	}
	return func() (time.Duration, error) { return processCPU(t.pid) }
}

// clockTick is USER_HZ, the unit of /proc/PID/stat's times: 100 on every
// Linux architecture Go supports.
const clockTick = 100

// processCPU reads utime+stime of pid from /proc/PID/stat.
func processCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("bench: %w", err)
	}
	// The command name (field 2) may hold spaces: count from its ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, errors.New("bench: malformed /proc stat")
	}
	f := strings.Fields(s[i+1:])
	// After ')': state is field 3, so utime (14) and stime (15) are at 11, 12.
	if len(f) < 13 {
		return 0, errors.New("bench: short /proc stat")
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, errors.New("bench: malformed /proc stat times")
	}
	return time.Duration(u+st) * time.Second / clockTick, nil
}

// processRSS returns the current and peak resident set of pid in bytes
// (VmRSS and VmHWM of /proc/PID/status).
func processRSS(pid int) (cur, peak int64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, fmt.Errorf("bench: %w", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) == 0 {
			continue
		}
		n, _ := strconv.ParseInt(f[0], 10, 64)
		switch k {
		case "VmRSS":
			cur = n << 10
		case "VmHWM":
			peak = n << 10
		}
	}
	return cur, peak, nil
}

// awsConfig is an SDK configuration for the target: static benchmark
// credentials, no retries, a connection pool of conc connections.
func (t *target) awsConfig(conc int) aws.Config {
	hc := awshttp.NewBuildableClient().WithTransportOptions(func(tr *http.Transport) {
		tr.MaxIdleConns = 4 * conc
		tr.MaxIdleConnsPerHost = 4 * conc
	})
	return aws.Config{
		Region:      t.opts.Region,
		Credentials: credentials.NewStaticCredentialsProvider(t.opts.AccessKey, t.opts.Secret, ""),
		Retryer:     func() aws.Retryer { return aws.NopRetryer{} },
		HTTPClient:  plainbody.Wrap(hc),
	}
}

// qldb returns a control-plane client of the target.
func (t *target) qldb() *qldb.Client {
	return qldb.NewFromConfig(t.awsConfig(4), func(o *qldb.Options) { o.BaseEndpoint = aws.String(t.url) })
}

// createLedger creates an ALLOW_ALL ledger without deletion protection and
// waits until it is ACTIVE.
func (t *target) createLedger(ctx context.Context, name string) error {
	c := t.qldb()
	_, err := c.CreateLedger(ctx, &qldb.CreateLedgerInput{Name: aws.String(name), PermissionsMode: "ALLOW_ALL", DeletionProtection: aws.Bool(false)})
	if err != nil && !strings.Contains(err.Error(), "ResourceAlreadyExists") {
		return fmt.Errorf("bench: create ledger %s: %w", name, err)
	}
	for i := 0; i < 600; i++ {
		out, err := c.DescribeLedger(ctx, &qldb.DescribeLedgerInput{Name: aws.String(name)})
		if err != nil {
			return fmt.Errorf("bench: describe ledger %s: %w", name, err)
		}
		if out.State == "ACTIVE" {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("bench: ledger %s did not become ACTIVE", name)
}

// tail keeps the last 4 KB written to it (a child's stderr, for errors).
type tail struct {
	b []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if len(t.b) > 4096 {
		t.b = t.b[len(t.b)-4096:]
	}
	return len(p), nil
}

func (t *tail) String() string { return string(t.b) }

var _ io.Writer = (*tail)(nil)

// maxRSS returns the peak resident set of an exited child in bytes.
func maxRSS(ps *os.ProcessState) (int64, bool) {
	ru, ok := ps.SysUsage().(*syscall.Rusage)
	if !ok || ru == nil {
		return 0, false
	}
	return ru.Maxrss << 10, true // kilobytes on Linux
}
