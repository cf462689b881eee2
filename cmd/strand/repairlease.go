package main

import (
	"fmt"
	"io"

	"github.com/strand-db/strand/internal/audit"
	"github.com/strand-db/strand/internal/cluster"
	"github.com/strand-db/strand/internal/store"
)

// checkLeaseMetadata runs cluster.Check on every ledger of rep (the lease
// and fence rows that nodes sharing a PostgreSQL store keep per ledger;
// the embedded store has none) and prints a FAILED line naming the row for
// each damaged one. It returns whether any was damaged, or the first error
// that kept a check from running.
func checkLeaseMetadata(st store.Store, rep *audit.Report, stdout io.Writer) (bool, error) {
	damaged := false
	for _, l := range rep.Ledgers {
		err := cluster.Check(st, l.ID)
		if err == nil {
			continue
		}
		if !store.IsCorruption(err) {
			return damaged, err
		}
		damaged = true
		fmt.Fprintf(stdout, "ledger %s: FAILED: lease metadata check of %s: %v (run strand repair lease --ledger %s)\n",
			l.Name, store.CorruptKey(err), store.FirstLine(err), l.Name)
	}
	return damaged, nil
}

// repairLeaseCmd runs `strand repair lease --store postgres://... --ledger
// NAME`: cluster.Repair, which rewrites a ledger's damaged lease and fence
// rows as a released lease with a token above any either row shows. It is
// safe while nodes run: the owner loses the ledger at its next renewal,
// its writes are refused by the new fence, and a node takes the ledger
// again with the next token.
func repairLeaseCmd(args []string, stdout, stderr io.Writer) int {
	dataDir, storeURL, name, code, ok := repairFlags("lease",
		"Usage: strand repair lease --store postgres://... --ledger NAME\n\n"+
			"Repairs a ledger's damaged lease metadata (its lease row or fence row on a store shared\n"+
			"by several nodes, reported by the nodes and by strand verify): rewrites both as a\n"+
			"released lease whose fencing token is above any the damaged rows show, so that a node\n"+
			"takes the ledger again and no former owner can write. Safe while the nodes run.\n"+
			"Exit status 0: repaired, or nothing damaged; 2: could not run.\n\n", true, args, stderr)
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
	token, err := cluster.Repair(off.st, l.ID)
	if err != nil {
		fmt.Fprintf(stderr, "strand repair: ledger %s: %v\n", l.Name, err)
		return 2
	}
	if token == 0 {
		fmt.Fprintf(stdout, "ledger %s: the lease metadata is intact; nothing to repair\n", l.Name)
		return 0
	}
	fmt.Fprintf(stdout, "ledger %s: lease metadata rewritten: released, fencing token %d; a node takes the ledger at its next request\n", l.Name, token)
	return 0
}
