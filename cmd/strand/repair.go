package main

import (
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/strand-db/strand/internal/journal"
	"github.com/strand-db/strand/internal/ledger"
	"github.com/strand-db/strand/internal/store"
)

// repairCmd runs `strand repair accept-journal-loss --data-dir DIR --ledger
// NAME`: the operator's decision to serve a ledger whose journal lacks
// blocks that were acknowledged (the server refuses such a ledger and
// strand verify fails on it). It opens the data directory offline, prints
// what is lost and rewrites the ledger's acknowledged-tip record to the
// journal's tip. Exit status: 0 when the loss was accepted or there was
// none, 2 when it could not run.
func repairCmd(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "accept-journal-loss" {
		fmt.Fprintf(stderr, "Usage: strand repair accept-journal-loss --data-dir DIR --ledger NAME\n")
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
			return 0
		}
		return 2
	}
	fs := flag.NewFlagSet("strand repair accept-journal-loss", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dataDir := dataDirFlag(fs, "data directory (the server must be stopped); also STRAND_DATA_DIR")
	name := fs.String("ledger", "", "the ledger whose lost blocks are accepted (required)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: strand repair accept-journal-loss --data-dir DIR --ledger NAME\n\n"+
			"Accepts that a ledger's journal lost blocks that had been acknowledged to clients\n"+
			"(reported by strand serve and strand verify): prints the blocks lost and makes the\n"+
			"journal as it is the ledger's acknowledged tip, so that the server serves it again.\n"+
			"Restore the data directory from a backup instead if you have one.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *name == "" || fs.NArg() > 0 {
		fs.Usage()
		return 2
	}
	st := openOffline("strand repair", *dataDir, false, stderr)
	if st == nil {
		return 2
	}
	defer st.Close()
	cat, err := ledger.Open(st, ledger.Options{})
	if err != nil {
		fmt.Fprintf(stderr, "strand repair: %v\n", err)
		return 2
	}
	l, err := cat.Describe(*name)
	if err != nil {
		fmt.Fprintf(stderr, "strand repair: %v\n", err)
		return 2
	}
	tips := store.NewTipFiles(*dataDir)
	defer tips.Close()
	loss, err := journal.AcceptJournalLoss(st, tips, l.ID, l.Name)
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
