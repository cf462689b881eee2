package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/strand-db/strand/internal/config"
	"github.com/strand-db/strand/internal/journal"
	"github.com/strand-db/strand/internal/server/servertest"
	"github.com/strand-db/strand/internal/store/postgres/pgtest"
)

// On PostgreSQL, strand verify reports a flipped byte in a ledger's fence
// row (exit 1, naming the row and the repair), strand repair lease rewrites
// the lease metadata, and verify then passes; a second repair finds
// nothing to do.
func TestVerifyAndRepairDamagedLease(t *testing.T) {
	db := pgtest.NewDatabase(t)
	n, drv := servertest.StartLedger(t, "fleet", func(c *config.Config) { c.Store = db })
	servertest.Commit(t, drv, "CREATE TABLE Cars", "INSERT INTO Cars VALUE {'vin': 'V1'}")
	id := n.LedgerEngine("fleet").ID
	n.Stop()

	st := n.OpenStore()
	fence := journal.LedgerLayout(id).Fence
	v, ok, err := st.Get(fence)
	if err != nil || !ok {
		t.Fatalf("get %s: %v %v", fence, ok, err)
	}
	v[3] ^= 0x10
	b := st.NewBatch()
	_ = b.Set(fence, v)
	if err := st.Apply(b); err != nil {
		t.Fatal(err)
	}
	b.Close()
	_ = st.Close()

	code, out, errOut := runVerify("--store", db)
	if code != 1 || !strings.Contains(out, "ledger fleet: FAILED: lease metadata check of "+string(fence)) || !strings.Contains(out, "strand repair lease --ledger fleet") {
		t.Fatalf("verify of a damaged fence: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	repair := func() (int, string, string) {
		var o, e bytes.Buffer
		c := repairCmd([]string{"lease", "--store", db, "--ledger", "fleet"}, &o, &e)
		return c, o.String(), e.String()
	}
	if code, out, errOut := repair(); code != 0 || !strings.Contains(out, "lease metadata rewritten") {
		t.Fatalf("repair lease: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	if code, out, errOut := runVerify("--store", db); code != 0 {
		t.Fatalf("verify after the repair: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	if code, out, _ := repair(); code != 0 || !strings.Contains(out, "nothing to repair") {
		t.Fatalf("second repair: exit %d: %s", code, out)
	}
}
