// Package cluster lets several strand nodes share one store (PostgreSQL):
// every ledger is owned by exactly one node at a time, through a lease kept
// in the store beside the ledger's data, and every write of the owner is
// fenced by the lease's token, so that a node that lost its lease (paused,
// partitioned, or simply slower than its lease) can never append to the
// journal or move a stream's checkpoint again.
//
// A lease record (journal.Layout.Lease) names the owner (a node id, random
// per process), the URL where the other nodes reach it, a fencing token and
// an expiry time. The token only grows: each new owner takes the previous
// token plus one and writes it to the fence key (journal.Layout.Fence) in
// the same atomic batch as the lease. Every batch the owner writes for the
// ledger carries store.Batch.Expect(fence key, its token), so the store
// refuses it once another node has taken over. Safety therefore rests on
// the store's atomic conditional batches, not on clocks; clocks only decide
// when a silent owner is presumed dead (Options.TTL after its last
// renewal).
//
// A lease is only ever taken for a ledger that is still in the catalogue:
// the batch that takes it also expects the ledger's catalogue row as
// Options.Catalogued read it (see Acquire). Deleting a ledger removes its
// catalogue row first and its keys, lease and fence among them, after; a
// node that read the lease before the delete and writes after it would
// otherwise recreate the two rows for a ledger that no longer exists.
//
// The package knows nothing of HTTP: package server forwards requests to
// the owner that Read names.
package cluster

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/strand-db/strand/internal/journal"
	"github.com/strand-db/strand/internal/qldbid"
	"github.com/strand-db/strand/internal/store"
)

// ErrNotCatalogued is the error of Acquire for a ledger that is not (or no
// longer) in the catalogue (Options.Catalogued): it was deleted, and its
// lease is not taken.
var ErrNotCatalogued = errors.New("cluster: ledger not in the catalogue (deleted)")

// DefaultTTL is how long a lease lasts without renewal.
const DefaultTTL = 5 * time.Second

// Lease is the ownership record of one ledger.
type Lease struct {
	Node    string    `json:"node"`    // the owner's node id
	URL     string    `json:"url"`     // where the other nodes reach the owner
	Token   uint64    `json:"token"`   // fencing token: grows with every new owner
	Expires time.Time `json:"expires"` // the owner's clock; zero once released
}

// Live reports whether the lease still binds other nodes at now.
func (l Lease) Live(now time.Time) bool { return now.Before(l.Expires) }

// Options configure Leases.
type Options struct {
	Store store.Store
	// NodeID names this process; default a random id. Two processes must
	// never share one.
	NodeID string
	// URL is where the other nodes reach this one (its --node-url).
	URL string
	// TTL is how long a lease lasts without renewal (default DefaultTTL).
	// The owner renews every TTL/3; another node takes an unrenewed lease
	// once it expired by its own clock.
	TTL time.Duration
	// Gained, if set, is called when this node takes a ledger's lease
	// (Acquire or the claim loop), after the lease is durable and before
	// Acquire returns. Its error gives the lease up again.
	Gained func(ledgerID string) error
	// Lost, if set, is called when this node stops holding a lease it held
	// without Release: another node took it, or it could not be renewed
	// before it expired.
	Lost func(ledgerID string)
	// Candidates, if set, lists the ledger ids the claim loop keeps owned:
	// every one without a live owner is taken by some node.
	Candidates func() []string
	// Catalogued, if set, returns the key and the value, as stored now, of
	// the ledger's catalogue row, and ok false when the catalogue has no
	// ledger of that id (it was deleted). Acquire takes a lease only for a
	// ledger it reports, and its batch expects the row unchanged, so that a
	// delete that lands between the check and the write makes the take
	// fail (ErrNotCatalogued) instead of leaving lease rows behind. Nil
	// skips the check (a store not shared, or tests of leases alone).
	Catalogued func(ledgerID string) (key, value []byte, ok bool, err error)
	Logger     *slog.Logger
	Now        func() time.Time
}

// Leases holds this node's leases. It is safe for concurrent use.
type Leases struct {
	opts Options

	mu   sync.Mutex
	held map[string]*held // by ledger id
	// gmu serialises Acquire's read-then-write per node, so that two
	// requests of this node for one ledger take its lease once.
	gmu sync.Mutex
	// damaged is the last damage logged per ledger (reportDamage).
	damaged map[string]string
}

type held struct {
	lease Lease
	raw   []byte // the stored record, which renewals expect
	fence []byte // the token as stored in the fence key
}

// New returns the lease keeper of one node. Call Run to renew and claim.
func New(opts Options) *Leases {
	if opts.NodeID == "" {
		opts.NodeID = qldbid.New()
	}
	if opts.TTL <= 0 {
		opts.TTL = DefaultTTL
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Leases{opts: opts, held: map[string]*held{}, damaged: map[string]string{}}
}

// NodeID is this node's id.
func (s *Leases) NodeID() string { return s.opts.NodeID }

// URL is where the other nodes reach this one.
func (s *Leases) URL() string {
	s.gmu.Lock()
	defer s.gmu.Unlock()
	return s.opts.URL
}

// SetURL sets where the other nodes reach this one, for a node that learns
// its address only when it listens; leases taken afterwards carry it.
func (s *Leases) SetURL(url string) {
	s.gmu.Lock()
	s.opts.URL = url
	s.gmu.Unlock()
}

// TTL is the lease time to live.
func (s *Leases) TTL() time.Duration { return s.opts.TTL }

// Read returns the ledger's current lease as stored; ok is false when the
// ledger was never leased.
func (s *Leases) Read(ledgerID string) (l Lease, ok bool, err error) {
	l, _, ok, err = s.read(ledgerID)
	return l, ok, err
}

func (s *Leases) read(ledgerID string) (Lease, []byte, bool, error) {
	raw, ok, err := s.opts.Store.Get(journal.LedgerLayout(ledgerID).Lease)
	if err != nil || !ok {
		return Lease{}, nil, false, err
	}
	l, err := decodeLease(ledgerID, raw)
	if err != nil {
		return Lease{}, nil, false, err
	}
	return l, raw, true, nil
}

// Fence returns what every write of this node for the ledger must expect
// (store.Batch.Expect(key, value)), and false when this node does not hold
// the ledger's lease or its lease has run out by this node's clock.
func (s *Leases) Fence(ledgerID string) (key, value []byte, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	h := s.held[ledgerID]
	if h == nil || !h.lease.Live(s.opts.Now()) {
		return nil, nil, false
	}
	return journal.LedgerLayout(ledgerID).Fence, h.fence, true
}

// Holds reports whether this node holds the ledger's lease now.
func (s *Leases) Holds(ledgerID string) bool {
	_, _, ok := s.Fence(ledgerID)
	return ok
}

// Held returns the ids of the ledgers this node holds.
func (s *Leases) Held() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.held))
	for id := range s.held {
		out = append(out, id)
	}
	return out
}

func tokenBytes(t uint64) []byte { return binary.BigEndian.AppendUint64(nil, t) }

// Acquire makes this node the ledger's owner if it can: when the ledger was
// never leased, its lease expired or was released, or this node already
// holds it. It returns the lease in force afterwards and whether this node
// holds it; a live lease of another node is returned with false and no
// error, so that the caller can forward to its URL.
//
// With Options.Catalogued set, the ledger must be in the catalogue: the
// batch that writes the lease and fence rows expects both the lease row as
// read and the ledger's catalogue row as Catalogued returned it, so that it
// cannot apply after a DeleteLedger removed the row (the delete removes the
// catalogue row before the ledger's keys). A ledger not catalogued, or
// deleted before the batch applies, fails with an error matching
// ErrNotCatalogued. A concurrent change of the row alone (a tag or settings
// update) makes the batch conflict with the lease row unchanged: the take
// is then tried again on fresh rows, up to three times in all.
func (s *Leases) Acquire(ledgerID string) (Lease, bool, error) {
	s.gmu.Lock()
	defer s.gmu.Unlock()
	s.mu.Lock()
	if h := s.held[ledgerID]; h != nil && h.lease.Live(s.opts.Now()) {
		l := h.lease
		s.mu.Unlock()
		return l, true, nil
	}
	s.mu.Unlock()
	// A conflict caused by a change of the catalogue row alone (a tag or
	// settings change of the ledger) is tried again on fresh rows, so that
	// it is not reported as another node's lease.
	for attempt := 1; ; attempt++ {
		l, held, again, err := s.take(ledgerID)
		if !again || attempt == 3 {
			return l, held, err
		}
	}
}

// take is one attempt of Acquire, called with gmu held; again reports a
// conflict that left the lease row as it was read (see Acquire).
func (s *Leases) take(ledgerID string) (_ Lease, _ bool, again bool, _ error) {
	cur, raw, ok, err := s.read(ledgerID)
	if err != nil {
		return Lease{}, false, false, err
	}
	now := s.opts.Now()
	if ok && s.othersLive(cur, now) {
		return cur, false, false, nil
	}
	next := Lease{Node: s.opts.NodeID, URL: s.opts.URL, Token: cur.Token + 1, Expires: now.Add(s.opts.TTL)}
	nraw, err := encodeLease(next)
	if err != nil {
		return Lease{}, false, false, err
	}
	var catKey, catRow []byte
	if s.opts.Catalogued != nil {
		k, v, ok, err := s.opts.Catalogued(ledgerID)
		if err != nil {
			return Lease{}, false, false, fmt.Errorf("cluster: ledger %s: read its catalogue entry: %w", ledgerID, err)
		}
		if !ok {
			return Lease{}, false, false, fmt.Errorf("%w: %s", ErrNotCatalogued, ledgerID)
		}
		catKey, catRow = k, v
	}
	lay := journal.LedgerLayout(ledgerID)
	fence := tokenBytes(next.Token)
	b := s.opts.Store.NewBatch()
	defer b.Close()
	if err := b.Expect(lay.Lease, raw); err != nil {
		return Lease{}, false, false, fmt.Errorf("cluster: %w", err)
	}
	if catKey != nil {
		if err := b.Expect(catKey, catRow); err != nil {
			return Lease{}, false, false, fmt.Errorf("cluster: %w", err)
		}
	}
	if err := b.Set(lay.Lease, nraw); err != nil {
		return Lease{}, false, false, fmt.Errorf("cluster: %w", err)
	}
	if err := b.Set(lay.Fence, fence); err != nil {
		return Lease{}, false, false, fmt.Errorf("cluster: %w", err)
	}
	if err := s.opts.Store.Apply(b); err != nil {
		if errors.Is(err, store.ErrConflict) {
			if catKey != nil {
				if _, ok, gerr := s.opts.Store.Get(catKey); gerr == nil && !ok {
					return Lease{}, false, false, fmt.Errorf("%w: %s", ErrNotCatalogued, ledgerID)
				}
			}
			// Another node was quicker: report its lease.
			latest, latestRaw, _, rerr := s.read(ledgerID)
			if rerr != nil {
				return Lease{}, false, false, rerr
			}
			return latest, false, bytes.Equal(latestRaw, raw), nil
		}
		return Lease{}, false, false, fmt.Errorf("cluster: take lease of ledger %s: %w", ledgerID, err)
	}
	s.mu.Lock()
	s.held[ledgerID] = &held{lease: next, raw: nraw, fence: fence}
	s.mu.Unlock()
	s.opts.Logger.Info("took ledger lease", "ledger_id", ledgerID, "node", s.opts.NodeID, "token", next.Token,
		"previous_owner", cur.Node, "previous_url", cur.URL)
	if s.opts.Gained != nil {
		if err := s.opts.Gained(ledgerID); err != nil {
			_ = s.release(ledgerID)
			return Lease{}, false, false, err
		}
	}
	return next, true, false, nil
}

// othersLive reports whether l binds this node at now: it is live and held
// by another process. A live lease that names this node's own URL but
// another node id was held by an earlier process at this address, which
// has therefore stopped: it is taken at once rather than after its
// expiry (fencing keeps that safe even if the address was misconfigured
// and shared).
func (s *Leases) othersLive(l Lease, now time.Time) bool {
	return l.Live(now) && l.Node != s.opts.NodeID && (l.URL == "" || l.URL != s.opts.URL)
}

// Take is Acquire for the engines (txn.Ownership): it reports only
// whether this node holds the ledger afterwards. A ledger deleted meanwhile
// (ErrNotCatalogued) is not held, and no error.
func (s *Leases) Take(ledgerID string) (bool, error) {
	_, held, err := s.Acquire(ledgerID)
	if errors.Is(err, ErrNotCatalogued) {
		return false, nil
	}
	return held, err
}

// Release gives up the ledger's lease (on shutdown, or when the ledger is
// deleted) so that another node can take it at once. The caller must have
// stopped writing for the ledger first. A lease not held is no error.
func (s *Leases) Release(ledgerID string) error {
	s.gmu.Lock()
	defer s.gmu.Unlock()
	return s.release(ledgerID)
}

func (s *Leases) release(ledgerID string) error {
	s.mu.Lock()
	h := s.held[ledgerID]
	delete(s.held, ledgerID)
	s.mu.Unlock()
	if h == nil {
		return nil
	}
	gone := h.lease
	gone.Expires = time.Time{}
	raw, err := encodeLease(gone)
	if err != nil {
		return err
	}
	lay := journal.LedgerLayout(ledgerID)
	b := s.opts.Store.NewBatch()
	defer b.Close()
	_ = b.Expect(lay.Lease, h.raw)
	_ = b.Set(lay.Lease, raw)
	if err := s.opts.Store.Apply(b); err != nil && !errors.Is(err, store.ErrConflict) {
		return fmt.Errorf("cluster: release lease of ledger %s: %w", ledgerID, err)
	}
	return nil
}

// ReleaseAll releases every lease this node holds (at shutdown), returning
// the first error.
func (s *Leases) ReleaseAll() error {
	var first error
	for _, id := range s.Held() {
		if err := s.Release(id); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// renew extends one held lease. A conflict (another node took it) or an
// expiry passed while the store could not be reached drops it, and Lost is
// called.
func (s *Leases) renew(ledgerID string) {
	s.gmu.Lock()
	s.mu.Lock()
	h := s.held[ledgerID]
	s.mu.Unlock()
	if h == nil {
		s.gmu.Unlock()
		return
	}
	now := s.opts.Now()
	next := h.lease
	next.Expires = now.Add(s.opts.TTL)
	raw, err := encodeLease(next)
	if err == nil {
		lay := journal.LedgerLayout(ledgerID)
		b := s.opts.Store.NewBatch()
		_ = b.Expect(lay.Lease, h.raw)
		_ = b.Set(lay.Lease, raw)
		err = s.opts.Store.Apply(b)
		b.Close()
	}
	lost := false
	s.mu.Lock()
	switch {
	case err == nil:
		s.held[ledgerID] = &held{lease: next, raw: raw, fence: h.fence}
	case errors.Is(err, store.ErrConflict) || !h.lease.Live(s.opts.Now()):
		delete(s.held, ledgerID)
		lost = true
	}
	s.mu.Unlock()
	s.gmu.Unlock()
	if err != nil {
		s.opts.Logger.Warn("ledger lease not renewed", "ledger_id", ledgerID, "node", s.opts.NodeID, "lost", lost, "err", err)
	}
	if lost && s.opts.Lost != nil {
		s.opts.Lost(ledgerID)
	}
}

// Run renews this node's leases every TTL/3 and, with Candidates set,
// takes every candidate ledger that has no live owner, until ctx ends.
func (s *Leases) Run(ctx context.Context) {
	period := s.opts.TTL / 3
	for {
		// A little jitter keeps the nodes' claim rounds apart.
		d := period - time.Duration(rand.Int64N(int64(period/4)+1))
		select {
		case <-ctx.Done():
			return
		case <-time.After(d):
		}
		for _, id := range s.Held() {
			s.renew(id)
		}
		s.claim()
	}
}

// claim takes the candidate ledgers without a live owner.
func (s *Leases) claim() {
	if s.opts.Candidates == nil {
		return
	}
	for _, id := range s.opts.Candidates() {
		if s.Holds(id) {
			continue
		}
		cur, ok, err := s.Read(id)
		if err != nil {
			s.reportDamage(id, err)
			continue
		}
		if ok && s.othersLive(cur, s.opts.Now()) {
			continue
		}
		if _, _, err := s.Acquire(id); err != nil {
			if errors.Is(err, ErrNotCatalogued) {
				continue // deleted since Candidates listed it
			}
			s.reportDamage(id, err)
			s.opts.Logger.Warn("could not take ledger lease", "ledger_id", id, "err", err)
		}
	}
}
