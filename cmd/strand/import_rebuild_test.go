package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/awslabs/amazon-qldb-driver-go/v3/qldbdriver"

	"github.com/strand-db/strand/internal/server/servertest"
)

// TestRebuildDerivedAfterImport: strand repair rebuild-derived works on a
// ledger imported from a QLDB export and then committed to. The imported
// blocks' table system revisions are QLDB's (their data is not in an
// export), so only the ones Strand wrote after the import are matched
// against the catalogue: the rebuild restores every derived record byte
// for byte, and a catalogue entry of a table Strand changed after the
// import that does not match its system revision is still refused.
func TestRebuildDerivedAfterImport(t *testing.T) {
	p := exportImport(t, func(drv *qldbdriver.QLDBDriver) {
		servertest.Commit(t, drv, "CREATE TABLE Cars", "CREATE INDEX ON Cars (vin)")
		servertest.Commit(t, drv, "CREATE TABLE Empty")
		for i := 0; i < 5; i++ {
			servertest.Commit(t, drv, fmt.Sprintf("INSERT INTO Cars VALUE {'vin': 'V%d'}", i))
		}
	})
	drv := p.b.Driver("fleet")
	// After the import: an imported table changed (an index), an imported
	// table left as it was (Cars), and a new table.
	servertest.Commit(t, drv, "INSERT INTO Empty VALUE {'e': 1}", "CREATE INDEX ON Empty (e)")
	servertest.Commit(t, drv, "CREATE TABLE Fresh", "INSERT INTO Fresh VALUE {'f': 1}")
	servertest.Commit(t, drv, "INSERT INTO Cars VALUE {'vin': 'V9'}")
	_, ids := userTables(t, drv)
	id := p.b.LedgerEngine("fleet").ID
	cfg := p.b.Config
	p.b.Stop()
	flags := []string{"--data-dir", cfg.DataDir}
	if cfg.Store != "" {
		flags = append(flags, "--store", cfg.Store)
	}

	st := p.b.OpenStore()
	before := ledgerKeys(t, st, id)
	st.Close()
	damageDerived(t, p.b, id, before, true)
	code, out, errOut := runRepair(append(append([]string{"rebuild-derived"}, flags...), "--ledger", "fleet")...)
	if code != 0 || !strings.Contains(out, "3 tables checked") {
		t.Fatalf("rebuild-derived of an imported ledger: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	if code, out, errOut := runVerify(flags...); code != 0 {
		t.Fatalf("verify after the rebuild: exit %d\n%s%s", code, out, errOut)
	}
	st = p.b.OpenStore()
	after := ledgerKeys(t, st, id)
	st.Close()
	for k, v := range before {
		if after[k] != v {
			t.Errorf("%q differs after the rebuild", k)
		}
	}
	if len(after) != len(before) {
		t.Errorf("%d records after the rebuild, %d before", len(after), len(before))
	}

	// A catalogue entry of a table Strand changed after the import that
	// no longer matches its system revision is refused, changing nothing.
	for _, name := range []string{"Empty/ACTIVE", "Fresh/ACTIVE"} {
		key := "l/" + id + "/t/" + ids[name]
		raw, ok := after[key]
		if !ok {
			t.Fatalf("no catalogue entry %q", key)
		}
		var entry map[string]any
		if err := json.Unmarshal([]byte(raw), &entry); err != nil {
			t.Fatal(err)
		}
		entry["name"] = "Renamed"
		forged, _ := json.Marshal(entry)
		setKey(t, p.b, key, forged)
		code, out, errOut := runRepair(append(append([]string{"rebuild-derived"}, flags...), "--ledger", "fleet")...)
		if code == 0 || !strings.Contains(out+errOut, "catalogue") {
			t.Errorf("%s: rebuild-derived with a forged catalogue entry: exit %d\n%s%s", name, code, out, errOut)
		}
		setKey(t, p.b, key, []byte(raw))
	}
}

// setKey writes one record into the stopped node's store.
func setKey(t *testing.T, n *servertest.Node, key string, value []byte) {
	t.Helper()
	st := n.OpenStore()
	defer st.Close()
	b := st.NewBatch()
	defer b.Close()
	if err := b.Set([]byte(key), value); err != nil {
		t.Fatal(err)
	}
	if err := st.Apply(b); err != nil {
		t.Fatal(err)
	}
}
