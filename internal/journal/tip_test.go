package journal

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/strand-db/strand/internal/store"
)

// memTips is an in-memory Tips for compareTip's cases.
type memTips struct {
	rec     store.TipRecord
	ok      bool
	corrupt bool
}

func (m *memTips) Load(string) (store.TipRecord, bool, error) {
	if m.corrupt {
		return store.TipRecord{}, false, fmt.Errorf("%w: test", store.ErrTipRecordCorrupt)
	}
	return m.rec, m.ok, nil
}
func (m *memTips) Record(rec store.TipRecord) error { m.rec, m.ok = rec, true; return nil }
func (m *memTips) Remove(string) error              { m.ok = false; return nil }
func (m *memTips) LedgerIDs() ([]string, error)     { return nil, nil }

func TestCompareTip(t *testing.T) {
	h := func(i uint64) []byte { return bytes.Repeat([]byte{byte(i + 1)}, 32) }
	// The journal holds blocks 0..9; block 4 is missing in "hole" cases.
	blockHash := func(hole bool) func(uint64) ([]byte, bool, error) {
		return func(seq uint64) ([]byte, bool, error) {
			if seq >= 10 || (hole && seq == 4) {
				return nil, false, nil
			}
			return h(seq), true, nil
		}
	}
	rec := func(next uint64, hash []byte) *memTips {
		return &memTips{rec: store.TipRecord{LedgerID: "id", Next: next, Hash: hash}, ok: true}
	}
	for _, tc := range []struct {
		name    string
		tips    *memTips
		hole    bool
		rewrite bool
		loss    string // substring of the loss, "" for none
	}{
		{"no record: migrate", &memTips{}, false, true, ""},
		{"record at the tip", rec(10, h(9)), false, false, ""},
		{"record behind the tip", rec(5, h(4)), false, true, ""},
		{"empty record", rec(0, nil), false, true, ""},
		{"journal shorter", rec(14, h(13)), false, false, "journal ends at block 9 but blocks up to 13 were acknowledged; blocks 10–13 (4 blocks) are missing"},
		{"other block at the tip", rec(10, h(77)), false, false, "block 9 of the journal is not the block that was acknowledged"},
		{"other block below the tip", rec(6, h(77)), false, false, "block 5 of the journal is not"},
		{"hole at the recorded tip", rec(5, h(4)), true, false, "block 4 of the journal is not"},
		{"unreadable record", &memTips{corrupt: true}, false, false, "acknowledged-tip record is unreadable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			loss, rewrite, err := compareTip(tc.tips, "id", "L", 10, h(9), blockHash(tc.hole))
			if err != nil {
				t.Fatal(err)
			}
			if rewrite != tc.rewrite {
				t.Errorf("rewrite = %v, want %v", rewrite, tc.rewrite)
			}
			switch {
			case tc.loss == "" && loss != nil:
				t.Errorf("unexpected loss: %v", loss)
			case tc.loss != "" && (loss == nil || !strings.Contains(loss.Error(), tc.loss)):
				t.Errorf("loss = %v, want one saying %q", loss, tc.loss)
			}
			if loss != nil && !strings.HasPrefix(loss.Error(), "ledger L: ") {
				t.Errorf("the loss does not name the ledger: %v", loss)
			}
		})
	}
	// An empty journal with blocks acknowledged.
	loss, _, _ := compareTip(rec(3, h(2)), "id", "L", 0, nil, blockHash(false))
	var jl *JournalLoss
	if !errors.As(loss, &jl) || !strings.Contains(loss.Error(), "journal is empty but blocks up to 2 were acknowledged; blocks 0–2 (3 blocks) are missing") {
		t.Errorf("empty journal: %v", loss)
	}
}
