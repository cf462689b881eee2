package bench

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/qldb"
	"github.com/aws/aws-sdk-go-v2/service/qldb/types"

	inproc "github.com/strand-db/strand/internal/bench/fill"
	"github.com/strand-db/strand/internal/ionvalue"
)

// fillConcurrency is how many lean sessions fill a journal.
const fillConcurrency = 32

// fill commits single-document INSERTs with the lean client until the
// ledger's journal holds at least blocks blocks, printing progress.
func fill(ctx context.Context, o *Options, t *target, ledgerName string, blocks int) error {
	lc, err := newLeanClient(t, fillConcurrency)
	if err != nil {
		return err
	}
	setup := &leanSession{c: lc, ledger: ledgerName}
	if err := setup.exec(ctx, "CREATE TABLE T"); err != nil && !strings.Contains(err.Error(), "already exists") {
		return fmt.Errorf("bench: create table: %w", err)
	}
	have, err := tipSequence(ctx, t, ledgerName)
	if err != nil {
		return err
	}
	todo := int64(blocks) - int64(have) - 1
	if todo <= 0 {
		return nil
	}
	var next, done atomic.Int64
	errc := make(chan error, fillConcurrency)
	start := time.Now()
	stopProgress := make(chan struct{})
	go func() {
		tk := time.NewTicker(2 * time.Second)
		defer tk.Stop()
		for {
			select {
			case <-stopProgress:
				return
			case <-tk.C:
				fmt.Fprintf(o.Progress, "bench: filling %s: %d/%d transactions, %.0f tx/s\n", ledgerName, done.Load(), todo, float64(done.Load())/time.Since(start).Seconds())
			}
		}
	}()
	defer close(stopProgress)
	for w := 0; w < fillConcurrency; w++ {
		go func() {
			s := &leanSession{c: lc, ledger: ledgerName}
			for {
				i := next.Add(1)
				if i > todo {
					errc <- nil
					return
				}
				if err := s.exec(ctx, insertStmt, ionvalue.Int(i)); err != nil {
					errc <- err
					return
				}
				done.Add(1)
			}
		}()
	}
	var first error
	for w := 0; w < fillConcurrency; w++ {
		if err := <-errc; err != nil && first == nil {
			first = err
			next.Store(todo) // stop the others
		}
	}
	if first != nil {
		return fmt.Errorf("bench: fill: %w", first)
	}
	return nil
}

// tipSequence returns the sequence number of the ledger's last block.
func tipSequence(ctx context.Context, t *target, ledgerName string) (uint64, error) {
	d, err := t.qldb().GetDigest(ctx, &qldb.GetDigestInput{Name: aws.String(ledgerName)})
	if err != nil {
		return 0, fmt.Errorf("bench: get digest: %w", err)
	}
	v, err := ionvalue.DecodeOne([]byte(aws.ToString(d.DigestTipAddress.IonText)))
	if err != nil {
		return 0, fmt.Errorf("bench: digest tip address: %w", err)
	}
	seq := v.Get("sequenceNo")
	if seq == nil {
		return 0, errors.New("bench: digest tip address has no sequenceNo")
	}
	return uint64(seq.Int), nil
}

// revisionRef names one committed revision.
type revisionRef struct {
	docID, address string
}

// Verify runs the verify scenario: it fills a ledger to o.Blocks blocks
// (in-process with package fill when the server is its own child, before
// starting it; with the lean client against --endpoint), reports the
// server's start-up time to listening with that journal, measures
// GetRevision with a proof (revisions of random blocks against the digest
// at the tip, one client through the AWS SDK), then stops the server and
// times `strand verify` on its data directory.
func Verify(ctx context.Context, o Options) (*Report, error) {
	o.defaults()
	rep := &Report{Scenario: "verify", Started: timeNow(), Machine: machine(), Options: o.public(), Ratios: map[string]float64{}}
	dir, cleanup, err := workDir(&o)
	if err != nil {
		return nil, err
	}
	defer cleanup()
	dataDir := filepath.Join(dir, "verify")
	const ledgerName = "bench"
	if o.Endpoint == "" {
		// Our own server: fill its data directory in-process first, through
		// the same commit path, far faster than over HTTP (a directory
		// already holding the blocks, from an earlier run with the same
		// --dir, is reused as it is).
		if err := fillInProcess(&o, dataDir, ledgerName, uint64(o.Blocks)); err != nil {
			return rep, err
		}
	}
	t, err := startServer(ctx, &o, dataDir, nil)
	if err != nil {
		return nil, err
	}
	defer t.stop()
	if err := t.createLedger(ctx, ledgerName); err != nil {
		return nil, err
	}
	if err := fill(ctx, &o, t, ledgerName, o.Blocks); err != nil {
		return rep, err
	}
	tip, err := tipSequence(ctx, t, ledgerName)
	if err != nil {
		return rep, err
	}
	blocks := tip + 1
	tab := &table{w: o.Out}
	if t.cmd != nil {
		up := t.ready.Sub(t.started)
		srow := Row{Name: "start-up to listening", Ops: int64(blocks), Unit: "s", Seconds: up.Seconds(),
			Extra: map[string]float64{"startup_ms": float64(up.Microseconds()) / 1000, "blocks": float64(blocks)}}
		tab.row(srow)
		rep.Rows = append(rep.Rows, srow)
	}
	// Revisions from random blocks of the whole journal, read with
	// GetBlock (a SELECT of the whole committed view exceeds the statement
	// budget past a few hundred thousand documents).
	refs, err := sampleRevisions(ctx, t, ledgerName, blocks, 2000)
	if err != nil {
		return rep, err
	}
	if len(refs) == 0 {
		return rep, errors.New("bench: the ledger has no revisions")
	}
	c := t.qldb()
	d, err := c.GetDigest(ctx, &qldb.GetDigestInput{Name: aws.String(ledgerName)})
	if err != nil {
		return rep, fmt.Errorf("bench: get digest: %w", err)
	}
	row, err := point{name: "GetRevision with proof", unit: "req", conc: 1, d: o.Duration, cpu: t.cpuFunc(),
		newWorker: func(int) (worker, error) {
			rng := rand.New(rand.NewPCG(1, 2))
			return func(ctx context.Context) error {
				ref := refs[rng.IntN(len(refs))]
				_, err := c.GetRevision(ctx, &qldb.GetRevisionInput{Name: aws.String(ledgerName),
					BlockAddress: &types.ValueHolder{IonText: aws.String(ref.address)}, DocumentId: aws.String(ref.docID),
					DigestTipAddress: d.DigestTipAddress})
				return err
			}, nil
		}}.run(ctx, o.Progress)
	if err != nil {
		return rep, err
	}
	row.Extra = map[string]float64{"blocks": float64(blocks)}
	tab.row(row)
	rep.Rows = append(rep.Rows, row)

	if o.Endpoint != "" {
		rep.Notes = append(rep.Notes, "strand verify not measured: it needs the server stopped, and --endpoint is not ours to stop")
		printRatios(o.Out, rep)
		return rep, nil
	}
	t.stop()
	vrow, err := timeVerify(ctx, &o, dataDir, blocks)
	if err != nil {
		return rep, err
	}
	tab.row(vrow)
	rep.Rows = append(rep.Rows, vrow)
	printRatios(o.Out, rep)
	return rep, nil
}

// timeVerify runs `strand verify` on dataDir as a child process and
// reports blocks per second and its CPU time per block.
func timeVerify(ctx context.Context, o *Options, dataDir string, blocks uint64) (Row, error) {
	exe := o.Exe
	if exe == "" {
		var err error
		if exe, err = os.Executable(); err != nil {
			return Row{}, fmt.Errorf("bench: %w", err)
		}
	}
	fmt.Fprintf(o.Progress, "bench: strand verify --data-dir %s (%d blocks)\n", dataDir, blocks)
	cmd := exec.CommandContext(ctx, exe, "verify", "--data-dir", dataDir)
	cmd.Stderr = o.Progress
	start := time.Now()
	out, err := cmd.Output()
	el := time.Since(start)
	if err != nil {
		return Row{}, fmt.Errorf("bench: strand verify: %w: %s", err, out)
	}
	cpu := cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	r := Row{Name: "strand verify", Ops: int64(blocks), Seconds: el.Seconds(), Unit: "block",
		PerSecond: float64(blocks) / el.Seconds(),
		Extra:     map[string]float64{"cpu_us_per_block": float64(cpu.Microseconds()) / float64(blocks)}}
	var ps *os.ProcessState = cmd.ProcessState
	if ru, ok := maxRSS(ps); ok {
		r.Extra["peak_rss_mib"] = float64(ru) / (1 << 20)
	}
	return r, nil
}

// fillInProcess fills dataDir's ledger to at least blocks blocks through
// the transaction engine in this process (package fill), printing
// progress. The directory must not be in use.
func fillInProcess(o *Options, dataDir, ledgerName string, blocks uint64) error {
	start := time.Now()
	err := inproc.Build(dataDir, ledgerName, blocks, inproc.Options{Progress: func(n uint64) {
		fmt.Fprintf(o.Progress, "bench: filling %s in-process: %d/%d blocks, %.0f blocks/s\n", dataDir, n, blocks, float64(n)/time.Since(start).Seconds())
	}})
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	fmt.Fprintf(o.Progress, "bench: %s holds at least %d blocks (%.1fs)\n", dataDir, blocks, time.Since(start).Seconds())
	return nil
}

// sampleRevisions reads up to n blocks chosen at random among the first
// blocks of the ledger with GetBlock and returns the first document
// revision of each that has one.
func sampleRevisions(ctx context.Context, t *target, ledgerName string, blocks uint64, n int) ([]revisionRef, error) {
	c := t.qldb()
	tip, err := c.GetDigest(ctx, &qldb.GetDigestInput{Name: aws.String(ledgerName)})
	if err != nil {
		return nil, fmt.Errorf("bench: get digest: %w", err)
	}
	tv, err := ionvalue.DecodeOne([]byte(aws.ToString(tip.DigestTipAddress.IonText)))
	if err != nil || tv.Get("strandId") == nil {
		return nil, fmt.Errorf("bench: digest tip address %q: %v", aws.ToString(tip.DigestTipAddress.IonText), err)
	}
	strand := tv.Get("strandId").Text
	rng := rand.New(rand.NewPCG(3, 4))
	var refs []revisionRef
	for i := 0; i < n; i++ {
		addr := fmt.Sprintf("{strandId:%q,sequenceNo:%d}", strand, rng.Uint64N(blocks))
		out, err := c.GetBlock(ctx, &qldb.GetBlockInput{Name: aws.String(ledgerName), BlockAddress: &types.ValueHolder{IonText: aws.String(addr)}})
		if err != nil {
			return nil, fmt.Errorf("bench: get block %s: %w", addr, err)
		}
		v, err := ionvalue.DecodeOne([]byte(aws.ToString(out.Block.IonText)))
		if err != nil {
			return nil, fmt.Errorf("bench: block %s: %w", addr, err)
		}
		if revs := v.Get("revisions"); revs != nil {
			for _, r := range revs.Elems {
				if md := r.Get("metadata"); md != nil && md.Get("id") != nil {
					refs = append(refs, revisionRef{docID: md.Get("id").Text, address: addr})
					break
				}
			}
		}
	}
	return refs, nil
}
