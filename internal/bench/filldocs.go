package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/strand-db/strand/internal/ionvalue"
)

// MaxDocsPerTx is QLDB's quota of documents per transaction, the most one
// fill transaction inserts.
const MaxDocsPerTx = 40

// DefaultMemoryDocsPerTx is the memory scenario's default of documents per
// fill transaction: QLDB's quota, so that 1,000,000 documents take 25,000
// transactions.
const DefaultMemoryDocsPerTx = MaxDocsPerTx

// multiInsert returns an INSERT of n small documents (n parameters, the
// documents' keys) into table T: n = 1 is insertStmt.
func multiInsert(n int) string {
	if n <= 1 {
		return insertStmt
	}
	var b strings.Builder
	b.WriteString("INSERT INTO T << ")
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("{'k': ?, 'v': 'some payload of a typical size'}")
	}
	b.WriteString(" >>")
	return b.String()
}

// fillState is what a fill remembers next to a reused data directory: the
// documents it has seen committed (a lower bound when a fill was
// interrupted between two saves) and the tip block then.
type fillState struct {
	Documents int64  `json:"documents"`
	Tip       uint64 `json:"tip"`
}

func loadFillState(path string) (fillState, bool) {
	var s fillState
	b, err := os.ReadFile(path)
	if err != nil || json.Unmarshal(b, &s) != nil {
		return fillState{}, false
	}
	return s, true
}

func saveFillState(path string, s fillState) error {
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// fillDocuments commits INSERTs of perTx documents each (1 to
// MaxDocsPerTx) with the lean client until table T of the ledger holds at
// least docs documents, printing progress. statePath (next to the data
// directory) records how many are committed, so that a reused directory is
// topped up instead of filled again; without it, every block after the
// first two is counted as one document (a lower bound). It returns the
// number of documents T then holds (a lower bound).
func fillDocuments(ctx context.Context, o *Options, t *target, ledgerName string, docs int64, perTx int, statePath string) (int64, error) {
	if perTx < 1 || perTx > MaxDocsPerTx {
		return 0, fmt.Errorf("bench: documents per transaction must be 1 to %d, not %d", MaxDocsPerTx, perTx)
	}
	lc, err := newLeanClient(t, fillConcurrency)
	if err != nil {
		return 0, err
	}
	setup := &leanSession{c: lc, ledger: ledgerName}
	if err := setup.exec(ctx, "CREATE TABLE T"); err != nil && !strings.Contains(err.Error(), "already exists") {
		return 0, fmt.Errorf("bench: create table: %w", err)
	}
	tip, err := tipSequence(ctx, t, ledgerName)
	if err != nil {
		return 0, err
	}
	have := int64(0)
	if s, ok := loadFillState(statePath); ok && s.Tip <= tip {
		have = s.Documents
	} else if tip > 2 {
		have = int64(tip) - 2
	}
	if have >= docs {
		return have, nil
	}
	todo := (docs - have + int64(perTx) - 1) / int64(perTx) // transactions
	stmt := multiInsert(perTx)
	var next, done atomic.Int64
	save := func() error {
		tip, err := tipSequence(ctx, t, ledgerName)
		if err != nil {
			return err
		}
		return saveFillState(statePath, fillState{Documents: have + done.Load()*int64(perTx), Tip: tip})
	}
	errc := make(chan error, fillConcurrency)
	start := time.Now()
	stopProgress := make(chan struct{})
	progressDone := make(chan struct{})
	go func() {
		defer close(progressDone)
		tk := time.NewTicker(5 * time.Second)
		defer tk.Stop()
		for {
			select {
			case <-stopProgress:
				return
			case <-tk.C:
				n := done.Load()
				fmt.Fprintf(o.Progress, "bench: filling %s: %d/%d documents (%d per transaction), %.0f documents/s\n",
					ledgerName, have+n*int64(perTx), docs, perTx, float64(n*int64(perTx))/time.Since(start).Seconds())
				if err := save(); err != nil {
					fmt.Fprintf(o.Progress, "bench: fill: cannot record progress: %v\n", err)
				}
			}
		}
	}()
	for w := 0; w < fillConcurrency; w++ {
		go func() {
			s := &leanSession{c: lc, ledger: ledgerName}
			params := make([]*ionvalue.Value, perTx)
			for {
				i := next.Add(1)
				if i > todo {
					errc <- nil
					return
				}
				for j := range params {
					params[j] = ionvalue.Int(have + (i-1)*int64(perTx) + int64(j) + 1)
				}
				if err := s.exec(ctx, stmt, params...); err != nil {
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
	close(stopProgress)
	<-progressDone
	if err := save(); err != nil && first == nil {
		first = err
	}
	total := have + done.Load()*int64(perTx)
	if first != nil {
		return total, fmt.Errorf("bench: fill: %w", first)
	}
	fmt.Fprintf(o.Progress, "bench: filled %s: %d documents in %.0f s\n", ledgerName, total, time.Since(start).Seconds())
	return total, nil
}
