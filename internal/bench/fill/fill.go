// Package fill builds real ledgers quickly, in-process: it opens a node
// with server.Open (no HTTP) and drives the transaction engine directly,
// computing each commit digest as a QLDB driver does, so every block goes
// through the server's own commit path and is fully verifiable (block
// hashes, chain, ledger Merkle tree, stored revision copies). Many sessions
// commit concurrently so that group commit shares the fsyncs and every core
// is used. `strand bench verify` fills its journal with it, and the tests
// and benchmarks of verification through internal/testenv/ledgerfill.
package fill

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/strand-db/strand/internal/config"
	"github.com/strand-db/strand/internal/ionvalue"
	"github.com/strand-db/strand/internal/ledger"
	"github.com/strand-db/strand/internal/qldberr"
	"github.com/strand-db/strand/internal/qldbhash"
	"github.com/strand-db/strand/internal/server"
	"github.com/strand-db/strand/internal/txn"
)

// Options tune Build. Zero values take the defaults noted.
type Options struct {
	// Sessions is the number of concurrent committers (default 256: group
	// commit then shares each fsync among up to that many transactions).
	Sessions int
	// UpdateEvery makes every UpdateEvery-th transaction of a session an
	// UPDATE of one of its earlier documents instead of an INSERT, and
	// DeleteEvery every DeleteEvery-th a DELETE (0: the defaults 4 and 50;
	// negative: never).
	UpdateEvery, DeleteEvery int
	// Progress, if set, is called about every 5 s with the block count.
	Progress func(blocks uint64)
}

// Build opens dir (creating it), creates the ledger name when it does not
// exist (ALLOW_ALL, no deletion protection), and commits transactions until
// the journal holds at least blocks blocks: the first creates table T, each
// later one inserts a document {n, w} into T, or updates or deletes one of
// the session's earlier documents (see Options). It closes the node before
// returning, so the directory is free for pebblestore.Open or a server.
func Build(dir, name string, blocks uint64, opts Options) error {
	if opts.Sessions <= 0 {
		opts.Sessions = 256
	}
	if opts.UpdateEvery == 0 {
		opts.UpdateEvery = 4
	}
	if opts.DeleteEvery == 0 {
		opts.DeleteEvery = 50
	}
	cfg := config.Default()
	cfg.DataDir = dir
	cfg.Listen = "127.0.0.1:0"
	node, err := server.Open(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		return fmt.Errorf("fill: %w", err)
	}
	defer node.Close()
	if _, err := node.Ledgers().Describe(name); err != nil {
		no := false
		if _, err := node.Ledgers().Create(ledger.CreateInput{Name: name, PermissionsMode: ledger.PermissionsAllowAll, DeletionProtection: &no}, time.Now()); err != nil {
			return fmt.Errorf("fill: create ledger: %w", err)
		}
	}
	e := node.Sessions()
	l, err := e.Ledger(name)
	if err != nil {
		return fmt.Errorf("fill: %w", err)
	}
	if l.Next() == 0 {
		c := &committer{e: e, ledger: name}
		if err := c.commit("CREATE TABLE T"); err != nil {
			return err
		}
	}
	var wg sync.WaitGroup
	var firstErr error
	var errOnce sync.Once
	var stop atomic.Bool
	for w := 0; w < opts.Sessions; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &committer{e: e, ledger: name}
			for i := 0; !stop.Load() && l.Next() < blocks; i++ {
				var err error
				switch {
				case opts.DeleteEvery > 0 && i%opts.DeleteEvery == opts.DeleteEvery-1 && len(c.docs) > 1:
					id := c.docs[0]
					c.docs = c.docs[1:]
					err = c.commit("DELETE FROM T AS t BY id WHERE id = ?", ionvalue.String(id))
				case opts.UpdateEvery > 0 && i%opts.UpdateEvery == opts.UpdateEvery-1 && len(c.docs) > 0:
					err = c.commit("UPDATE T AS t BY id SET t.n = ? WHERE id = ?", ionvalue.Int(int64(i)), ionvalue.String(c.docs[i%len(c.docs)]))
				default:
					err = c.commit("INSERT INTO T ?", ionvalue.Struct(
						ionvalue.Field{Name: "n", Value: ionvalue.Int(int64(i))},
						ionvalue.Field{Name: "w", Value: ionvalue.Int(int64(w))}))
				}
				if err != nil {
					errOnce.Do(func() { firstErr = err })
					stop.Store(true)
					return
				}
			}
		}()
	}
	if opts.Progress != nil {
		done := make(chan struct{})
		go func() {
			t := time.NewTicker(5 * time.Second)
			defer t.Stop()
			for {
				select {
				case <-done:
					return
				case <-t.C:
					opts.Progress(l.Next())
				}
			}
		}()
		defer close(done)
	}
	wg.Wait()
	return firstErr
}

// committer runs transactions on one session, starting a new session when
// the old one expires.
type committer struct {
	e      *txn.Engine
	ledger string
	token  string
	docs   []string // ids of the documents this committer inserted
}

// commit runs one statement in its own transaction and commits it with the
// driver's digest, retrying on OCC conflicts and expired sessions.
func (c *committer) commit(stmt string, params ...*ionvalue.Value) error {
	for attempt := 0; ; attempt++ {
		err := c.try(stmt, params)
		if err == nil {
			return nil
		}
		qe := qldberr.As(err)
		if attempt < 10 && qe != nil && (qe.Type == qldberr.OccConflict || qe.Type == qldberr.InvalidSession) {
			if qe.Type == qldberr.InvalidSession {
				c.token = ""
			}
			continue
		}
		return fmt.Errorf("fill: %s: %w", stmt, err)
	}
}

func (c *committer) try(stmt string, params []*ionvalue.Value) error {
	if c.token == "" {
		tok, err := c.e.StartSession(context.Background(), c.ledger)
		if err != nil {
			return err
		}
		c.token = tok
	}
	txID, err := c.e.StartTransaction(c.token)
	if err != nil {
		return err
	}
	ps := make([]txn.Param, len(params))
	for i, p := range params {
		b, err := ionvalue.MarshalBinary(p)
		if err != nil {
			return err
		}
		ps[i] = txn.Param{IonBinary: b}
	}
	digest := qldbhash.NewCommitDigest(txID)
	digest.Add(qldbhash.StatementHash(stmt, params))
	page, _, err := c.e.ExecuteStatement(context.Background(), c.token, txID, stmt, ps)
	if err != nil {
		_ = c.e.AbortTransaction(c.token)
		return err
	}
	if _, _, err := c.e.CommitTransaction(context.Background(), c.token, txID, digest.Sum()); err != nil {
		return err
	}
	if strings.HasPrefix(stmt, "INSERT") { // remember the new document
		for _, raw := range page.Values {
			v, err := ionvalue.DecodeOne(raw)
			if err != nil {
				return err
			}
			if id := v.Get("documentId"); id != nil {
				c.docs = append(c.docs, id.Text)
			}
		}
		if len(page.Values) == 0 {
			return errors.New("fill: INSERT returned no document id")
		}
	}
	return nil
}
