package e2e

import (
	"fmt"
	"strings"
	"testing"

	"github.com/awslabs/amazon-qldb-driver-go/v3/qldbdriver"

	"github.com/strand-db/strand/internal/config"
	"github.com/strand-db/strand/internal/ionvalue"
	"github.com/strand-db/strand/internal/server/servertest"
	"github.com/strand-db/strand/internal/testenv"
)

// TestPartiQLExtensionsOffByDefault: without --partiql-extensions, ORDER
// BY, LIMIT, OFFSET and CREATE UNIQUE INDEX are refused as QLDB refused
// them, with a message naming the flag (issue 13, item 7).
func TestPartiQLExtensionsOffByDefault(t *testing.T) {
	_, drv := servertest.StartLedger(t, "strict", nil)
	servertest.Commit(t, drv, "CREATE TABLE T", "INSERT INTO T VALUE {'n': 1}")
	for _, stmt := range []string{
		"SELECT * FROM T ORDER BY n",
		"SELECT * FROM T LIMIT 1",
		"SELECT * FROM T OFFSET 1",
		"SELECT * FROM T WHERE n IN (SELECT VALUE n FROM T ORDER BY n)",
		"CREATE UNIQUE INDEX ON T (n)",
	} {
		_, err := servertest.Query(drv, stmt)
		if err == nil {
			t.Errorf("%s: accepted in the default mode", stmt)
			continue
		}
		if _, msg := servertest.StatementError(t, err); !strings.Contains(msg, "not supported by QLDB PartiQL") || !strings.Contains(msg, "--partiql-extensions") {
			t.Errorf("%s: %s", stmt, msg)
		}
	}
}

// TestPartiQLExtensions runs ORDER BY, LIMIT, OFFSET and unique indexes
// through the QLDB Go driver on a server started with
// --partiql-extensions (issue 13, item 7).
func TestPartiQLExtensions(t *testing.T) {
	n, drv := servertest.StartLedger(t, "ext", func(c *config.Config) { c.PartiQLExtensions = true })
	servertest.Commit(t, drv, "CREATE TABLE T")
	var docs []string
	for i := 0; i < 10; i++ {
		docs = append(docs, fmt.Sprintf("{'n': %d, 'g': %d}", i, i%3))
	}
	docs = append(docs, "{'n': 10}", "{'n': 11, 'g': null}")
	servertest.Commit(t, drv, "INSERT INTO T << "+strings.Join(docs, ", ")+" >>")
	ints := func(rows []*ionvalue.Value) string {
		var out []string
		for _, r := range rows {
			out = append(out, ionvalue.MarshalText(r))
		}
		return strings.Join(out, " ")
	}
	for _, c := range []struct {
		stmt   string
		params []any
		want   string
	}{
		{"SELECT VALUE n FROM T ORDER BY n DESC LIMIT 3", nil, "11 10 9"},
		{"SELECT VALUE n FROM T WHERE g IS NOT NULL ORDER BY g, n DESC", nil, "9 6 3 0 7 4 1 8 5 2"},
		{"SELECT VALUE n FROM T WHERE n < 9 ORDER BY g DESC, n LIMIT 2 OFFSET 1", nil, "5 8"},
		{"SELECT VALUE n FROM T ORDER BY g NULLS LAST, n LIMIT 2 OFFSET ?", []any{10}, "10 11"},
		{"SELECT VALUE n FROM T ORDER BY g ASC NULLS FIRST, n LIMIT 3", nil, "10 11 0"},
		{"SELECT n AS x FROM T ORDER BY x DESC LIMIT ?", []any{1}, "{x:11}"},
		{"SELECT VALUE n FROM T ORDER BY n LIMIT 0", nil, ""},
		{"SELECT COUNT(*) AS c FROM T LIMIT 1", nil, "{c:12}"},
		{"SELECT VALUE t.n FROM T AS t WHERE t.n IN (SELECT VALUE x.n FROM T AS x ORDER BY x.n DESC LIMIT 2) ORDER BY t.n", nil, "10 11"},
	} {
		rows, err := servertest.Query(drv, c.stmt, c.params...)
		if err != nil {
			t.Errorf("%s: %v", c.stmt, err)
			continue
		}
		if got := ints(rows); got != c.want {
			t.Errorf("%s: got %q, want %q", c.stmt, got, c.want)
		}
	}
	for _, bad := range []string{"SELECT * FROM T LIMIT -1", "SELECT * FROM T LIMIT 'a'", "SELECT * FROM T OFFSET 1.5"} {
		_, err := servertest.Query(drv, bad)
		if err == nil {
			t.Errorf("%s: accepted", bad)
		} else if _, msg := servertest.StatementError(t, err); !strings.Contains(msg, "non-negative integer") {
			t.Errorf("%s: %s", bad, msg)
		}
	}

	// Unique indexes.
	servertest.Commit(t, drv, "CREATE TABLE U", "CREATE UNIQUE INDEX ON U (email)")
	servertest.Commit(t, drv, "INSERT INTO U << {'email': 'a@x', 'v': 1}, {'email': 'b@x'}, {'v': 2}, {'v': 3} >>")
	dup := func(stmt string) {
		t.Helper()
		_, err := servertest.Query(drv, stmt)
		if err == nil {
			t.Fatalf("%s: accepted", stmt)
		}
		if _, msg := servertest.StatementError(t, err); !strings.Contains(msg, "unique index on U.email") {
			t.Fatalf("%s: %s", stmt, msg)
		}
	}
	dup("INSERT INTO U VALUE {'email': 'a@x'}")
	dup("INSERT INTO U << {'email': 'c@x'}, {'email': 'c@x'} >>")
	dup("UPDATE U SET email = 'a@x' WHERE email = 'b@x'")
	servertest.MustQuery(t, drv, "UPDATE U SET v = 5 WHERE email = 'a@x'") // keeps its own value
	servertest.MustQuery(t, drv, "DELETE FROM U WHERE email = 'b@x'")
	servertest.MustQuery(t, drv, "INSERT INTO U VALUE {'email': 'b@x'}") // free again
	if rows := servertest.MustQuery(t, drv, "SELECT VALUE email FROM U WHERE email IS NOT MISSING ORDER BY email"); ints(rows) != `"a@x" "b@x"` {
		t.Fatalf("emails: %v", testenv.IonTexts(rows))
	}
	servertest.Commit(t, drv, "CREATE TABLE D", "INSERT INTO D << {'k': 1}, {'k': 1.0} >>")
	if _, err := servertest.Query(drv, "CREATE UNIQUE INDEX ON D (k)"); err == nil || !strings.Contains(err.Error(), "cannot create a unique index") {
		t.Fatalf("unique index over duplicates: %v", err)
	}

	// Two concurrent transactions inserting the same value: the second to
	// commit conflicts (its check read the value).
	once := n.Driver("ext", func(o *qldbdriver.DriverOptions) { o.RetryPolicy.MaxRetryLimit = 0 })
	bDone := make(chan error, 1)
	inA := make(chan struct{})
	go func() {
		<-inA
		_, err := servertest.Query(drv, "INSERT INTO U VALUE {'email': 'race@x'}")
		bDone <- err
	}()
	_, err := once.Execute(bg, func(tx qldbdriver.Transaction) (any, error) {
		if _, err := tx.Execute("INSERT INTO U VALUE {'email': 'race@x'}"); err != nil {
			return nil, err
		}
		close(inA)
		return nil, <-bDone
	})
	if err == nil || !strings.Contains(err.Error(), "OccConflict") {
		t.Fatalf("concurrent duplicate insert: %v", err)
	}
	if rows := servertest.MustQuery(t, drv, "SELECT * FROM U WHERE email = 'race@x'"); len(rows) != 1 {
		t.Fatalf("race@x: %d documents", len(rows))
	}
}
