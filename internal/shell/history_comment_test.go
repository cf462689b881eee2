package shell

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/strand-db/strand/internal/server/servertest"
)

// TestHistoryDropsLineComments: a statement typed over several lines is
// kept in history on one line, so a -- comment in it is left out (kept, it
// would swallow the rest of the recalled statement); -- inside a string
// stays.
func TestHistoryDropsLineComments(t *testing.T) {
	node := servertest.Start(t, nil)
	node.CreateLedger("hist")
	servertest.Commit(t, node.Driver("hist"), "CREATE TABLE t")
	hist, err := OpenHistory("", nil)
	if err != nil {
		t.Fatal(err)
	}
	script := "SELECT *   -- every row\nFROM t AS x -- of t\nWHERE x.a <> '--';\n-- a comment alone\nSELECT VALUE 1 FROM t; -- after\n"
	var out, errOut bytes.Buffer
	code := Run(context.Background(), Options{Ledger: "hist", Client: node.Session(servertest.AccessKeyID, servertest.SecretAccessKey),
		Lines: NewPipeReader(strings.NewReader(script)), Out: &out, Err: &errOut, History: hist})
	if code != 0 {
		t.Fatalf("exit %d\nstderr:\n%s", code, errOut.String())
	}
	want := []string{"SELECT * FROM t AS x WHERE x.a <> '--';", "SELECT VALUE 1 FROM t;"}
	if got := hist.Entries(); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("history = %q, want %q", got, want)
	}
}
