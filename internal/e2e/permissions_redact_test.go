package e2e

import (
	"net/http"
	"strings"
	"testing"

	"github.com/strand-db/strand/internal/journal"
	"github.com/strand-db/strand/internal/server/servertest"
)

// TestStandardModeRedaction: in a STANDARD ledger EXEC redact_revision
// needs qldb:PartiQLRedact on the revision's table. A principal allowed
// it on Cars may redact a past revision of Cars; one allowed only
// PartiQLSelect is refused as for a missing table, and the revision keeps
// its data.
func TestStandardModeRedaction(t *testing.T) {
	e := startPermEnv(t)
	admin := e.driver(t, "admin", "ledg")
	servertest.MustQuery(t, admin, "UPDATE Cars SET model = 'a2'")
	hist := servertest.MustQuery(t, admin, "SELECT * FROM history(Cars) AS h")
	if len(hist) != 2 {
		t.Fatalf("history of Cars has %d revisions, want 2", len(hist))
	}
	old := hist[0]
	addr, err := journal.AddressFromIon(old.Get("blockAddress"))
	if err != nil {
		t.Fatal(err)
	}
	docID := strField(t, old.Get("metadata"), "id")
	addrParam := map[string]any{"strandId": addr.StrandID, "sequenceNo": int64(addr.SequenceNo)}

	pols := map[string]any{
		"admin":       doc(stmt("Allow", []string{"qldb:*", "iam:PassRole", "strand:*"}, "*")),
		"only-Redact": doc(stmt("Allow", "qldb:SendCommand", "arn:aws:qldb:*:*:ledger/*"), stmt("Allow", "qldb:PartiQLRedact", e.tableARN("Cars"))),
		"only-Select": doc(stmt("Allow", "qldb:SendCommand", "arn:aws:qldb:*:*:ledger/*"), stmt("Allow", "qldb:PartiQLSelect", e.tableARN("Cars"))),
	}
	e.writePolicies(t, pols)
	if code, body := e.reload(t, "admin"); code != http.StatusOK {
		t.Fatalf("reload: HTTP %d %s", code, body)
	}

	const redact = "EXEC redact_revision ?, ?, ?"
	if _, err := servertest.Query(e.driver(t, "only-Select", "ledg"), redact, addrParam, e.ids["Cars"], docID); err == nil {
		t.Fatal("a principal without qldb:PartiQLRedact redacted a revision")
	} else if _, msg := servertest.StatementError(t, err); !strings.Contains(msg, "No such") && !strings.Contains(strings.ToLower(msg), "not authorized") {
		t.Fatalf("denied redaction: %q, want the STANDARD-mode refusal", msg)
	}
	if got := servertest.MustQuery(t, admin, "SELECT * FROM history(Cars) AS h"); got[0].Get("data") == nil {
		t.Fatal("a refused redaction removed the revision's data")
	}

	redactor := e.driver(t, "only-Redact", "ledg")
	if _, err := servertest.Query(redactor, redact, addrParam, e.ids["Cars"], docID); err != nil {
		t.Fatalf("redaction with qldb:PartiQLRedact: %v", err)
	}
	got := servertest.MustQuery(t, admin, "SELECT * FROM history(Cars) AS h")
	if got[0].Get("data") != nil || got[0].Get("dataHash") == nil {
		t.Fatalf("after the redaction the old revision is %v, want dataHash in place of data", got[0])
	}
}
