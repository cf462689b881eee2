package pgstore

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/strand-db/strand/internal/store"
)

// A write transaction's statements go to the database as one message of
// the simple query protocol, which the database reads whole before it runs
// any of it. Sent as a pipeline of separate messages (the extended
// protocol), a transaction cut off by a partition after its first
// statements arrived stayed open on the database holding their row locks
// (a ledger's fence row): the database runs no idle-in-transaction or
// statement timeout while it waits for the rest of a pipeline, and only
// TCP keepalives (hours by default) would end it, so no other node could
// take the ledger for as long as the partition lasted. Now a cut either
// falls inside the message (nothing ran, nothing is locked) or after it
// (the transaction waits for COMMIT as "idle in transaction", which
// Options.WriteIdleTimeout ends). Values travel as hex literals, which the
// database decodes; nothing of a key or value is ever spliced into the
// text otherwise.

// script is the text of pb's transaction up to (not including) COMMIT:
// BEGIN, the SET LOCAL of the write idle timeout, one locking SELECT per
// expectation (its value in hex), then the writes in order, consecutive
// sets of distinct keys sharing one INSERT.
func (pb *batch) script(setIdle string) string {
	var sb strings.Builder
	sb.WriteString(pb.beginStatement())
	sb.WriteString(";\n")
	sb.WriteString(setIdle)
	sb.WriteString(";\n")
	for _, e := range pb.expects {
		fmt.Fprintf(&sb, "SELECT encode(v, 'hex') FROM strand_kv WHERE k = %s FOR UPDATE;\n", byteaLiteral(e.key))
	}
	var run map[string]bool // keys of the INSERT being written, nil when none is
	endRun := func() {
		if run != nil {
			sb.WriteString(" ON CONFLICT (k) DO UPDATE SET v = excluded.v;\n")
			run = nil
		}
	}
	for _, o := range pb.ops {
		switch {
		case o.end != nil:
			endRun()
			fmt.Fprintf(&sb, "DELETE FROM strand_kv WHERE k >= %s AND k < %s;\n", byteaLiteral(o.key), byteaLiteral(o.end))
		case o.del:
			endRun()
			fmt.Fprintf(&sb, "DELETE FROM strand_kv WHERE k = %s;\n", byteaLiteral(o.key))
		default:
			// One INSERT may not set a key twice (ON CONFLICT would touch
			// the row twice): a repeated key starts the next one.
			if run != nil && run[string(o.key)] {
				endRun()
			}
			if run == nil {
				run = map[string]bool{}
				sb.WriteString("INSERT INTO strand_kv (k, v) VALUES ")
			} else {
				sb.WriteString(", ")
			}
			run[string(o.key)] = true
			fmt.Fprintf(&sb, "(%s, %s)", byteaLiteral(o.key), byteaLiteral(o.val))
		}
	}
	endRun()
	return sb.String()
}

// byteaLiteral is b as a bytea expression of hex digits only.
func byteaLiteral(b []byte) string {
	return "decode('" + hex.EncodeToString(b) + "', 'hex')"
}

// expectedValues returns what the locking SELECTs of a script's results
// read: for each expectation, the value (nil when the key is absent).
// results are the script's, in order: BEGIN, SET, then the SELECTs.
func expectedValues(results []*pgconn.Result, n int) ([][]byte, error) {
	if len(results) < 2+n {
		return nil, fmt.Errorf("pgstore: commit: %d results for %d statements", len(results), 2+n)
	}
	out := make([][]byte, n)
	for i := range n {
		rows := results[2+i].Rows
		if len(rows) == 0 {
			continue
		}
		v, err := hex.DecodeString(string(rows[0][0]))
		if err != nil {
			return nil, fmt.Errorf("pgstore: commit: a value read back is not hex: %w", err)
		}
		if v == nil {
			v = []byte{}
		}
		out[i] = v
	}
	return out, nil
}

// checkExpects compares what the script read with pb's expectations.
func (pb *batch) checkExpects(got [][]byte) error {
	for i, e := range pb.expects {
		if (got[i] != nil) != (e.value != nil) || !bytes.Equal(got[i], e.value) {
			return fmt.Errorf("pgstore: commit: key %q: %w", e.key, store.ErrConflict)
		}
	}
	return nil
}
