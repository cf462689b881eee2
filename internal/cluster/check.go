package cluster

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"time"

	"github.com/strand-db/strand/internal/journal"
	"github.com/strand-db/strand/internal/store"
)

// A ledger's lease metadata is two rows: the lease (journal.Layout.Lease)
// and the fence (journal.Layout.Fence). Both are written together when a
// node takes the ledger, and the fence then always holds the lease's token
// as 8 big-endian bytes. A damaged row must not pass for another node's
// ownership (every commit would be refused as "served by another node"
// while the lease keeps renewing), so both are checked when read:
//
//   - the lease record carries a CRC-32C of its fields ("sum") and must
//     read back byte for byte as it is encoded, so that any changed byte,
//     in a value, a field name or the syntax, is found (records written
//     before the checksum, without "sum", are accepted when they read back
//     exactly);
//   - the fence must be the lease's token.
//
// A damaged row is reported as a *store.CorruptionError whose Key is the
// row (store.IsCorruption, store.CorruptKey), with Op "lease check".

// leaseRecord is a Lease as stored, with its checksum.
type leaseRecord struct {
	Node    string    `json:"node"`
	URL     string    `json:"url"`
	Token   uint64    `json:"token"`
	Expires time.Time `json:"expires"`
	Sum     *uint32   `json:"sum,omitempty"`
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// encodeLease returns the stored form of l: its JSON with the CRC-32C of
// the JSON without the checksum.
func encodeLease(l Lease) ([]byte, error) {
	body, err := json.Marshal(l)
	if err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	sum := crc32.Checksum(body, castagnoli)
	raw, err := json.Marshal(leaseRecord{Node: l.Node, URL: l.URL, Token: l.Token, Expires: l.Expires, Sum: &sum})
	if err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	return raw, nil
}

// decodeLease decodes a stored lease record, failing with a
// *store.CorruptionError for a record that is not exactly what
// encodeLease (or, without a checksum, an earlier version) wrote.
func decodeLease(ledgerID string, raw []byte) (Lease, error) {
	var r leaseRecord
	if err := json.Unmarshal(raw, &r); err != nil {
		return Lease{}, corruptRow(journal.LedgerLayout(ledgerID).Lease, ledgerID, "lease", fmt.Errorf("it does not decode: %w", err))
	}
	l := Lease{Node: r.Node, URL: r.URL, Token: r.Token, Expires: r.Expires}
	body, err := json.Marshal(l)
	if err != nil {
		return Lease{}, fmt.Errorf("cluster: %w", err)
	}
	want := body
	if r.Sum != nil {
		if got := crc32.Checksum(body, castagnoli); got != *r.Sum {
			return Lease{}, corruptRow(journal.LedgerLayout(ledgerID).Lease, ledgerID, "lease",
				fmt.Errorf("its checksum %d does not match its contents (%d)", *r.Sum, got))
		}
		if want, err = json.Marshal(r); err != nil {
			return Lease{}, fmt.Errorf("cluster: %w", err)
		}
	}
	if !bytes.Equal(raw, want) {
		return Lease{}, corruptRow(journal.LedgerLayout(ledgerID).Lease, ledgerID, "lease", errors.New("it does not read back as it was written"))
	}
	if l.Token == 0 || l.Node == "" {
		return Lease{}, corruptRow(journal.LedgerLayout(ledgerID).Lease, ledgerID, "lease", errors.New("it names no owner or token"))
	}
	return l, nil
}

// corruptRow is the error of a damaged lease metadata row.
func corruptRow(key []byte, ledgerID, what string, err error) error {
	return &store.CorruptionError{Op: "lease check", Key: key,
		Err: fmt.Errorf("cluster: ledger %s: the %s row %s is corrupt: %w; repair it with strand repair lease", ledgerID, what, key, err)}
}

// checkFence compares a stored fence row with the token of the ledger's
// (intact) lease.
func checkFence(ledgerID string, fence []byte, l Lease) error {
	key := journal.LedgerLayout(ledgerID).Fence
	if len(fence) != 8 {
		return corruptRow(key, ledgerID, "fence", fmt.Errorf("it holds %d bytes, not an 8-byte token", len(fence)))
	}
	if got := binary.BigEndian.Uint64(fence); got != l.Token {
		return corruptRow(key, ledgerID, "fence", fmt.Errorf("it holds token %d but the lease's token is %d", got, l.Token))
	}
	return nil
}

// Check reads the lease metadata of a ledger (its lease and fence rows) and
// returns a *store.CorruptionError naming the row if either is damaged, or
// the store's error. A ledger never leased (no lease row) has nothing to
// check. It is what the nodes check when a fenced write is refused and
// what strand verify runs on a shared store.
func Check(st store.Store, ledgerID string) error {
	lay := journal.LedgerLayout(ledgerID)
	raw, ok, err := st.Get(lay.Lease)
	if err != nil {
		return fmt.Errorf("cluster: lease of ledger %s: %w", ledgerID, err)
	}
	if !ok {
		return nil
	}
	l, err := decodeLease(ledgerID, raw)
	if err != nil {
		return err
	}
	fence, ok, err := st.Get(lay.Fence)
	if err != nil {
		return fmt.Errorf("cluster: fence of ledger %s: %w", ledgerID, err)
	}
	if !ok {
		return corruptRow(lay.Fence, ledgerID, "fence", errors.New("it is missing although the ledger has a lease"))
	}
	return checkFence(ledgerID, fence, l)
}

// CheckFence is Check for the engines (a fenced write was refused): it
// tells a damaged row from another node's ownership.
func (s *Leases) CheckFence(ledgerID string) error { return Check(s.opts.Store, ledgerID) }

// Repair rewrites the lease metadata of a ledger that Check finds damaged:
// the lease becomes a released lease (no owner) whose token is one above
// the highest token either row still shows, and the fence that token, in
// one batch that expects both rows as they were read (a concurrent change,
// such as the owner's renewal, makes it read and try again, up to 20
// times). A node that held the ledger loses it at its next renewal, its
// writes are refused by the new fence, and any node then takes the ledger
// with the next token: no former owner can
// append again. It returns the new token, or 0 when Check finds nothing
// damaged (nothing is written). It refuses when neither row shows a token.
func Repair(st store.Store, ledgerID string) (uint64, error) {
	// A live owner renews the (intact) lease row every TTL/3, which makes
	// the batch fail: read the rows again and retry a few times.
	var err error
	for range 20 {
		var token uint64
		if token, err = repairOnce(st, ledgerID); !errors.Is(err, store.ErrConflict) {
			return token, err
		}
	}
	return 0, err
}

func repairOnce(st store.Store, ledgerID string) (uint64, error) {
	lay := journal.LedgerLayout(ledgerID)
	if err := Check(st, ledgerID); err == nil || !store.IsCorruption(err) {
		return 0, err
	}
	raw, _, err := st.Get(lay.Lease)
	if err != nil {
		return 0, fmt.Errorf("cluster: lease of ledger %s: %w", ledgerID, err)
	}
	fence, _, err := st.Get(lay.Fence)
	if err != nil {
		return 0, fmt.Errorf("cluster: fence of ledger %s: %w", ledgerID, err)
	}
	var top uint64
	found := false
	var r leaseRecord
	if json.Unmarshal(raw, &r) == nil && r.Token > 0 {
		top, found = r.Token, true
	}
	if len(fence) == 8 {
		top, found = max(top, binary.BigEndian.Uint64(fence)), true
	}
	if !found || top == math.MaxUint64 {
		return 0, fmt.Errorf("cluster: ledger %s: neither the lease row nor the fence row shows a usable token: restore them from a backup", ledgerID)
	}
	token := top + 1
	nraw, err := encodeLease(Lease{Node: "repaired", Token: token})
	if err != nil {
		return 0, err
	}
	b := st.NewBatch()
	defer b.Close()
	for _, op := range []func() error{
		func() error { return b.Expect(lay.Lease, raw) },
		func() error { return b.Expect(lay.Fence, fence) },
		func() error { return b.Set(lay.Lease, nraw) },
		func() error { return b.Set(lay.Fence, tokenBytes(token)) },
	} {
		if err := op(); err != nil {
			return 0, fmt.Errorf("cluster: %w", err)
		}
	}
	if err := st.Apply(b); err != nil {
		return 0, fmt.Errorf("cluster: repair the lease metadata of ledger %s: %w", ledgerID, err)
	}
	return token, nil
}

// reportDamage logs, once per ledger and damage, an error of the claim loop
// that is damaged lease metadata: the ledger cannot be served by any node
// until an operator repairs it.
func (s *Leases) reportDamage(ledgerID string, err error) {
	if !store.IsCorruption(err) {
		return
	}
	s.mu.Lock()
	seen := s.damaged[ledgerID] == err.Error()
	s.damaged[ledgerID] = err.Error()
	s.mu.Unlock()
	if !seen {
		s.opts.Logger.Error("ledger lease metadata is damaged: no node can serve the ledger until an operator runs strand repair lease",
			"ledger_id", ledgerID, "row", string(store.CorruptKey(err)), "err", err)
	}
}
