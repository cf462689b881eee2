package main

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/strand-db/strand/internal/config"
	"github.com/strand-db/strand/internal/ionvalue"
	"github.com/strand-db/strand/internal/journal"
	"github.com/strand-db/strand/internal/ledger"
	"github.com/strand-db/strand/internal/server/servertest"
	"github.com/strand-db/strand/internal/store"
	"github.com/strand-db/strand/internal/store/postgres/pgtest"
)

// rebuildQueries are answered before the damage and after the rebuild:
// every table, lookups through an index created before the documents and
// one created after them, the history, and the catalogue.
var rebuildQueries = []string{
	"SELECT * FROM Cars",
	"SELECT * FROM Owners",
	"SELECT * FROM Cars WHERE vin = 'V3'",
	"SELECT * FROM Owners WHERE name = 'n2'",
	"SELECT * FROM Owners WHERE name = 'renamed'",
	"SELECT * FROM history(Cars)",
	"SELECT * FROM history(Owners)",
	"SELECT * FROM information_schema.user_tables",
}

// rebuildFixture runs a node (on the store mutate picks), fills ledger
// "fleet" through the QLDB driver, answers rebuildQueries, stops the node
// and returns it with the answers, the ledger id and the store flags of the
// offline commands.
func rebuildFixture(t *testing.T, mutate func(*config.Config)) (*servertest.Node, map[string]string, string, []string) {
	t.Helper()
	n, drv := servertest.StartLedger(t, "fleet", mutate)
	servertest.Commit(t, drv, "CREATE TABLE Cars", "CREATE TABLE Owners", "CREATE INDEX ON Cars (vin)")
	for i := 0; i < 12; i++ {
		servertest.Commit(t, drv, fmt.Sprintf("INSERT INTO Cars VALUE {'vin': 'V%d', 'n': %d}", i%5, i),
			fmt.Sprintf("INSERT INTO Owners VALUE {'name': 'n%d', 'n': %d}", i%4, i))
	}
	servertest.Commit(t, drv, "UPDATE Cars SET vin = 'V3' WHERE n < 3", "DELETE FROM Owners WHERE n > 9")
	servertest.Commit(t, drv, "CREATE INDEX ON Owners (name)")
	servertest.Commit(t, drv, "UPDATE Owners SET name = 'renamed' WHERE name = 'n1'", "DELETE FROM Cars WHERE vin = 'V3' AND n > 8")
	servertest.Commit(t, drv, "CREATE TABLE Gone", "INSERT INTO Gone VALUE {'g': 1}")
	servertest.Commit(t, drv, "DROP TABLE Gone")
	want := answers(t, n)
	n.Stop()

	st := n.OpenStore()
	defer st.Close()
	cat, err := ledger.Open(st, ledger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	l, err := cat.Describe("fleet")
	if err != nil {
		t.Fatal(err)
	}
	flags := []string{"--data-dir", n.Config.DataDir}
	if n.Config.Store != "" {
		flags = append(flags, "--store", n.Config.Store)
	}
	return n, want, l.ID, flags
}

func answers(t *testing.T, n *servertest.Node) map[string]string {
	t.Helper()
	drv := n.Driver("fleet")
	out := map[string]string{}
	for _, q := range rebuildQueries {
		var b strings.Builder
		for _, v := range servertest.MustQuery(t, drv, q) {
			b.WriteString(ionvalue.MarshalText(v))
			b.WriteByte('\n')
		}
		out[q] = b.String()
	}
	return out
}

// ledgerKeys returns every key and value under the ledger's prefix except
// the cluster's lease and fencing keys, which a node rewrites when it takes
// or releases the ledger.
func ledgerKeys(t *testing.T, st store.Store, id string) map[string]string {
	t.Helper()
	lay := journal.LedgerLayout(id)
	out := map[string]string{}
	err := st.Scan(lay.Prefix, store.PrefixEnd(lay.Prefix), func(k, v []byte) bool {
		if !bytes.Equal(k, lay.Lease) && !bytes.Equal(k, lay.Fence) {
			out[string(k)] = string(v)
		}
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// damageDerived deletes every derived record but the catalogue (all), or
// overwrites one latest revision, replaces one index entry by one naming a
// wrong document and deletes three history entries.
func damageDerived(t *testing.T, n *servertest.Node, id string, keys map[string]string, all bool) {
	t.Helper()
	st := n.OpenStore()
	defer st.Close()
	b := st.NewBatch()
	defer b.Close()
	p := "l/" + id + "/"
	var d, x, h int
	for k, v := range keys {
		var err error
		switch rel := k[len(p):]; {
		case all && strings.Contains("d/h/x/r/m/", rel[:2]):
			err = b.Delete([]byte(k))
		case all:
		case strings.HasPrefix(rel, "d/") && d == 0:
			d++
			err = b.Set([]byte(k), []byte(v[:len(v)/2]))
		case strings.HasPrefix(rel, "x/") && x == 0:
			x++
			if err = b.Delete([]byte(k)); err == nil {
				err = b.Set([]byte(k+"X"), nil)
			}
		case strings.HasPrefix(rel, "h/") && h < 3:
			h++
			err = b.Delete([]byte(k))
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Apply(b); err != nil {
		t.Fatal(err)
	}
}

// checkRebuild damages the derived records, runs strand repair
// rebuild-derived and checks: verify fails before and passes after, every
// record is byte for byte what it was before the damage, and a restarted
// node answers the queries as before.
func checkRebuild(t *testing.T, n *servertest.Node, want map[string]string, id string, flags []string, all bool) {
	t.Helper()
	st := n.OpenStore()
	before := ledgerKeys(t, st, id)
	st.Close()
	damageDerived(t, n, id, before, all)
	if code, out, errOut := runVerify(flags...); code != 1 {
		t.Fatalf("verify after the damage: exit %d, want 1\n%s%s", code, out, errOut)
	}
	code, out, errOut := runRepair(append(append([]string{"rebuild-derived"}, flags...), "--ledger", "fleet")...)
	if code != 0 || !strings.Contains(out, "ledger fleet: rebuilt from ") || !strings.Contains(out, "3 tables checked") {
		t.Fatalf("rebuild-derived: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	if code, out, errOut := runVerify(flags...); code != 0 {
		t.Fatalf("verify after the rebuild: exit %d\n%s%s", code, out, errOut)
	}
	st = n.OpenStore()
	after := ledgerKeys(t, st, id)
	st.Close()
	for k, v := range before {
		if got, ok := after[k]; !ok {
			t.Errorf("%q missing after the rebuild", k)
		} else if got != v {
			t.Errorf("%q: rebuilt %x, the server wrote %x", k, got, v)
		}
	}
	for k := range after {
		if _, ok := before[k]; !ok {
			t.Errorf("%q is new after the rebuild", k)
		}
	}
	n2 := servertest.StartConfig(t, n.Config)
	got := answers(t, n2)
	for _, q := range rebuildQueries {
		if got[q] != want[q] {
			t.Errorf("%s after the rebuild:\n%s\nwant:\n%s", q, got[q], want[q])
		}
	}
	n2.Stop()
}

// TestRepairRebuildDerived: strand repair rebuild-derived restores a
// ledger whose derived records were all deleted, and then one whose
// records were partly corrupted, on the store the test suite runs on.
func TestRepairRebuildDerived(t *testing.T) {
	n, want, id, flags := rebuildFixture(t, nil)
	if code, _, errOut := runRepair("rebuild-derived", "--data-dir", n.Config.DataDir); code != 2 || !strings.Contains(errOut, "Usage") {
		t.Errorf("without --ledger: exit %d, %s", code, errOut)
	}
	if code, _, errOut := runRepair(append(append([]string{"rebuild-derived"}, flags...), "--ledger", "nope")...); code != 2 || !strings.Contains(errOut, "does not exist") {
		t.Errorf("unknown ledger: exit %d, %s", code, errOut)
	}
	t.Run("all deleted", func(t *testing.T) { checkRebuild(t, n, want, id, flags, true) })
	t.Run("some corrupted", func(t *testing.T) { checkRebuild(t, n, want, id, flags, false) })
}

// TestRepairRebuildDerivedPostgres runs strand verify and strand repair
// rebuild-derived with --store on a PostgreSQL database, and checks that
// the rebuild refuses a ledger a running node holds.
func TestRepairRebuildDerivedPostgres(t *testing.T) {
	url := pgtest.NewDatabase(t)
	n, want, id, flags := rebuildFixture(t, func(c *config.Config) { c.Store = url })
	if code, out, errOut := runVerify(flags...); code != 0 || !strings.Contains(out, "ledger fleet: OK") {
		t.Fatalf("verify --store: exit %d\n%s%s", code, out, errOut)
	}

	running := servertest.StartConfig(t, n.Config)
	servertest.MustQuery(t, running.Driver("fleet"), "SELECT * FROM Cars WHERE vin = 'V0'")
	code, _, errOut := runRepair(append(append([]string{"rebuild-derived"}, flags...), "--ledger", "fleet")...)
	if code != 2 || !strings.Contains(errOut, "stop the nodes first") {
		t.Errorf("rebuild while a node holds the ledger: exit %d, %s", code, errOut)
	}
	running.Stop()

	checkRebuild(t, n, want, id, flags, false)
}
