package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/strand-db/strand/internal/cluster"
	"github.com/strand-db/strand/internal/journal"
	"github.com/strand-db/strand/internal/ledger"
	"github.com/strand-db/strand/internal/txn"
)

const repairUsage = `Usage:
  strand repair accept-journal-loss --data-dir DIR --ledger NAME
  strand repair rebuild-derived (--data-dir DIR | --store postgres://...) --ledger NAME
  strand repair lease --store postgres://... --ledger NAME
`

// repairCmd runs `strand repair SUBCOMMAND`: offline repairs of one ledger
// (the server, or on PostgreSQL every node, must be stopped). Exit status:
// 0 when the repair was made or there was nothing to repair, 1 when it was
// refused (rebuild-derived: the catalogue does not match the journal), 2
// when it could not run.
func repairCmd(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		switch args[0] {
		case "accept-journal-loss":
			return acceptJournalLossCmd(args[1:], stdout, stderr)
		case "rebuild-derived":
			return rebuildDerivedCmd(args[1:], stdout, stderr)
		case "lease":
			return repairLeaseCmd(args[1:], stdout, stderr)
		}
	}
	fmt.Fprint(stderr, repairUsage)
	if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
		return 0
	}
	return 2
}

// repairFlags parses the flags of a repair subcommand: --data-dir, --store
// (when withStore) and the required --ledger. ok is false (with the exit
// status) when the command should stop.
func repairFlags(name, usage string, withStore bool, args []string, stderr io.Writer) (dataDir, storeURL, ledgerName string, code int, ok bool) {
	fs := flag.NewFlagSet("strand repair "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	dd := dataDirFlag(fs, "data directory (the server must be stopped); also STRAND_DATA_DIR")
	su := new(string)
	if withStore {
		su = storeFlag(fs)
	}
	ln := fs.String("ledger", "", "the ledger to repair (required)")
	fs.Usage = func() {
		fmt.Fprint(stderr, usage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return "", "", "", 0, false
		}
		return "", "", "", 2, false
	}
	if *ln == "" || fs.NArg() > 0 {
		fs.Usage()
		return "", "", "", 2, false
	}
	return *dd, *su, *ln, 0, true
}

// acceptJournalLossCmd runs `strand repair accept-journal-loss --data-dir
// DIR --ledger NAME`: the operator's decision to serve a ledger whose
// journal lacks blocks that were acknowledged (the server refuses such a
// ledger and strand verify fails on it). It opens the data directory
// offline, prints what is lost and rewrites the ledger's acknowledged-tip
// record to the journal's tip.
func acceptJournalLossCmd(args []string, stdout, stderr io.Writer) int {
	dataDir, _, name, code, ok := repairFlags("accept-journal-loss",
		"Usage: strand repair accept-journal-loss --data-dir DIR --ledger NAME\n\n"+
			"Accepts that a ledger's journal lost blocks that had been acknowledged to clients\n"+
			"(reported by strand serve and strand verify): prints the blocks lost and makes the\n"+
			"journal as it is the ledger's acknowledged tip, so that the server serves it again.\n"+
			"Restore the data directory from a backup instead if you have one.\n\n", false, args, stderr)
	if !ok {
		return code
	}
	off := openOffline("strand repair", dataDir, "", false, stderr)
	if off == nil {
		return 2
	}
	defer off.Close()
	l, ok := describe(off, name, stderr)
	if !ok {
		return 2
	}
	loss, err := journal.AcceptJournalLoss(off.st, off.tips, l.ID, l.Name)
	if err != nil {
		fmt.Fprintf(stderr, "strand repair: %v\n", err)
		return 2
	}
	if loss == nil {
		fmt.Fprintf(stdout, "ledger %s: the journal holds every acknowledged block; nothing to accept\n", l.Name)
		return 0
	}
	fmt.Fprintf(stdout, "ledger %s: accepted: %s\n", l.Name, loss.Detail())
	if from, to, n := loss.Missing(); n > 0 {
		fmt.Fprintf(stdout, "ledger %s: blocks %d–%d (%d blocks) acknowledged to clients are lost; the next commit becomes block %d\n", l.Name, from, to, n, from)
	} else {
		fmt.Fprintf(stdout, "ledger %s: the journal as it is (%d blocks) is now the acknowledged tip\n", l.Name, loss.JournalNext)
	}
	return 0
}

// rebuildDerivedCmd runs `strand repair rebuild-derived --ledger NAME` on
// the embedded store of --data-dir or the PostgreSQL database of --store:
// txn.RebuildDerived, with progress on stderr and what was rebuilt on
// stdout. On PostgreSQL it refuses a ledger whose lease a node holds.
func rebuildDerivedCmd(args []string, stdout, stderr io.Writer) int {
	dataDir, storeURL, name, code, ok := repairFlags("rebuild-derived",
		"Usage: strand repair rebuild-derived (--data-dir DIR | --store postgres://...) --ledger NAME\n\n"+
			"Deletes a ledger's derived records (latest revisions, history, index entries, the\n"+
			"revision-to-block lookup and the ledger Merkle tree) and rebuilds them from its\n"+
			"journal blocks, after checking the table catalogue against the journal. The server\n"+
			"(on PostgreSQL: every node) must be stopped. Exit status 0: rebuilt; 1: refused, the\n"+
			"catalogue does not match the journal (nothing changed); 2: could not run. Run it\n"+
			"again if it was interrupted.\n\n", true, args, stderr)
	if !ok {
		return code
	}
	off := openOffline("strand repair", dataDir, storeURL, false, stderr)
	if off == nil {
		return 2
	}
	defer off.Close()
	l, ok := describe(off, name, stderr)
	if !ok {
		return 2
	}
	if off.pg {
		raw, held, err := off.st.Get(journal.LedgerLayout(l.ID).Lease)
		if err != nil {
			fmt.Fprintf(stderr, "strand repair: read the lease of ledger %s: %v\n", l.Name, err)
			return 2
		}
		var lease cluster.Lease
		if held && json.Unmarshal(raw, &lease) == nil && lease.Live(time.Now()) {
			fmt.Fprintf(stderr, "strand repair: ledger %s is held by node %s (%s) until %s: stop the nodes first\n",
				l.Name, lease.Node, lease.URL, lease.Expires.UTC().Format(time.RFC3339))
			return 2
		}
	}
	start := time.Now()
	last := start
	stats, err := txn.RebuildDerived(off.st, l.ID, func(s txn.RebuildStats) {
		if now := time.Now(); now.Sub(last) >= time.Second {
			last = now
			fmt.Fprintf(stderr, "strand repair: ledger %s: %s: %d blocks, %d revisions, %d index entries\n", l.Name, s.Phase, s.Blocks, s.History, s.IndexEntries)
		}
	})
	if errors.Is(err, txn.ErrCatalogue) {
		fmt.Fprintf(stderr, "strand repair: ledger %s: refused, nothing changed: %v\n", l.Name, err)
		return 1
	}
	if err != nil {
		fmt.Fprintf(stderr, "strand repair: ledger %s: %v\n", l.Name, err)
		if stats.Batches > 0 {
			fmt.Fprintf(stderr, "strand repair: the derived records are incomplete: run strand repair rebuild-derived again\n")
		}
		return 2
	}
	fmt.Fprintf(stdout, "ledger %s: rebuilt from %d blocks: %d tables checked, %d history entries, %d latest revisions, %d revision-block entries, %d index entries, ledger tree; %d batches in %s\n",
		l.Name, stats.Blocks, stats.Tables, stats.History, stats.Latest, stats.RevisionBlocks, stats.IndexEntries, stats.Batches, time.Since(start).Round(time.Millisecond))
	return 0
}

// describe finds a ledger in the catalogue of off.
func describe(off *offline, name string, stderr io.Writer) (ledger.Entry, bool) {
	cat, err := ledger.Open(off.st, ledger.Options{})
	if err != nil {
		fmt.Fprintf(stderr, "strand repair: %v\n", err)
		return ledger.Entry{}, false
	}
	l, err := cat.Describe(name)
	if err != nil {
		fmt.Fprintf(stderr, "strand repair: %v\n", err)
		return ledger.Entry{}, false
	}
	return l, true
}
