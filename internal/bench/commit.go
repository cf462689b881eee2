package bench

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/qldbsession"
	"github.com/awslabs/amazon-qldb-driver-go/v3/qldbdriver"

	"github.com/strand-db/strand/internal/ionvalue"
	pebblestore "github.com/strand-db/strand/internal/store/pebble"
)

// insertStmt is the transaction every commit benchmark runs: one INSERT of a
// small document, its key a parameter.
const insertStmt = "INSERT INTO T VALUE {'k': ?, 'v': 'some payload of a typical size'}"

// workDir returns o.Dir, or a new temporary directory and its cleanup.
func workDir(o *Options) (string, func(), error) {
	if o.Dir != "" {
		if err := os.MkdirAll(o.Dir, 0o755); err != nil {
			return "", nil, fmt.Errorf("bench: %w", err)
		}
		return o.Dir, func() {}, nil
	}
	d, err := os.MkdirTemp("", "strand-bench-")
	if err != nil {
		return "", nil, fmt.Errorf("bench: %w", err)
	}
	return d, func() { os.RemoveAll(d) }, nil
}

// Commit runs the commit scenario: at each concurrency, single-document
// INSERT transactions from the lean client and from the official Go
// driver against one server, then Pebble's raw synced-batch rate on the
// same file system, each for o.Duration.
func Commit(ctx context.Context, o Options) (*Report, error) {
	o.defaults()
	rep := &Report{Scenario: "commit", Started: timeNow(), Machine: machine(), Options: o.public(), Ratios: map[string]float64{}}
	dir, cleanup, err := workDir(&o)
	if err != nil {
		return nil, err
	}
	defer cleanup()
	t, err := startServer(ctx, &o, filepath.Join(dir, "server"), nil)
	if err != nil {
		return nil, err
	}
	defer t.stop()
	const ledgerName = "bench"
	if err := t.createLedger(ctx, ledgerName); err != nil {
		return nil, err
	}
	lc, err := newLeanClient(t, 64)
	if err != nil {
		return nil, err
	}
	setup := &leanSession{c: lc, ledger: ledgerName}
	if err := setup.exec(ctx, "CREATE TABLE T"); err != nil {
		return nil, fmt.Errorf("bench: create table: %w", err)
	}
	st, err := pebblestore.Open(filepath.Join(dir, "pebble"), pebblestore.Options{})
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	defer st.Close()

	tab := &table{w: o.Out}
	var key atomic.Int64
	for _, conc := range o.Concurrency {
		lean, err := point{name: "strand lean client", unit: "tx", conc: conc, d: o.Duration, cpu: t.cpuFunc(),
			newWorker: func(int) (worker, error) {
				s := &leanSession{c: lc, ledger: ledgerName}
				return func(ctx context.Context) error {
					return s.exec(ctx, insertStmt, ionvalue.Int(key.Add(1)))
				}, nil
			}}.run(ctx, o.Progress)
		if err != nil {
			return rep, err
		}
		tab.row(lean)
		rep.Rows = append(rep.Rows, lean)

		drv, err := qldbdriver.New(ledgerName, qldbsession.NewFromConfig(t.awsConfig(conc), func(so *qldbsession.Options) {
			so.BaseEndpoint = aws.String(t.url)
		}), func(do *qldbdriver.DriverOptions) {
			do.LoggerVerbosity = qldbdriver.LogOff
			do.MaxConcurrentTransactions = conc
		})
		if err != nil {
			return rep, fmt.Errorf("bench: driver: %w", err)
		}
		viaDriver, err := point{name: "strand official Go driver", unit: "tx", conc: conc, d: o.Duration, cpu: t.cpuFunc(),
			newWorker: func(int) (worker, error) {
				return func(ctx context.Context) error {
					_, err := drv.Execute(ctx, func(tx qldbdriver.Transaction) (any, error) {
						return tx.Execute(insertStmt, key.Add(1))
					})
					return err
				}, nil
			}}.run(ctx, o.Progress)
		drv.Shutdown(context.Background())
		if err != nil {
			return rep, err
		}
		tab.row(viaDriver)
		rep.Rows = append(rep.Rows, viaDriver)

		ceiling, err := pebbleCeiling(ctx, o, st, conc)
		if err != nil {
			return rep, err
		}
		tab.row(ceiling)
		rep.Rows = append(rep.Rows, ceiling)
		if ceiling.PerSecond > 0 {
			rep.Ratios[fmt.Sprintf("lean_over_pebble_conc%d", conc)] = lean.PerSecond / ceiling.PerSecond
			rep.Ratios[fmt.Sprintf("driver_over_pebble_conc%d", conc)] = viaDriver.PerSecond / ceiling.PerSecond
		}
		if viaDriver.PerSecond > 0 {
			rep.Ratios[fmt.Sprintf("lean_over_driver_conc%d", conc)] = lean.PerSecond / viaDriver.PerSecond
		}
	}
	if t.pid <= 0 {
		rep.Notes = append(rep.Notes, "server CPU per transaction not measured: no --pid for --endpoint")
	}
	printRatios(o.Out, rep)
	return rep, nil
}

// pebbleCeiling measures Pebble's rate of small synced batches (one
// 256-byte value each) at conc writers: the most any durable commit on this
// file system can do.
func pebbleCeiling(ctx context.Context, o Options, st *pebblestore.Store, conc int) (Row, error) {
	var n atomic.Uint64
	val := make([]byte, 256)
	return point{name: "pebble synced batch", unit: "batch", conc: conc, d: o.Duration,
		newWorker: func(int) (worker, error) {
			return func(context.Context) error {
				b := st.NewBatch()
				defer b.Close()
				if err := b.Set(binary.BigEndian.AppendUint64([]byte("bench/"), n.Add(1)), val); err != nil {
					return err
				}
				return st.Apply(b)
			}, nil
		}}.run(ctx, o.Progress)
}
