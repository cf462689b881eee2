package main

import (
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"time"

	"github.com/strand-db/strand/internal/audit"
	"github.com/strand-db/strand/internal/config"
	"github.com/strand-db/strand/internal/ionvalue"
	"github.com/strand-db/strand/internal/journal"
	"github.com/strand-db/strand/internal/store"
	pebblestore "github.com/strand-db/strand/internal/store/pebble"
	pgstore "github.com/strand-db/strand/internal/store/postgres"
)

// verifyCmd runs `strand verify`: it opens the data directory offline (so it
// fails while a server holds it) and checks every ledger, or the one named,
// with package audit. It prints one line per ledger on stdout and progress
// about every second on stderr. Exit status: 0 when every check passes, 1
// when one fails (the first bad block and what failed are printed; data
// damaged on disk is such a failure, and the other ledgers are still
// checked), 2 when the check could not run (bad flags, no data, the
// directory in use, an I/O error, an unknown ledger).
func verifyCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("strand verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dataDir := dataDirFlag(fs, "data directory to check (the server must be stopped); also STRAND_DATA_DIR")
	storeURL := storeFlag(fs)
	name := fs.String("ledger", "", "check only this ledger (default: every ledger)")
	workers := fs.Int("workers", 0, "goroutines hashing blocks (default: one per CPU)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: strand verify --data-dir DIR | --store postgres://... [--ledger NAME]\n\n"+
			"Recomputes every hash of every journal block, the hash chain and the ledger Merkle tree,\n"+
			"checks every stored revision copy against its block, and checks that the journal holds\n"+
			"every block that was acknowledged (the ledger's tip record), and checks the lease\n"+
			"metadata and table tag records. Exit status 0: all hold;\n"+
			"1: a check failed (the first bad block is printed); 2: the check could not run.\n"+
			"On PostgreSQL stop the nodes first: a check of a live database reads each kind of\n"+
			"record in its own snapshot, so a commit in between fails it spuriously.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "strand verify: unexpected argument %q\n", fs.Arg(0))
		fs.Usage()
		return 2
	}
	off := openOffline("strand verify", *dataDir, *storeURL, true, stderr)
	if off == nil {
		return 2
	}
	defer off.Close()

	if os.Getenv("GOGC") == "" {
		// The check allocates briskly and keeps little: trading memory for
		// less garbage collection makes it about a third faster.
		debug.SetGCPercent(400)
	}
	start := time.Now()
	rep, err := audit.Run(off.st, audit.Options{Ledger: *name, Workers: *workers, Tips: off.tips, Progress: func(p audit.Progress) {
		unit := "blocks"
		if p.Phase == "documents" {
			unit = "stored revisions"
		}
		rate := float64(p.Done) / p.Elapsed.Seconds()
		if p.Total > 0 {
			fmt.Fprintf(stderr, "strand verify: ledger %s: %s: %d/%d %s (%.0f%%), %.0f %s/s\n", p.Ledger, p.Phase, p.Done, p.Total, unit, 100*float64(p.Done)/float64(p.Total), rate, unit)
		} else {
			fmt.Fprintf(stderr, "strand verify: ledger %s: %s: %d %s, %.0f %s/s\n", p.Ledger, p.Phase, p.Done, unit, rate, unit)
		}
	}})
	if err != nil {
		fmt.Fprintf(stderr, "strand verify: %v\n", err)
		return 2
	}
	for _, l := range rep.Ledgers {
		if l.Failure != nil {
			f := l.Failure
			where := "(no block)"
			if f.HasBlock {
				where = fmt.Sprintf("first bad block %d", f.Block)
			}
			fmt.Fprintf(stdout, "ledger %s: FAILED: %s: %s check", l.Name, where, f.Check)
			if f.Key != "" {
				fmt.Fprintf(stdout, " of %s", f.Key)
			}
			fmt.Fprintf(stdout, ": %v\n", f.Err)
			if l.Failures > 1 {
				fmt.Fprintf(stdout, "ledger %s: %d failed checks in all\n", l.Name, l.Failures)
			}
			continue
		}
		if l.Blocks == 0 {
			fmt.Fprintf(stdout, "ledger %s: OK: empty journal\n", l.Name)
			continue
		}
		tip := journal.BlockAddress{StrandID: l.StrandID, SequenceNo: l.Blocks - 1}
		rate := float64(l.Blocks) / (l.JournalTime + l.DocumentsTime).Seconds()
		fmt.Fprintf(stdout, "ledger %s: OK: %d blocks, %d document revisions (%d history, %d latest, %d revision-block entries); digest %s at %s; %.0f blocks/s\n",
			l.Name, l.Blocks, l.Revisions, l.History, l.Latest, l.RevisionBlocks,
			base64.StdEncoding.EncodeToString(l.Digest), ionvalue.MarshalText(tip.Ion()), rate)
	}
	leaseDamaged, err := checkLeaseMetadata(off.st, rep, stdout)
	if err != nil {
		fmt.Fprintf(stderr, "strand verify: %v\n", err)
		return 2
	}
	tagsDamaged, err := checkTableTags(off.st, rep, *name, stdout)
	if err != nil {
		fmt.Fprintf(stderr, "strand verify: %v\n", err)
		return 2
	}
	if !rep.OK() || leaseDamaged || tagsDamaged {
		return 1
	}
	fmt.Fprintf(stdout, "verified %d ledger(s) in %s\n", len(rep.Ledgers), time.Since(start).Round(time.Millisecond))
	return 0
}

// offline is a store opened for an offline command: the embedded store of a
// data directory (opened exclusively, so the command fails while a server
// holds it) with its acknowledged-tip records, or a PostgreSQL database,
// which has no tip records (the database's commit is the authority) and no
// lock: the operator stops the nodes (see docs/operations.md).
type offline struct {
	st   store.Store
	tips journal.Tips
	pg   bool
}

// Close closes the tip records (when they are files) and the store.
func (o *offline) Close() {
	if c, ok := o.tips.(io.Closer); ok {
		c.Close()
	}
	o.st.Close()
}

// openOffline opens the store storeURL selects (empty or "pebble": the
// embedded store of dataDir; a postgres:// URL: that database) for an
// offline command (cmd names it in messages, e.g. "strand verify"),
// read-only when readOnly (verify writes nothing to the data it checks;
// repair writes) where the store allows it. It returns nil after saying why
// on stderr when there is no Strand data or the store cannot be opened,
// such as while a server holds the data directory.
func openOffline(cmd, dataDir, storeURL string, readOnly bool, stderr io.Writer) *offline {
	cfg := config.Config{Store: storeURL}
	switch cfg.StoreKind() {
	case config.StorePostgres:
		// The audit keeps one iterator open per level of a ledger's Merkle
		// tree while it checks it (about log2 of the block count), and a
		// PostgreSQL iterator longer than one page holds a connection: 64
		// covers any ledger (2^40 blocks) with room for the workers. With 4
		// or the default 10, auditing a ledger of some thousand blocks ran
		// the pool dry (found by the crash suite's long form).
		st, err := pgstore.Open(storeURL, pgstore.Options{MaxConns: 64})
		if err != nil {
			fmt.Fprintf(stderr, "%s: --store: %v\n", cmd, err)
			return nil
		}
		return &offline{st: st, tips: noTips{}, pg: true}
	case config.StorePebble:
	default:
		fmt.Fprintf(stderr, "%s: --store must be empty, 'pebble', or a postgres:// or postgresql:// URL\n", cmd)
		return nil
	}
	if _, err := os.Stat(filepath.Join(dataDir, "pebble")); err != nil {
		fmt.Fprintf(stderr, "%s: %s holds no Strand data (%v)\n", cmd, dataDir, err)
		return nil
	}
	st, err := pebblestore.Open(dataDir, pebblestore.Options{ReadOnly: readOnly})
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", cmd, err)
		if errors.Is(err, pebblestore.ErrLocked) {
			fmt.Fprintf(stderr, "%s works offline: stop the server first\n", cmd)
		}
		return nil
	}
	return &offline{st: st, tips: store.NewTipFiles(dataDir)}
}

// noTips is the acknowledged-tip records of a shared (PostgreSQL) store:
// none, as the database's own commit is the authority.
type noTips struct{}

func (noTips) Load(string) (store.TipRecord, bool, error) { return store.TipRecord{}, false, nil }
func (noTips) Record(store.TipRecord) error {
	return errors.New("a PostgreSQL store keeps no tip records")
}
func (noTips) Remove(string) error          { return nil }
func (noTips) LedgerIDs() ([]string, error) { return nil, nil }

// storeFlag registers --store on fs for an offline command, defaulting to
// STRAND_STORE, as strand serve does.
func storeFlag(fs *flag.FlagSet) *string {
	return fs.String("store", os.Getenv(config.EnvName("store")),
		"where the data lives: empty or 'pebble' for the embedded store in --data-dir, or a postgres:// URL (give one with a password as STRAND_STORE); also STRAND_STORE")
}

// dataDirFlag registers --data-dir on fs for an offline command, defaulting
// to STRAND_DATA_DIR or the server's default, as strand serve does.
func dataDirFlag(fs *flag.FlagSet, usage string) *string {
	dataDir := config.Default().DataDir
	if v := os.Getenv(config.EnvName("data-dir")); v != "" {
		dataDir = v
	}
	return fs.String("data-dir", dataDir, usage)
}
