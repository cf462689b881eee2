package main

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/qldb"
	"github.com/aws/aws-sdk-go-v2/service/qldb/types"
	"github.com/aws/smithy-go"
	"github.com/awslabs/amazon-qldb-driver-go/v3/qldbdriver"

	"github.com/strand-db/strand/internal/audit"
	"github.com/strand-db/strand/internal/config"
	"github.com/strand-db/strand/internal/ionvalue"
	"github.com/strand-db/strand/internal/server/servertest"
	pebblestore "github.com/strand-db/strand/internal/store/pebble"
	"github.com/strand-db/strand/internal/store/pebble/faultfs"
)

// noRetry makes the driver give up at the first error, so that the test
// sees the server's answer to the commit that met the fault.
func noRetry(o *qldbdriver.DriverOptions) { o.RetryPolicy.MaxRetryLimit = 0 }

// startOnFS starts a node on dir whose embedded store writes through fs.
func startOnFS(t *testing.T, cfg config.Config, fs *faultfs.FS) *servertest.Node {
	t.Helper()
	st, err := pebblestore.Open(cfg.DataDir, pebblestore.Options{FS: fs})
	if err != nil {
		t.Fatalf("open the store: %v", err)
	}
	return servertest.StartWithStore(t, cfg, st)
}

// insert commits one document {'i': i} into T and returns the error.
func insert(drv *qldbdriver.QLDBDriver, i int) error {
	_, err := drv.Execute(context.Background(), func(tx qldbdriver.Transaction) (any, error) {
		return tx.Execute("INSERT INTO T VALUE {'i': ?}", i)
	})
	return err
}

// wantNotDurable checks that err is the server's answer to a commit it
// could not make durable: InternalFailure (500) saying so.
func wantNotDurable(t *testing.T, what string, err error) {
	t.Helper()
	var ae smithy.APIError
	var re *awshttp.ResponseError
	if !errors.As(err, &ae) || ae.ErrorCode() != "InternalFailure" || !errors.As(err, &re) || re.HTTPStatusCode() != http.StatusInternalServerError ||
		!strings.Contains(ae.ErrorMessage(), "could not write the transaction durably") {
		t.Fatalf("%s: want InternalFailure (500) saying the commit is not durable, got %v", what, err)
	}
}

// checkAcked reads T through the driver and fails unless every
// acknowledged i is there. With storeFailed the rows must still come back,
// while the transaction's commit fails: a QLDB transaction, even a
// read-only one, commits a block.
func checkAcked(t *testing.T, drv *qldbdriver.QLDBDriver, acked map[int]bool, storeFailed bool) {
	t.Helper()
	var rows []*ionvalue.Value
	_, err := drv.Execute(context.Background(), func(tx qldbdriver.Transaction) (any, error) {
		var err error
		rows, err = servertest.Rows(tx, "SELECT i FROM T")
		return nil, err
	})
	if storeFailed {
		wantNotDurable(t, "the commit of a read transaction", err)
	} else if err != nil {
		t.Fatalf("SELECT: %v", err)
	}
	have := map[int]bool{}
	for _, r := range rows {
		if f := r.Get("i"); f != nil {
			have[int(f.Int)] = true
		}
	}
	for i := range acked {
		if !have[i] {
			t.Errorf("acknowledged commit %d is lost (%d of %d acknowledged present)", i, len(have), len(acked))
		}
	}
}

// TestDiskFaultsBeneathTheStore runs a node on a data directory whose
// Pebble files go through faultfs and makes the disk fail beneath a commit:
// a failed fsync of the write-ahead log (EIO), a failed write (EIO), a full
// disk (ENOSPC on write). Each time the commit that met the fault is not
// acknowledged (the driver gets InternalFailure saying so; the old code
// ended the process), later commits are refused even after the disk works
// again, reads keep working (the rows of a SELECT through the driver, whose
// commit then fails as every commit does; GetDigest and GetBlock), and after a restart on a working disk
// every acknowledged commit is there, commits resume and strand verify
// passes.
func TestDiskFaultsBeneathTheStore(t *testing.T) {
	servertest.RequireEmbeddedStore(t, "faults injected beneath Pebble")
	for _, tc := range []struct {
		name string
		op   faultfs.Op
		err  error
	}{
		{"fsync-EIO", faultfs.Sync, faultfs.EIO},
		{"write-EIO", faultfs.Write, faultfs.EIO},
		{"disk-full-ENOSPC", faultfs.Write, faultfs.ENOSPC},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			cfg := config.Default()
			cfg.Listen = "127.0.0.1:0"
			cfg.DataDir = t.TempDir()
			fs := faultfs.New(nil)
			n := startOnFS(t, cfg, fs)
			n.CreateLedger("hit")
			n.CreateLedger("other")
			drv, other := n.Driver("hit", noRetry), n.Driver("other", noRetry)
			servertest.Commit(t, drv, "CREATE TABLE T")
			servertest.Commit(t, other, "CREATE TABLE T")
			acked := map[int]bool{}
			for i := range 5 {
				if err := insert(drv, i); err != nil {
					t.Fatal(err)
				}
				acked[i] = true
			}
			if err := insert(other, 0); err != nil {
				t.Fatal(err)
			}

			fs.Fail(faultfs.WAL, tc.op, tc.err)
			wantNotDurable(t, "commit on the failing disk", insert(drv, 100))
			wantNotDurable(t, "the other ledger's commit on the failing disk", insert(other, 100))
			fs.Clear()
			wantNotDurable(t, "commit after the disk works again", insert(drv, 101))
			// Reads still work.
			checkAcked(t, drv, acked, true)
			checkAcked(t, other, map[int]bool{0: true}, true)
			c := n.QLDB(servertest.AccessKeyID, servertest.SecretAccessKey)
			d, err := c.GetDigest(ctx, &qldb.GetDigestInput{Name: aws.String("hit")})
			if err != nil {
				t.Fatalf("GetDigest after the failure: %v", err)
			}
			if _, err := c.GetBlock(ctx, &qldb.GetBlockInput{Name: aws.String("hit"), BlockAddress: &types.ValueHolder{IonText: d.DigestTipAddress.IonText}}); err != nil {
				t.Errorf("GetBlock of the tip after the failure: %v", err)
			}
			_ = n.StopErr() // closing may report the failed log

			n = servertest.StartConfig(t, cfg)
			drv = n.Driver("hit")
			checkAcked(t, drv, acked, false)
			if err := insert(drv, 5); err != nil {
				t.Fatalf("commit after the restart: %v", err)
			}
			n.Stop()
			if rc, out, errOut := runVerify("--data-dir", cfg.DataDir); rc != 0 {
				t.Fatalf("verify after the restart: exit %d\nstdout:\n%s\nstderr:\n%s", rc, out, errOut)
			}
		})
	}
}

// TestTornWriteThenCrash cuts a write of the write-ahead log short (half of
// its bytes reach the disk, the write fails), then crashes: the node
// restarts on what a disk would hold after power loss (everything synced,
// each unsynced block kept or not at random, fixed seeds), with the tip
// records as they were at the crash. The torn commit was not acknowledged;
// every acknowledged commit is there, the ledger serves (no missing
// acknowledged block), and the offline audit passes.
//
// A second part crashes while eight clients commit concurrently: every
// commit acknowledged before the crash survives.
func TestTornWriteThenCrash(t *testing.T) {
	servertest.RequireEmbeddedStore(t, "faults injected beneath Pebble")
	for _, tc := range []struct {
		name      string
		unsynced  int // percent of unsynced blocks kept by the crash
		seed      int64
		concurent bool
	}{
		{"torn-write-nothing-unsynced-kept", 0, 1, false},
		{"torn-write-all-unsynced-kept", 100, 2, false},
		{"torn-write-half-unsynced-kept", 50, 3, false},
		{"crash-under-8-clients", 50, 4, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := config.Default()
			cfg.Listen = "127.0.0.1:0"
			cfg.DataDir = t.TempDir()
			fs := faultfs.NewCrashable()
			n := startOnFS(t, cfg, fs)
			n.CreateLedger("torn")
			drv := n.Driver("torn", noRetry)
			servertest.Commit(t, drv, "CREATE TABLE T")
			var mu sync.Mutex
			acked := map[int]bool{}
			for i := range 10 {
				if err := insert(drv, i); err != nil {
					t.Fatal(err)
				}
				acked[i] = true
			}
			var stop atomic.Bool
			var wg sync.WaitGroup
			if tc.concurent {
				pool := n.PooledDriver("torn", 8, noRetry)
				var next, failures atomic.Int64
				next.Store(1000)
				for range 8 {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for !stop.Load() {
							i := int(next.Add(1))
							if insert(pool, i) == nil {
								mu.Lock()
								acked[i] = true
								mu.Unlock()
							} else {
								failures.Add(1)
							}
						}
					}()
				}
				for {
					mu.Lock()
					k := len(acked)
					mu.Unlock()
					if k >= 60 {
						break
					}
					if failures.Load() > 100 {
						stop.Store(true)
						wg.Wait()
						t.Fatal("the clients' commits fail before any fault")
					}
					time.Sleep(time.Millisecond)
				}
			} else {
				fs.TearNextWrite(faultfs.WAL)
				wantNotDurable(t, "the commit whose log write was cut short", insert(drv, 100))
			}
			// The crash: the tip records first (what is acknowledged by
			// now has its record and its synced batch), then the disk.
			mu.Lock()
			survive := map[int]bool{}
			for i := range acked {
				survive[i] = true
			}
			mu.Unlock()
			tips := t.TempDir()
			if err := os.CopyFS(tips, os.DirFS(filepath.Join(cfg.DataDir, "tips"))); err != nil {
				t.Fatal(err)
			}
			crashed := fs.Crash(tc.unsynced, tc.seed)
			stop.Store(true)
			wg.Wait()
			_ = n.StopErr()
			if err := os.RemoveAll(filepath.Join(cfg.DataDir, "tips")); err != nil {
				t.Fatal(err)
			}
			if err := os.CopyFS(filepath.Join(cfg.DataDir, "tips"), os.DirFS(tips)); err != nil {
				t.Fatal(err)
			}

			n = startOnFS(t, cfg, crashed)
			drv = n.Driver("torn")
			checkAcked(t, drv, survive, false)
			if err := insert(drv, 200); err != nil {
				t.Fatalf("commit after the restart: %v", err)
			}
			n.Stop()
			st, err := pebblestore.Open(cfg.DataDir, pebblestore.Options{FS: crashed, ReadOnly: true})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			rep, err := audit.Run(st, audit.Options{})
			if err != nil {
				t.Fatal(err)
			}
			for _, l := range rep.Ledgers {
				if l.Failure != nil {
					t.Errorf("audit after the crash: ledger %s: %v", l.Name, l.Failure.Err)
				}
			}
			t.Logf("%s: %d commits acknowledged before the crash, all present after it", tc.name, len(survive))
		})
	}
}
