package main

import (
	"context"
	"testing"
	"time"

	"github.com/strand-db/strand/internal/stream/streamtest"
	"github.com/strand-db/strand/internal/testenv/kinesisemu"
)

// crashStreams checks the crash suite's journal streams after every
// restart: each stream, read as a consumer reads it (every shard,
// deaggregated with the kinesis-aggregation library), must deliver every
// block from 0 up to the last block acknowledged before the kill, and the
// REVISION_DETAILS of every acknowledged document, within wait.
type crashStreams struct {
	ctx   context.Context
	emu   *kinesisemu.Emulator
	names []string
	wait  time.Duration // bound on each catch-up

	checks      int            // restarts after which every stream caught up
	dups        map[string]int // duplicates seen so far, by stream
	maxKillDups int            // most duplicates one restart caused (both streams)
}

// caughtUp waits until every stream covers acked with no gap and returns
// the duplicates delivered since the previous check (both streams). It
// fails the test, naming the stream and what is missing, if a stream has
// not caught up within the bound; on the way it shows, on the records it
// read, that the check does report a removed block or revision.
func (s *crashStreams) caughtUp(t *testing.T, when string, acked []crashAck) int {
	t.Helper()
	if s.dups == nil {
		s.dups = map[string]int{}
	}
	killDups := 0
	for _, name := range s.names {
		deadline := time.Now().Add(s.wait)
		for {
			col, err := streamtest.Read(s.ctx, s.emu, name)
			if err != nil {
				t.Fatalf("%s: read stream %s: %v", when, name, err)
			}
			st := checkCrashStream(col, acked)
			if st.gaps() == 0 && st.err == nil {
				if len(acked) > 0 {
					crashSelfCheck(t, name, col, acked)
				}
				d := st.dupBlocks + st.dupRevisions
				killDups += d - s.dups[name]
				s.dups[name] = d
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("crash-suite: %s: stream %s has not delivered everything acknowledged before the kill within %v: "+
					"%d blocks missing up to block %d (last delivered %d), %d acknowledged revisions missing, error %v",
					when, name, s.wait, st.missingBlocks, st.lastAckedSeq, st.maxDelivSeq, st.missingRevisions, st.err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	s.checks++
	s.maxKillDups = max(s.maxKillDups, killDups)
	return killDups
}
