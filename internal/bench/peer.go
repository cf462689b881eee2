package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/strand-db/strand/internal/ionvalue"
)

// The peer scenario compares Strand with immudb v1.10.0, a verifiable
// ledger database in Go, on the same machine in the same run: Strand's lean
// client at 32 concurrent transactions against immudb's own Go client at
// 30 (immudb's per-database limit of concurrent writers), each transaction
// one synced write of a document-sized value.
//
// immudb is built from its module (fetched by the go command into
// PeerDir/mod) inside its own module tree, so its go.mod, including its
// replace directives, applies as written. The load generator is a small
// program built in the same tree against immudb's client package, so no
// immudb code enters Strand's build.

const (
	peerModule  = "github.com/codenotary/immudb"
	peerVersion = "v1.10.0"
	peerConc    = 30
	strandConc  = 32
)

// peerLoad is the load generator, built inside immudb's module tree. It
// prints a progress line every second and one JSON result line.
const peerLoad = `package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/codenotary/immudb/pkg/client"
)

func main() {
	port := flag.Int("port", 3322, "")
	conc := flag.Int("conc", 30, "")
	dur := flag.Duration("duration", 10*time.Second, "")
	flag.Parse()
	ctx := context.Background()
	value := []byte("{'k': 123456, 'v': 'some payload of a typical size'}")
	var ops, seq atomic.Int64
	var mu sync.Mutex
	var lat []time.Duration
	var firstErr atomic.Value
	clients := make([]client.ImmuClient, *conc)
	for i := range clients {
		c := client.NewClient().WithOptions(client.DefaultOptions().WithAddress("127.0.0.1").WithPort(*port).WithDir(os.TempDir()))
		if err := c.OpenSession(ctx, []byte("immudb"), []byte("immudb"), "defaultdb"); err != nil {
			fmt.Fprintln(os.Stderr, "open session:", err)
			os.Exit(1)
		}
		defer c.CloseSession(ctx)
		clients[i] = c
	}
	start := time.Now()
	deadline := start.Add(*dur)
	var wg sync.WaitGroup
	for _, c := range clients {
		c := c // the module is go 1.17: one loop variable for all iterations
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			for time.Now().Before(deadline) {
				key := []byte(fmt.Sprintf("doc/%012d", seq.Add(1)))
				t0 := time.Now()
				if _, err := c.Set(ctx, key, value); err != nil {
					firstErr.CompareAndSwap(nil, err.Error())
					break
				}
				mine = append(mine, time.Since(t0))
				ops.Add(1)
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		}()
	}
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				fmt.Fprintf(os.Stderr, "progress %d %.3f\n", ops.Load(), time.Since(start).Seconds())
			}
		}
	}()
	wg.Wait()
	close(done)
	el := time.Since(start).Seconds()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	pct := func(p float64) float64 {
		if len(lat) == 0 {
			return 0
		}
		i := int(p * float64(len(lat)))
		if i >= len(lat) {
			i = len(lat) - 1
		}
		return float64(lat[i].Nanoseconds()) / 1e6
	}
	e, _ := firstErr.Load().(string)
	json.NewEncoder(os.Stdout).Encode(map[string]interface{}{"ops": ops.Load(), "seconds": el, "p50_ms": pct(0.5), "p99_ms": pct(0.99), "p999_ms": pct(0.999), "error": e})
}
`

// peerDir returns the cache directory of the peer build.
func peerDir(o *Options) (string, error) {
	if o.PeerDir != "" {
		return o.PeerDir, nil
	}
	d, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("bench: %w", err)
	}
	return filepath.Join(d, "strand-bench", "immudb-"+peerVersion), nil
}

// buildPeer fetches and builds immudb and the load generator into dir
// (once; later runs reuse them) and returns the two binaries.
func buildPeer(ctx context.Context, o *Options, dir string) (server, load string, err error) {
	server, load = filepath.Join(dir, "immudb"), filepath.Join(dir, "strandbenchload")
	if _, err1 := os.Stat(server); err1 == nil {
		if _, err2 := os.Stat(load); err2 == nil {
			return server, load, nil
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", "", fmt.Errorf("bench: %w", err)
	}
	env := append(os.Environ(), "GOMODCACHE="+filepath.Join(dir, "mod"), "GOFLAGS=-mod=mod")
	run := func(wd string, args ...string) ([]byte, error) {
		fmt.Fprintf(o.Progress, "bench: peer: %s (in %s)\n", strings.Join(args, " "), wd)
		cmd := exec.CommandContext(ctx, "go", args...)
		cmd.Dir, cmd.Env = wd, env
		var stderr tail
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			return nil, fmt.Errorf("bench: peer: go %s: %w: %s", strings.Join(args, " "), err, stderr.String())
		}
		return out, nil
	}
	src := filepath.Join(dir, "src")
	if _, err := os.Stat(filepath.Join(src, "go.mod")); err != nil {
		out, err := run(dir, "mod", "download", "-json", peerModule+"@"+peerVersion)
		if err != nil {
			return "", "", err
		}
		var dl struct{ Dir, Error string }
		if err := json.Unmarshal(out, &dl); err != nil || dl.Dir == "" {
			return "", "", fmt.Errorf("bench: peer: download %s@%s: %s", peerModule, peerVersion, dl.Error)
		}
		if out, err := exec.CommandContext(ctx, "cp", "-r", dl.Dir, src).CombinedOutput(); err != nil {
			return "", "", fmt.Errorf("bench: peer: copy the module: %w: %s", err, out)
		}
		if out, err := exec.CommandContext(ctx, "chmod", "-R", "u+w", src).CombinedOutput(); err != nil {
			return "", "", fmt.Errorf("bench: peer: %w: %s", err, out)
		}
	}
	if _, err := os.Stat(server); err != nil {
		if _, err := run(src, "build", "-o", server, "./cmd/immudb"); err != nil {
			return "", "", err
		}
	}
	gen := filepath.Join(src, "cmd", "strandbenchload")
	if err := os.MkdirAll(gen, 0o755); err != nil {
		return "", "", fmt.Errorf("bench: %w", err)
	}
	if err := os.WriteFile(filepath.Join(gen, "main.go"), []byte(peerLoad), 0o644); err != nil {
		return "", "", fmt.Errorf("bench: %w", err)
	}
	if _, err := run(src, "build", "-o", load, "./cmd/strandbenchload"); err != nil {
		return "", "", err
	}
	return server, load, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Peer runs the peer scenario (see the comment at the top of peer.go).
func Peer(ctx context.Context, o Options) (*Report, error) {
	o.defaults()
	rep := &Report{Scenario: "peer", Started: timeNow(), Machine: machine(), Options: o.public(), Ratios: map[string]float64{}}
	pdir, err := peerDir(&o)
	if err != nil {
		return rep, err
	}
	immudb, load, err := buildPeer(ctx, &o, pdir)
	if err != nil {
		rep.Notes = append(rep.Notes, "peer: immudb "+peerVersion+" could not be built here, so it was not measured: "+err.Error())
		printRatios(o.Out, rep)
		return rep, nil
	}
	dir, cleanup, err := workDir(&o)
	if err != nil {
		return rep, err
	}
	defer cleanup()
	tab := &table{w: o.Out}

	// Strand first, with the lean client.
	t, err := startServer(ctx, &o, filepath.Join(dir, "peer-strand"), nil)
	if err != nil {
		return rep, err
	}
	defer func() { t.stop() }()
	if err := t.createLedger(ctx, "bench"); err != nil {
		return rep, err
	}
	lc, err := newLeanClient(t, strandConc)
	if err != nil {
		return rep, err
	}
	if err := (&leanSession{c: lc, ledger: "bench"}).exec(ctx, "CREATE TABLE T"); err != nil {
		return rep, err
	}
	var key atomic.Int64
	strand, err := point{name: "strand lean client", unit: "tx", conc: strandConc, d: o.Duration, cpu: t.cpuFunc(),
		newWorker: func(int) (worker, error) {
			s := &leanSession{c: lc, ledger: "bench"}
			return func(ctx context.Context) error {
				return s.exec(ctx, insertStmt, ionvalue.Int(key.Add(1)))
			}, nil
		}}.run(ctx, o.Progress)
	if err != nil {
		return rep, err
	}
	tab.row(strand)
	rep.Rows = append(rep.Rows, strand)
	t.stop()

	// Then immudb, synced, with its Go client.
	row, err := runPeer(ctx, &o, immudb, load, filepath.Join(dir, "peer-immudb"))
	if err != nil {
		rep.Notes = append(rep.Notes, "peer: immudb run failed: "+err.Error())
		printRatios(o.Out, rep)
		return rep, err
	}
	tab.row(row)
	rep.Rows = append(rep.Rows, row)
	if row.PerSecond > 0 {
		rep.Ratios["strand_lean_conc32_over_immudb_conc30"] = strand.PerSecond / row.PerSecond
	}
	if row.ServerCPUus > 0 {
		rep.Ratios["strand_cpu_per_tx_over_immudb"] = strand.ServerCPUus / row.ServerCPUus
	}
	printRatios(o.Out, rep)
	return rep, nil
}

// runPeer starts immudb on a fresh data directory and runs the load
// generator against it for o.Duration.
func runPeer(ctx context.Context, o *Options, immudb, load, data string) (Row, error) {
	port, err := freePort()
	if err != nil {
		return Row{}, err
	}
	srv := exec.Command(immudb, "--dir", data, "--address", "127.0.0.1", "--port", strconv.Itoa(port), "--synced=true",
		"--pgsql-server=false", "--metrics-server=false", "--web-server=false")
	srv.Dir = filepath.Dir(data)
	srv.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var srvLog tail
	srv.Stdout, srv.Stderr = &srvLog, &srvLog
	if err := os.MkdirAll(filepath.Dir(data), 0o755); err != nil {
		return Row{}, err
	}
	if err := srv.Start(); err != nil {
		return Row{}, fmt.Errorf("bench: start immudb: %w", err)
	}
	defer func() {
		_ = syscall.Kill(-srv.Process.Pid, syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = srv.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = syscall.Kill(-srv.Process.Pid, syscall.SIGKILL)
			<-done
		}
	}()
	for i := 0; ; i++ {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
		if err == nil {
			c.Close()
			break
		}
		if i > 600 {
			return Row{}, fmt.Errorf("bench: immudb did not listen: %s", srvLog.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	cpu0, _ := processCPU(srv.Process.Pid)
	gen := exec.CommandContext(ctx, load, "--port", strconv.Itoa(port), "--conc", strconv.Itoa(peerConc), "--duration", o.Duration.String())
	stderr, err := gen.StderrPipe()
	if err != nil {
		return Row{}, err
	}
	var out strings.Builder
	gen.Stdout = &out
	if err := gen.Start(); err != nil {
		return Row{}, fmt.Errorf("bench: start the immudb load generator: %w", err)
	}
	var genErr tail
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 3 && f[0] == "progress" {
			n, _ := strconv.ParseInt(f[1], 10, 64)
			s, _ := strconv.ParseFloat(f[2], 64)
			fmt.Fprintf(o.Progress, "bench: immudb Go client conc=%d: %4.0fs/%.0fs %d tx, %.0f tx/s\n", peerConc, s, o.Duration.Seconds(), n, float64(n)/s)
		} else {
			genErr.Write([]byte(sc.Text() + "\n"))
		}
	}
	if err := gen.Wait(); err != nil {
		return Row{}, fmt.Errorf("bench: immudb load generator: %w: %s", err, genErr.String())
	}
	cpu1, _ := processCPU(srv.Process.Pid)
	var res struct {
		Ops                  int64
		Seconds              float64
		P50ms, P99ms, P999ms float64
		Error                string
	}
	dec := json.NewDecoder(strings.NewReader(out.String()))
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return Row{}, fmt.Errorf("bench: immudb load generator output %q: %w", out.String(), err)
	}
	num := func(k string) float64 { f, _ := m[k].(float64); return f }
	res.Ops, res.Seconds = int64(num("ops")), num("seconds")
	res.P50ms, res.P99ms, res.P999ms = num("p50_ms"), num("p99_ms"), num("p999_ms")
	res.Error, _ = m["error"].(string)
	if res.Error != "" && res.Ops == 0 {
		return Row{}, errors.New("bench: immudb: " + res.Error)
	}
	row := Row{Name: "immudb " + peerVersion + " Go client", Concurrency: peerConc, Ops: res.Ops, Seconds: res.Seconds, Unit: "tx",
		P50ms: res.P50ms, P99ms: res.P99ms, P999ms: res.P999ms}
	if res.Seconds > 0 {
		row.PerSecond = float64(res.Ops) / res.Seconds
	}
	if res.Ops > 0 && cpu1 > cpu0 {
		row.ServerCPUus = float64((cpu1 - cpu0).Microseconds()) / float64(res.Ops)
	}
	return row, nil
}
