package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/qldb"
	"github.com/aws/aws-sdk-go-v2/service/qldb/types"
	"github.com/awslabs/amazon-qldb-driver-go/v3/qldbdriver"

	"github.com/strand-db/strand/internal/testenv/kinesisemu"
)

// soakSample is one reading of the server process during the soak.
type soakSample struct {
	at         time.Duration
	rssKiB     int64
	fds        int
	goroutines int
	commits    int64
	p99        time.Duration
}

// procRSS reads a process's resident set size in KiB.
func procRSS(pid int) int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			n, _ := strconv.ParseInt(strings.Fields(rest)[0], 10, 64)
			return n
		}
	}
	return -1
}

// procFDs counts a process's open file descriptors.
func procFDs(pid int) int {
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return -1
	}
	return len(ents)
}

// metricValue reads one unlabelled gauge from a Prometheus text endpoint.
func metricValue(url, name string) int {
	resp, err := http.Get(url)
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			v, _ := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			return int(v)
		}
	}
	return -1
}

// TestSoak runs `strand serve` at a steady commit rate with two journal
// streams delivering, and samples the process: resident memory, open file
// descriptors, goroutines and the commit p99 of each interval. At the end
// the last third of the samples must not have grown past the first third
// by more than the allowances below (a leak grows without bound; a steady
// state does not), and every commit must have succeeded. CI runs 40 s;
// the long form, STRAND_LONG=1, runs 30 minutes (STRAND_SOAK_DURATION
// overrides) and logs one `soak:` line per sample:
//
//	STRAND_LONG=1 GO_TEST_FLAGS='-run TestSoak -v -timeout 60m' scripts/test.sh ./cmd/strand
func TestSoak(t *testing.T) {
	duration, every, rate := 40*time.Second, 5*time.Second, 40
	if os.Getenv("STRAND_LONG") == "1" {
		duration, every, rate = 30*time.Minute, 30*time.Second, 100
	}
	if d, err := time.ParseDuration(os.Getenv("STRAND_SOAK_DURATION")); err == nil && d > 0 {
		duration = d
	}
	bin := buildStrand(t)
	emu := kinesisemu.StartKinesalite(t, kinesisemu.Stream("soak-a", 2), kinesisemu.Stream("soak-b", 1))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	metricsAddr := ln.Addr().String()
	ln.Close()
	p := startServe(t, bin, t.TempDir(), emu.Endpoint, "--metrics-listen", metricsAddr)
	metricsURL := "http://" + metricsAddr + "/metrics"
	ctx := context.Background()
	qc, sc := p.clients()
	if _, err := qc.CreateLedger(ctx, &qldb.CreateLedgerInput{Name: aws.String("soak"), PermissionsMode: types.PermissionsModeAllowAll}); err != nil {
		t.Fatal(err)
	}
	drv, err := qldbdriver.New("soak", sc, func(o *qldbdriver.DriverOptions) {
		o.LoggerVerbosity = qldbdriver.LogOff
		o.MaxConcurrentTransactions = 8
	})
	if err != nil {
		t.Fatal(err)
	}
	defer drv.Shutdown(ctx)
	exec := func(stmt string, args ...any) error {
		_, err := drv.Execute(ctx, func(tx qldbdriver.Transaction) (any, error) { return tx.Execute(stmt, args...) })
		return err
	}
	if err := exec("CREATE TABLE T"); err != nil {
		t.Fatal(err)
	}
	// Updates find their document through the index, so they read (and
	// conflict on) that document only, not the whole table.
	if err := exec("CREATE INDEX ON T (k)"); err != nil {
		t.Fatal(err)
	}
	for i, s := range []string{"soak-a", "soak-b"} {
		if _, err := qc.StreamJournalToKinesis(ctx, &qldb.StreamJournalToKinesisInput{LedgerName: aws.String("soak"),
			RoleArn: aws.String("arn:aws:iam::000000000000:role/r"), StreamName: aws.String(s), InclusiveStartTime: aws.Time(time.Now().Add(-time.Hour)),
			KinesisConfiguration: &types.KinesisConfiguration{StreamArn: aws.String(emu.StreamARN(s)), AggregationEnabled: aws.Bool(i == 0)}}); err != nil {
			t.Fatal(err)
		}
	}

	// Steady load: rate commits per second from 8 workers, each an insert
	// and, every tenth, an update of an earlier document.
	var commits, failures atomic.Int64
	var latMu sync.Mutex
	var lat []time.Duration
	stop := make(chan struct{})
	var wg sync.WaitGroup
	tick := time.NewTicker(time.Second / time.Duration(rate))
	defer tick.Stop()
	work := make(chan int64)
	go func() {
		defer close(work)
		for n := int64(0); ; n++ {
			select {
			case <-stop:
				return
			case <-tick.C:
				select {
				case work <- n:
				case <-stop:
					return
				}
			}
		}
	}()
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := range work {
				t0 := time.Now()
				var err error
				if n%10 == 9 {
					err = exec("UPDATE T SET v = v + 1 WHERE k = ?", n-9)
				} else {
					err = exec("INSERT INTO T VALUE {'k': ?, 'v': 0, 'pad': 'a payload of a typical size for a document'}", n)
				}
				if err != nil {
					failures.Add(1)
					t.Errorf("commit %d: %v", n, err)
					continue
				}
				commits.Add(1)
				latMu.Lock()
				lat = append(lat, time.Since(t0))
				latMu.Unlock()
			}
		}()
	}

	var samples []soakSample
	start := time.Now()
	for time.Since(start) < duration {
		time.Sleep(every)
		latMu.Lock()
		window := lat
		lat = nil
		latMu.Unlock()
		slices.Sort(window)
		p99 := time.Duration(0)
		if len(window) > 0 {
			p99 = window[min(len(window)-1, len(window)*99/100)]
		}
		s := soakSample{at: time.Since(start).Round(time.Second), rssKiB: procRSS(p.cmd.Process.Pid), fds: procFDs(p.cmd.Process.Pid),
			goroutines: metricValue(metricsURL, "go_goroutines"), commits: commits.Load(), p99: p99}
		samples = append(samples, s)
		t.Logf("soak: t=%v rss_kib=%d fds=%d goroutines=%d commits=%d p99=%v", s.at, s.rssKiB, s.fds, s.goroutines, s.commits, s.p99.Round(time.Millisecond))
	}
	close(stop)
	wg.Wait()
	if failures.Load() > 0 {
		t.Fatalf("%d commits failed", failures.Load())
	}
	if len(samples) < 6 {
		t.Fatalf("only %d samples", len(samples))
	}
	third := len(samples) / 3
	early, late := samples[:third], samples[len(samples)-third:]
	maxOf := func(ss []soakSample, f func(soakSample) int64) int64 {
		m := int64(0)
		for _, s := range ss {
			m = max(m, f(s))
		}
		return m
	}
	rssE, rssL := maxOf(early, func(s soakSample) int64 { return s.rssKiB }), maxOf(late, func(s soakSample) int64 { return s.rssKiB })
	fdE, fdL := maxOf(early, func(s soakSample) int64 { return int64(s.fds) }), maxOf(late, func(s soakSample) int64 { return int64(s.fds) })
	grE, grL := maxOf(early, func(s soakSample) int64 { return int64(s.goroutines) }), maxOf(late, func(s soakSample) int64 { return int64(s.goroutines) })
	t.Logf("soak: duration=%v commits=%d rate=%.0f/s rss_kib early=%d late=%d fds early=%d late=%d goroutines early=%d late=%d",
		duration, commits.Load(), float64(commits.Load())/duration.Seconds(), rssE, rssL, fdE, fdL, grE, grL)
	// Allowances: Pebble's memtables and caches and Go's heap settle after
	// a while (memory may grow by half again, plus 64 MiB), table files
	// come and go with compactions (fds), and the driver's pool opens
	// connections on demand (goroutines).
	if rssL > rssE*3/2+64<<10 {
		t.Errorf("resident memory grew from %d KiB to %d KiB", rssE, rssL)
	}
	if fdL > fdE+32 {
		t.Errorf("open file descriptors grew from %d to %d", fdE, fdL)
	}
	if grL > grE+64 {
		t.Errorf("goroutines grew from %d to %d", grE, grL)
	}
}
