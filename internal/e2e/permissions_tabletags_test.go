package e2e

import (
	"net/http"
	"testing"

	"github.com/strand-db/strand/internal/server/servertest"
)

// TestStandardModeTableTagConditions: aws:ResourceTag conditions on table
// ARNs read the table's tags (CREATE TABLE ... WITH (aws_tags ...)). A
// principal allowed qldb:PartiQLSelect on every table tagged team=blue may
// read the table created with that tag and not an untagged one, which
// fails as a missing table does.
func TestStandardModeTableTagConditions(t *testing.T) {
	e := startPermEnv(t)
	admin := e.driver(t, "admin", "ledg")
	servertest.MustQuery(t, admin, "CREATE TABLE Blue WITH (aws_tags = `{'team': 'blue'}`)")
	servertest.MustQuery(t, admin, "INSERT INTO Blue VALUE {'model': 'b'}")

	e.writePolicies(t, map[string]any{
		"admin": doc(stmt("Allow", []string{"qldb:*", "iam:PassRole", "strand:*"}, "*")),
		"tagged": doc(stmt("Allow", "qldb:SendCommand", "arn:aws:qldb:*:*:ledger/*"),
			map[string]any{"Effect": "Allow", "Action": "qldb:PartiQLSelect", "Resource": e.ledgerARN + "/table/*",
				"Condition": map[string]any{"StringEquals": map[string]any{"aws:ResourceTag/team": "blue"}}}),
	})
	if code, body := e.reload(t, "admin"); code != http.StatusOK {
		t.Fatalf("reload: HTTP %d %s", code, body)
	}
	drv := e.driver(t, "tagged", "ledg")
	rows, err := servertest.Query(drv, "SELECT * FROM Blue")
	if err != nil || len(rows) != 1 {
		t.Fatalf("SELECT from the table tagged team=blue: %d rows, %v; want 1 row", len(rows), err)
	}
	if _, err := servertest.Query(drv, "SELECT * FROM Cars"); err == nil {
		t.Fatal("SELECT from an untagged table was allowed by a team=blue condition")
	}
}
