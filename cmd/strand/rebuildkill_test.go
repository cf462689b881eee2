package main

import (
	"errors"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"github.com/strand-db/strand/internal/config"
	"github.com/strand-db/strand/internal/ledger"
	"github.com/strand-db/strand/internal/server/servertest"
	pebblestore "github.com/strand-db/strand/internal/store/pebble"
	"github.com/strand-db/strand/internal/testenv/ledgerfill"
	"github.com/strand-db/strand/internal/txn"
)

// envRebuildChild names the data directory of the child process of
// TestRebuildDerivedKilledMidway.
const envRebuildChild = "STRAND_TEST_REBUILD_CHILD"

// verifyLine is strand verify's OK line of ledger cars without its rate.
var verifyLine = regexp.MustCompile(`ledger cars: OK: [^;]*; digest \S+ at \S+`)

// TestRebuildDerivedKilledMidway: a rebuild of derived state killed with
// SIGKILL partway (a child process runs txn.RebuildDerived, as strand
// repair rebuild-derived does, and kills itself after the first batch of
// replayed blocks is durable) leaves the ledger's derived records
// incomplete, which strand verify reports; running strand repair
// rebuild-derived again completes them: verify passes with the same
// counts and digest as before, and a node serves the ledger with every
// document.
func TestRebuildDerivedKilledMidway(t *testing.T) {
	if dir := os.Getenv(envRebuildChild); dir != "" {
		st, err := pebblestore.Open(dir, pebblestore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		cat, err := ledger.Open(st, ledger.Options{})
		if err != nil {
			t.Fatal(err)
		}
		l, err := cat.Describe("cars")
		if err != nil {
			t.Fatal(err)
		}
		_, err = txn.RebuildDerived(st, l.ID, func(s txn.RebuildStats) {
			if s.Phase == "journal" && s.Blocks > 0 {
				_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
				select {}
			}
		})
		t.Fatalf("the rebuild ended (%v) before the child killed itself", err)
	}
	servertest.RequireEmbeddedStore(t, "a child process rebuilds the data directory")
	dir := t.TempDir()
	if err := ledgerfill.Build(dir, "cars", 2500, ledgerfill.Options{Sessions: 8}); err != nil {
		t.Fatal(err)
	}
	count := func() int64 {
		cfg := config.Default()
		cfg.Listen, cfg.DataDir = "127.0.0.1:0", dir
		n := servertest.StartConfig(t, cfg)
		defer n.Stop()
		return servertest.MustQuery(t, n.Driver("cars"), "SELECT COUNT(*) AS c FROM T")[0].Get("c").Int
	}
	docs := count()
	code, out, errOut := runVerify("--data-dir", dir)
	before := verifyLine.FindString(out)
	if code != 0 || before == "" {
		t.Fatalf("verify before: exit %d\n%s%s", code, out, errOut)
	}

	cmd := exec.Command(os.Args[0], "-test.run=^TestRebuildDerivedKilledMidway$", "-test.count=1")
	cmd.Env = append(os.Environ(), envRebuildChild+"="+dir)
	cout, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("child: %v, want killed by SIGKILL\n%s", err, cout)
	}
	if code, out, errOut := runVerify("--data-dir", dir); code != 1 {
		t.Fatalf("verify after the interrupted rebuild: exit %d, want 1 (derived records incomplete)\n%s%s", code, out, errOut)
	}
	if code, out, errOut := runRepair("rebuild-derived", "--data-dir", dir, "--ledger", "cars"); code != 0 || !strings.Contains(out, "ledger cars: rebuilt from 2") {
		t.Fatalf("rebuild-derived again: exit %d\n%s%s", code, out, errOut)
	}
	code, out, errOut = runVerify("--data-dir", dir)
	if after := verifyLine.FindString(out); code != 0 || after != before {
		t.Fatalf("verify after the rerun: exit %d, %q, want %q\n%s", code, after, before, errOut)
	}
	// (The count is a transaction, which commits a block: after the
	// comparison of the verify lines.)
	if got := count(); got != docs {
		t.Fatalf("after the rerun the node counts %d documents, want %d", got, docs)
	}
}
