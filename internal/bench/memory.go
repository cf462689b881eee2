package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/qldb"
	"github.com/aws/aws-sdk-go-v2/service/qldb/types"
)

// memoryStreams is the number of journal streams the memory scenario runs.
const memoryStreams = 5

// emulator is a Kinesis emulator: one we started (kinesalite from
// tools/kinesis) or the --kinesis-endpoint given.
type emulator struct {
	url string
	cmd *exec.Cmd
}

// findTools returns tools/kinesis of the source tree above the working
// directory, where scripts/test.sh installs kinesalite.
func findTools() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		p := filepath.Join(dir, "tools", "kinesis")
		if _, err := os.Stat(filepath.Join(p, "node_modules", "kinesalite")); err == nil {
			return p, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("bench: no tools/kinesis/node_modules/kinesalite above the working directory (run scripts/test.sh once, or give --kinesis-endpoint)")
		}
		dir = parent
	}
}

// startEmulator starts kinesalite on a free loopback port with the named
// streams (one shard each), or uses o.KinesisEndpoint.
func startEmulator(o *Options, streams []string) (*emulator, error) {
	if o.KinesisEndpoint != "" {
		return &emulator{url: o.KinesisEndpoint}, nil
	}
	tools, err := findTools()
	if err != nil {
		return nil, err
	}
	var spec []string
	for _, s := range streams {
		spec = append(spec, s+":1")
	}
	cmd := exec.Command("node", filepath.Join(tools, "serve.js"), "0")
	cmd.Env = append(os.Environ(), "INITIALIZE_STREAMS="+strings.Join(spec, ","), "AWS_ACCOUNT_ID=000000000000", "AWS_REGION="+o.Region)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("bench: start kinesalite: %w", err)
	}
	e := &emulator{cmd: cmd}
	sc := bufio.NewScanner(out)
	urlc := make(chan string, 1)
	go func() {
		for sc.Scan() {
			if u, ok := strings.CutPrefix(sc.Text(), "Listening at "); ok {
				urlc <- strings.TrimSpace(u)
			}
		}
		close(urlc)
	}()
	select {
	case u, ok := <-urlc:
		if !ok {
			e.stop()
			return nil, errors.New("bench: kinesalite exited during start-up")
		}
		e.url = u
	case <-time.After(60 * time.Second):
		e.stop()
		return nil, errors.New("bench: kinesalite did not start within 60 s")
	}
	return e, nil
}

// stop ends an emulator we started (its whole process group).
func (e *emulator) stop() {
	if e.cmd == nil || e.cmd.Process == nil {
		return
	}
	_ = syscall.Kill(-e.cmd.Process.Pid, syscall.SIGKILL)
	_ = e.cmd.Wait()
	e.cmd = nil
}

func streamARN(region, name string) string {
	return "arn:aws:kinesis:" + region + ":000000000000:stream/" + name
}

// kinesisEnv is the environment the child server needs to reach the
// emulator (which checks no signature).
var kinesisEnv = []string{"AWS_ACCESS_KEY_ID=AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY=secret", "AWS_EC2_METADATA_DISABLED=true",
	"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null"}

// Memory runs the memory scenario: a ledger with o.Documents documents
// (o.DocsPerTx per transaction, filled by a server that is then stopped),
// the time a restarted server takes to listen with that journal, then 5
// journal streams from the ledger's start to a Kinesis emulator (streams
// left by an earlier run on a reused --dir are canceled first); it reports
// the restarted server's peak resident memory (VmHWM) while the streams
// catch up, for o.Duration.
func Memory(ctx context.Context, o Options) (*Report, error) {
	o.defaults()
	if o.Documents <= 0 {
		o.Documents = int64(o.Blocks)
	}
	if o.DocsPerTx == 0 {
		o.DocsPerTx = DefaultMemoryDocsPerTx
	}
	rep := &Report{Scenario: "memory", Started: timeNow(), Machine: machine(), Options: o.public()}
	if o.Endpoint != "" {
		rep.Notes = append(rep.Notes, "memory: needs a child server (it restarts it); not run with --endpoint")
		printRatios(o.Out, rep)
		return rep, nil
	}
	var names []string
	for i := 0; i < memoryStreams; i++ {
		names = append(names, fmt.Sprintf("journal%d", i))
	}
	emu, err := startEmulator(&o, names)
	if err != nil {
		rep.Notes = append(rep.Notes, "memory: no Kinesis emulator: "+err.Error())
		printRatios(o.Out, rep)
		return rep, err
	}
	defer emu.stop()
	dir, cleanup, err := workDir(&o)
	if err != nil {
		return nil, err
	}
	defer cleanup()
	dataDir := filepath.Join(dir, "memory")
	tab := &table{w: o.Out}

	// Fill (or top up) the ledger, then stop the server: the peak measured
	// below is the streaming server's alone.
	t, err := startServer(ctx, &o, dataDir, kinesisEnv, "--kinesis-endpoint", emu.url)
	if err != nil {
		return rep, err
	}
	defer func() {
		if t != nil {
			t.stop()
		}
	}()
	const ledgerName = "bench"
	if err := t.createLedger(ctx, ledgerName); err != nil {
		return rep, err
	}
	if err := cancelStreams(ctx, t, ledgerName); err != nil {
		return rep, err
	}
	fillStart := time.Now()
	docs, err := fillDocuments(ctx, &o, t, ledgerName, o.Documents, o.DocsPerTx, dataDir+".fill.json")
	if err != nil {
		return rep, err
	}
	tip, err := tipSequence(ctx, t, ledgerName)
	if err != nil {
		return rep, err
	}
	_, fillPeak, err := processRSS(t.pid)
	if err != nil {
		return rep, err
	}
	frow := Row{Name: "fill (peak RSS)", Ops: docs, Unit: "MiB", Seconds: time.Since(fillStart).Seconds(),
		Extra: map[string]float64{"peak_rss_mib": float64(fillPeak) / (1 << 20), "documents": float64(docs), "blocks": float64(tip + 1)}}
	tab.row(frow)
	rep.Rows = append(rep.Rows, frow)
	t.stop()

	if t, err = startServer(ctx, &o, dataDir, kinesisEnv, "--kinesis-endpoint", emu.url); err != nil {
		return rep, err
	}
	up := t.ready.Sub(t.started)
	_, upPeak, _ := processRSS(t.pid)
	srow := Row{Name: "start-up to listening", Ops: int64(tip + 1), Unit: "s", Seconds: up.Seconds(),
		Extra: map[string]float64{"startup_ms": float64(up.Microseconds()) / 1000, "blocks": float64(tip + 1),
			"peak_rss_mib": float64(upPeak) / (1 << 20)}}
	tab.row(srow)
	rep.Rows = append(rep.Rows, srow)

	c := t.qldb()
	created, err := ledgerCreated(ctx, t, ledgerName)
	if err != nil {
		return rep, err
	}
	for _, n := range names {
		if _, err := c.StreamJournalToKinesis(ctx, &qldb.StreamJournalToKinesisInput{
			LedgerName: aws.String(ledgerName), RoleArn: aws.String("arn:aws:iam::000000000000:role/strand-bench"), StreamName: aws.String(n),
			InclusiveStartTime:   aws.Time(created),
			KinesisConfiguration: &types.KinesisConfiguration{StreamArn: aws.String(streamARN(o.Region, n)), AggregationEnabled: aws.Bool(true)},
		}); err != nil {
			return rep, fmt.Errorf("bench: start stream %s: %w", n, err)
		}
	}
	start := time.Now()
	var peak int64
	for time.Since(start) < o.Duration && ctx.Err() == nil {
		time.Sleep(200 * time.Millisecond)
		cur, hwm, err := processRSS(t.pid)
		if err != nil {
			return rep, err
		}
		peak = max(peak, hwm, cur)
		if time.Since(start)%(5*time.Second) < 200*time.Millisecond {
			fmt.Fprintf(o.Progress, "bench: memory: %d documents, %d blocks, %d streams: %4.0fs/%.0fs resident %.1f MiB, peak %.1f MiB\n",
				docs, tip+1, memoryStreams, time.Since(start).Seconds(), o.Duration.Seconds(), float64(cur)/(1<<20), float64(peak)/(1<<20))
		}
	}
	row := Row{Name: "peak RSS, 5 streams", Ops: docs, Unit: "MiB", Seconds: time.Since(start).Seconds(),
		Extra: map[string]float64{"peak_rss_mib": float64(peak) / (1 << 20), "documents": float64(docs), "blocks": float64(tip + 1)}}
	tab.row(row)
	rep.Rows = append(rep.Rows, row)
	printRatios(o.Out, rep)
	return rep, nil
}

// ledgerCreated returns a time just before the ledger's creation (from
// DescribeLedger), so that a stream from it starts at the first block.
func ledgerCreated(ctx context.Context, t *target, ledgerName string) (time.Time, error) {
	out, err := t.qldb().DescribeLedger(ctx, &qldb.DescribeLedgerInput{Name: aws.String(ledgerName)})
	if err != nil {
		return time.Time{}, fmt.Errorf("bench: describe ledger: %w", err)
	}
	return aws.ToTime(out.CreationDateTime).Add(-time.Minute), nil
}

// cancelStreams cancels the ledger's active journal streams (left by an
// earlier run on a reused data directory).
func cancelStreams(ctx context.Context, t *target, ledgerName string) error {
	c := t.qldb()
	p := qldb.NewListJournalKinesisStreamsForLedgerPaginator(c, &qldb.ListJournalKinesisStreamsForLedgerInput{LedgerName: aws.String(ledgerName)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("bench: list streams: %w", err)
		}
		for _, s := range page.Streams {
			if s.Status != types.StreamStatusActive && s.Status != types.StreamStatusImpaired {
				continue
			}
			if _, err := c.CancelJournalKinesisStream(ctx, &qldb.CancelJournalKinesisStreamInput{LedgerName: aws.String(ledgerName), StreamId: s.StreamId}); err != nil {
				return fmt.Errorf("bench: cancel stream %s: %w", aws.ToString(s.StreamId), err)
			}
		}
	}
	return nil
}
