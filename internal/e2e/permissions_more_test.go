package e2e

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/qldb"
	qldbtypes "github.com/aws/aws-sdk-go-v2/service/qldb/types"
	"github.com/awslabs/amazon-qldb-driver-go/v3/qldbdriver"

	"github.com/strand-db/strand/internal/server/servertest"
)

func (e *permEnv) adminPolicy() map[string]any {
	return doc(stmt("Allow", []string{"qldb:*", "iam:PassRole", "strand:*"}, "*"))
}

func (e *permEnv) principalARN(name string) string {
	return "arn:aws:iam::" + e.n.Config.AccountID + ":user/" + name
}

func (e *permEnv) arnOf(ledgerName string) string {
	return strings.TrimSuffix(e.ledgerARN, "ledg") + ledgerName
}

func (e *permEnv) mustReload(t *testing.T, pols map[string]any) {
	t.Helper()
	pols["admin"] = e.adminPolicy()
	e.writePolicies(t, pols)
	if code, body := e.reload(t, "admin"); code != http.StatusOK {
		t.Fatalf("reload: HTTP %d %s", code, body)
	}
}

// wantDenied fails unless err is AWS's AccessDeniedException (403) with
// the message "User: <principal ARN> is not authorized to perform:
// <action> on resource: <resource>".
func wantDenied(t *testing.T, err error, principalARN, action, resource string) {
	t.Helper()
	ae := servertest.WantAPIError(t, err, "AccessDeniedException", http.StatusForbidden)
	want := "User: " + principalARN + " is not authorized to perform: " + action + " on resource: " + resource
	if !strings.HasPrefix(ae.ErrorMessage(), want) {
		t.Fatalf("message %q, want it to begin %q", ae.ErrorMessage(), want)
	}
}

// TestPolicyControlPlane: each control-plane operation is checked as its
// qldb: action on the ledger's ARN; NotAction, explicit deny over allow,
// aws:ResourceTag, aws:RequestTag and aws:TagKeys conditions.
func TestPolicyControlPlane(t *testing.T) {
	e := startPermEnv(t)
	ctx := context.Background()
	e.mustReload(t, map[string]any{
		// An operator who manages ledgers but reads no data.
		"ops": doc(map[string]any{"Effect": "Allow", "NotAction": []string{"qldb:PartiQL*", "qldb:SendCommand", "qldb:Get*"}, "Resource": "*"},
			stmt("Deny", "qldb:DeleteLedger", e.arnOf("ledg"))),
		"auditor": doc(stmt("Allow", []string{"qldb:GetDigest", "qldb:GetBlock", "qldb:GetRevision"}, "arn:aws:qldb:*:*:ledger/*")),
		"tagged": doc(
			map[string]any{"Effect": "Allow", "Action": "qldb:DescribeLedger", "Resource": "*",
				"Condition": map[string]any{"StringEquals": map[string]any{"aws:ResourceTag/env": "dev"}}},
			map[string]any{"Effect": "Allow", "Action": "qldb:CreateLedger", "Resource": "*",
				"Condition": map[string]any{"StringEquals": map[string]any{"aws:RequestTag/env": "dev"},
					"ForAllValues:StringEquals": map[string]any{"aws:TagKeys": []string{"env", "team"}}}}),
	})

	// ops: everything but data, digests and deleting ledg.
	ops := e.qldb("ops")
	if _, err := ops.DescribeLedger(ctx, &qldb.DescribeLedgerInput{Name: aws.String("ledg")}); err != nil {
		t.Fatalf("ops DescribeLedger: %v", err)
	}
	if _, err := ops.ListLedgers(ctx, &qldb.ListLedgersInput{}); err != nil {
		t.Fatalf("ops ListLedgers: %v", err)
	}
	_, err := ops.DeleteLedger(ctx, &qldb.DeleteLedgerInput{Name: aws.String("ledg")})
	wantDenied(t, err, e.principalARN("ops"), "qldb:DeleteLedger", e.arnOf("ledg"))
	if ae := servertest.APIError(t, err); !strings.HasSuffix(ae.ErrorMessage(), "with an explicit deny in an identity-based policy") {
		t.Errorf("explicit deny message %q", ae.ErrorMessage())
	}
	_, err = ops.GetDigest(ctx, &qldb.GetDigestInput{Name: aws.String("ledg")})
	wantDenied(t, err, e.principalARN("ops"), "qldb:GetDigest", e.arnOf("ledg"))
	_, err = servertest.Query(e.driver(t, "ops", "ledg"), "SELECT * FROM Cars")
	wantDenied(t, err, e.principalARN("ops"), "qldb:SendCommand", e.arnOf("ledg"))

	// auditor: digests, not the catalogue.
	aud := e.qldb("auditor")
	if _, err := aud.GetDigest(ctx, &qldb.GetDigestInput{Name: aws.String("ledg")}); err != nil {
		t.Fatalf("auditor GetDigest: %v", err)
	}
	_, err = aud.DescribeLedger(ctx, &qldb.DescribeLedgerInput{Name: aws.String("ledg")})
	wantDenied(t, err, e.principalARN("auditor"), "qldb:DescribeLedger", e.arnOf("ledg"))
	_, err = aud.ListLedgers(ctx, &qldb.ListLedgersInput{})
	wantDenied(t, err, e.principalARN("auditor"), "qldb:ListLedgers", "*")
	_, err = aud.UpdateLedgerPermissionsMode(ctx, &qldb.UpdateLedgerPermissionsModeInput{Name: aws.String("ledg"), PermissionsMode: qldbtypes.PermissionsModeAllowAll})
	wantDenied(t, err, e.principalARN("auditor"), "qldb:UpdateLedgerPermissionsMode", e.arnOf("ledg"))
	_, err = aud.TagResource(ctx, &qldb.TagResourceInput{ResourceArn: aws.String(e.arnOf("ledg")), Tags: map[string]*string{"k": aws.String("v")}})
	wantDenied(t, err, e.principalARN("auditor"), "qldb:TagResource", e.arnOf("ledg"))

	// tagged: tag conditions on the resource and on the request.
	tg := e.qldb("tagged")
	if _, err := tg.DescribeLedger(ctx, &qldb.DescribeLedgerInput{Name: aws.String("ledg")}); err != nil {
		t.Fatalf("tagged DescribeLedger of env=dev: %v", err)
	}
	_, err = tg.DescribeLedger(ctx, &qldb.DescribeLedgerInput{Name: aws.String("legacy")})
	wantDenied(t, err, e.principalARN("tagged"), "qldb:DescribeLedger", e.arnOf("legacy"))
	create := func(name string, tags map[string]string) error {
		in := &qldb.CreateLedgerInput{Name: aws.String(name), PermissionsMode: qldbtypes.PermissionsModeStandard, Tags: map[string]*string{}}
		for k, v := range tags {
			in.Tags[k] = aws.String(v)
		}
		_, err := tg.CreateLedger(ctx, in)
		return err
	}
	if err := create("tagged-dev", map[string]string{"env": "dev", "team": "a"}); err != nil {
		t.Fatalf("tagged CreateLedger env=dev: %v", err)
	}
	wantDenied(t, create("tagged-prod", map[string]string{"env": "prod"}), e.principalARN("tagged"), "qldb:CreateLedger", e.arnOf("tagged-prod"))
	wantDenied(t, create("tagged-extra", map[string]string{"env": "dev", "cost": "x"}), e.principalARN("tagged"), "qldb:CreateLedger", e.arnOf("tagged-extra"))
	// A refused CreateLedger created nothing.
	if _, err := e.qldb("admin").DescribeLedger(ctx, &qldb.DescribeLedgerInput{Name: aws.String("tagged-prod")}); err == nil {
		t.Fatal("a denied CreateLedger created its ledger")
	}
}

// TestPolicyPassRole: StreamJournalToKinesis needs iam:PassRole on the
// RoleArn besides qldb:StreamJournalToKinesis, as QLDB required.
func TestPolicyPassRole(t *testing.T) {
	e := startPermEnv(t)
	ctx := context.Background()
	role := "arn:aws:iam::" + e.n.Config.AccountID + ":role/qldb-kinesis"
	e.mustReload(t, map[string]any{
		"streamer": doc(stmt("Allow", "qldb:StreamJournalToKinesis", "*")),
		"passer": doc(stmt("Allow", "qldb:StreamJournalToKinesis", "arn:aws:qldb:*:*:stream/ledg/*"),
			map[string]any{"Effect": "Allow", "Action": "iam:PassRole", "Resource": role,
				"Condition": map[string]any{"StringEquals": map[string]any{"iam:PassedToService": "qldb.amazonaws.com"}}}),
	})
	in := func(roleARN string) *qldb.StreamJournalToKinesisInput {
		return &qldb.StreamJournalToKinesisInput{LedgerName: aws.String("ledg"), RoleArn: aws.String(roleARN), StreamName: aws.String("s"),
			InclusiveStartTime:   aws.Time(time.Now().Add(time.Hour)), // refused after authorization: in the future
			KinesisConfiguration: &qldbtypes.KinesisConfiguration{StreamArn: aws.String("arn:aws:kinesis:us-east-1:" + e.n.Config.AccountID + ":stream/x")}}
	}
	_, err := e.qldb("streamer").StreamJournalToKinesis(ctx, in(role))
	wantDenied(t, err, e.principalARN("streamer"), "iam:PassRole", role)
	_, err = e.qldb("passer").StreamJournalToKinesis(ctx, in(role+"-other"))
	wantDenied(t, err, e.principalARN("passer"), "iam:PassRole", role+"-other")
	_, err = e.qldb("passer").StreamJournalToKinesis(ctx, &qldb.StreamJournalToKinesisInput{LedgerName: aws.String("legacy"), RoleArn: aws.String(role),
		StreamName: aws.String("s"), InclusiveStartTime: aws.Time(time.Now()), KinesisConfiguration: in(role).KinesisConfiguration})
	wantDenied(t, err, e.principalARN("passer"), "qldb:StreamJournalToKinesis", "arn:aws:qldb:us-east-1:"+e.n.Config.AccountID+":stream/legacy/*")
	// Allowed both: the request gets past authorization to the stream's
	// own validation.
	_, err = e.qldb("passer").StreamJournalToKinesis(ctx, in(role))
	servertest.WantAPIError(t, err, "InvalidParameterException", http.StatusBadRequest)
}

// TestPolicyReadsAndReload: PartiQLSelect covers every table a statement
// reads (joins, the committed view, subqueries), history() needs
// PartiQLHistoryFunction, the catalog its own resource; an explicit deny
// beats a wildcard allow. A reload takes effect for the next statement of
// an open driver; a broken file is refused and changes nothing; only
// admins may reload.
func TestPolicyReadsAndReload(t *testing.T) {
	e := startPermEnv(t)
	app := func(catalog bool) map[string]any {
		st := []map[string]any{
			stmt("Allow", "qldb:SendCommand", e.ledgerARN),
			stmt("Allow", "qldb:PartiQLSelect", e.ledgerARN+"/table/*"),
			stmt("Deny", "qldb:PartiQLSelect", e.tableARN("Other")),
			stmt("Allow", "qldb:PartiQLHistoryFunction", e.tableARN("Cars")),
		}
		if catalog {
			st = append(st, stmt("Allow", "qldb:PartiQLSelect", e.ledgerARN+"/information_schema/user_tables"))
		}
		return doc(st...)
	}
	e.mustReload(t, map[string]any{"app": app(false)})
	drv := e.driver(t, "app", "ledg")
	admin := e.driver(t, "admin", "ledg")
	for _, c := range []struct {
		stmt    string
		allowed bool
	}{
		{"SELECT * FROM Cars", true},
		{"SELECT * FROM Other", false},
		{"SELECT * FROM Cars AS c, Other AS o", false},
		{"SELECT * FROM Cars AS c JOIN Other AS o ON c.model = o.model", false},
		{"SELECT * FROM Cars AS c, Cars AS d", true},
		{"SELECT * FROM _ql_committed_Cars", true},
		{"SELECT * FROM _ql_committed_Other", false},
		{"SELECT * FROM history(Cars)", true},
		{"SELECT * FROM history(Other)", false},
		{"SELECT * FROM history('" + e.ids["Other"] + "')", false},
		{"SELECT * FROM Cars AS c WHERE c.model IN (SELECT VALUE o.model FROM Other AS o)", false},
		{"SELECT * FROM information_schema.user_tables", false},
	} {
		if err := try(admin, c.stmt); err != nil {
			t.Fatalf("admin: %s: %v", c.stmt, err)
		}
		err := try(drv, c.stmt)
		if c.allowed != (err == nil) {
			t.Errorf("app: %s: err %v, want allowed=%v", c.stmt, err, c.allowed)
		}
	}
	err := try(drv, "SELECT * FROM information_schema.user_tables")
	if ae := servertest.APIError(t, err); !strings.Contains(ae.ErrorMessage(), "qldb:PartiQLSelect on resource: "+e.ledgerARN+"/information_schema/user_tables") {
		t.Errorf("catalog denial message %q", ae.ErrorMessage())
	}

	// A reload applies to the next statement of the open driver.
	e.mustReload(t, map[string]any{"app": app(true)})
	if err := try(drv, "SELECT * FROM information_schema.user_tables"); err != nil {
		t.Fatalf("after the reload: %v", err)
	}
	// Only admins reload; a broken file is refused and changes nothing.
	if code, body := e.reload(t, "app"); code != http.StatusForbidden || !strings.Contains(body, "strand:ReloadPolicies") {
		t.Fatalf("app reloads: HTTP %d %s", code, body)
	}
	if err := os.WriteFile(filepath.Join(e.policyDir, "policies.json"), []byte(`{"app": {"Statement": [`), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, body := e.reload(t, "admin"); code != http.StatusBadRequest || !strings.Contains(body, "unchanged") {
		t.Fatalf("broken file: HTTP %d %s", code, body)
	}
	if err := try(drv, "SELECT * FROM information_schema.user_tables"); err != nil {
		t.Fatalf("after a refused reload: %v", err)
	}

	// CREATE TABLE ... WITH (aws_tags = ...): the literal's tags are the
	// request's tags, and tagging on creation also needs qldb:TagResource.
	create := map[string]any{"Effect": "Allow", "Action": "qldb:PartiQLCreateTable", "Resource": e.ledgerARN + "/table/*",
		"Condition": map[string]any{"StringEquals": map[string]any{"aws:RequestTag/env": "dev"}}}
	tag := stmt("Allow", "qldb:TagResource", e.ledgerARN+"/table/*")
	base := []map[string]any{stmt("Allow", "qldb:SendCommand", e.ledgerARN)}
	for _, c := range []struct {
		stmts   []map[string]any
		tags    string
		allowed bool
	}{
		{[]map[string]any{create, tag}, "{'env': 'dev'}", true},
		{[]map[string]any{create, tag}, "{'env': 'prod'}", false},
		{[]map[string]any{create}, "{'env': 'dev'}", false},
	} {
		e.mustReload(t, map[string]any{"app": doc(append(base, c.stmts...)...)})
		err := try(drv, "CREATE TABLE Tagged WITH (aws_tags = `"+c.tags+"`)")
		denied := err != nil && strings.Contains(servertest.APIError(t, err).ErrorMessage(), "not authorized")
		if denied == c.allowed {
			t.Errorf("CREATE TABLE with tags %s and %d statements: err %v, want allowed=%v", c.tags, len(c.stmts), err, c.allowed)
		}
	}
}

// TestPolicyModeSwitch: on the same key, an ALLOW_ALL ledger lets
// qldb:SendCommand run every statement and a STANDARD one does not; a
// switch of the permissions mode applies to the next statement of an
// open transaction, and the statement it refuses writes nothing while the
// transaction's other statements commit.
func TestPolicyModeSwitch(t *testing.T) {
	e := startPermEnv(t)
	ctx := context.Background()
	e.mustReload(t, map[string]any{"app": doc(stmt("Allow", "qldb:SendCommand", "arn:aws:qldb:*:*:ledger/*"))})
	legacy := e.driver(t, "app", "legacy")
	ledg := e.driver(t, "app", "ledg")
	if err := try(legacy, "INSERT INTO Cars VALUE {'model': 'x'}"); err != nil {
		t.Fatalf("ALLOW_ALL ledger: %v", err)
	}
	if err := try(ledg, "INSERT INTO Cars VALUE {'model': 'x'}"); err == nil {
		t.Fatal("STANDARD ledger: an INSERT without qldb:PartiQLInsert ran")
	}
	setMode := func(name string, mode qldbtypes.PermissionsMode) {
		if _, err := e.qldb("admin").UpdateLedgerPermissionsMode(ctx, &qldb.UpdateLedgerPermissionsModeInput{Name: aws.String(name), PermissionsMode: mode}); err != nil {
			t.Fatal(err)
		}
	}
	var denied error
	_, err := legacy.Execute(ctx, func(tx qldbdriver.Transaction) (any, error) {
		if _, err := servertest.Rows(tx, "INSERT INTO Cars VALUE {'model': 'before'}"); err != nil {
			return nil, err
		}
		setMode("legacy", qldbtypes.PermissionsModeStandard)
		_, denied = servertest.Rows(tx, "INSERT INTO Cars VALUE {'model': 'after'}")
		return nil, nil // commit what ran
	})
	if err != nil {
		t.Fatalf("commit: %v", err)
	}
	if denied == nil {
		t.Fatal("the INSERT after the switch to STANDARD ran")
	}
	servertest.WantAPIError(t, denied, "BadRequestException", http.StatusBadRequest)
	rows := servertest.MustQuery(t, e.driver(t, "admin", "legacy"), "SELECT VALUE model FROM Cars")
	got := map[string]bool{}
	for _, r := range rows {
		got[r.Text] = true
	}
	if !got["before"] || got["after"] || len(rows) != 1 {
		t.Fatalf("legacy Cars holds %v, want only 'before' (the try() insert was rolled back)", got)
	}
	setMode("legacy", qldbtypes.PermissionsModeAllowAll)
	if err := try(legacy, "DROP TABLE Cars"); err != nil {
		t.Fatalf("back to ALLOW_ALL: %v", err)
	}
	if errors.Is(err, errRollback) {
		t.Fatal("unreachable")
	}
}
