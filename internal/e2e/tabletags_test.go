package e2e

import (
	"maps"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/qldb"

	"github.com/strand-db/strand/internal/ledger"
	"github.com/strand-db/strand/internal/server/servertest"
)

// TestCreateTableWithTags (issue 13, item 4): CREATE TABLE ... WITH
// (aws_tags = `{...}`) on a STANDARD ledger tags the table, and the tags
// are visible, and changeable, through ListTagsForResource, TagResource
// and UntagResource on the table's ARN; AWS's tag rules are enforced (a
// refused statement creates nothing), an ALLOW_ALL ledger refuses tags on
// CREATE TABLE as QLDB did, and unknown or malformed table ARNs get
// ResourceNotFoundException and InvalidParameterException.
func TestCreateTableWithTags(t *testing.T) {
	n := servertest.Start(t, nil)
	c := n.QLDB(servertest.AccessKeyID, servertest.SecretAccessKey)
	for _, l := range []struct{ name, mode string }{{"std", "STANDARD"}, {"open", "ALLOW_ALL"}} {
		if _, err := c.CreateLedger(bg, &qldb.CreateLedgerInput{Name: aws.String(l.name), PermissionsMode: "STANDARD",
			DeletionProtection: aws.Bool(false)}); err != nil {
			t.Fatal(err)
		}
		if l.mode != "STANDARD" {
			if _, err := c.UpdateLedgerPermissionsMode(bg, &qldb.UpdateLedgerPermissionsModeInput{Name: aws.String(l.name), PermissionsMode: "ALLOW_ALL"}); err != nil {
				t.Fatal(err)
			}
		}
	}
	drv := n.Driver("std")
	arn := func(ledgerName, id string) *string {
		return aws.String(ledger.TableARN(n.Config.Region, n.Config.AccountID, ledgerName, id))
	}
	tags := func(a *string) map[string]string {
		t.Helper()
		out, err := c.ListTagsForResource(bg, &qldb.ListTagsForResourceInput{ResourceArn: a})
		if err != nil {
			t.Fatalf("ListTagsForResource %s: %v", *a, err)
		}
		m := map[string]string{}
		for k, v := range out.Tags {
			m[k] = aws.ToString(v)
		}
		return m
	}

	tid := tableID(t, servertest.MustQuery(t, drv, "CREATE TABLE Car WITH (aws_tags = `{'team': 'payments', 'env': 'prod'}`)"))
	if got, want := tags(arn("std", tid)), map[string]string{"team": "payments", "env": "prod"}; !maps.Equal(got, want) {
		t.Fatalf("table tags %v, want %v", got, want)
	}
	if got := tags(aws.String(ledger.LedgerARN(n.Config.Region, n.Config.AccountID, "std"))); len(got) != 0 {
		t.Errorf("the ledger got the table's tags: %v", got)
	}
	plain := tableID(t, servertest.MustQuery(t, drv, "CREATE TABLE Plain"))
	if got := tags(arn("std", plain)); len(got) != 0 {
		t.Errorf("an untagged table has tags %v", got)
	}
	if _, err := c.TagResource(bg, &qldb.TagResourceInput{ResourceArn: arn("std", tid), Tags: map[string]*string{"owner": aws.String("ops")}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.UntagResource(bg, &qldb.UntagResourceInput{ResourceArn: arn("std", tid), TagKeys: []string{"env", "absent"}}); err != nil {
		t.Fatal(err)
	}
	if got, want := tags(arn("std", tid)), map[string]string{"team": "payments", "owner": "ops"}; !maps.Equal(got, want) {
		t.Fatalf("table tags after Tag/Untag %v, want %v", got, want)
	}
	_, err := c.TagResource(bg, &qldb.TagResourceInput{ResourceArn: arn("std", tid), Tags: map[string]*string{"aws:x": aws.String("y")}})
	servertest.WantAPIError(t, err, "InvalidParameterException", 400)

	for _, bad := range []struct{ stmt, want string }{
		{"CREATE TABLE T1 WITH (aws_tags = `{'aws:team': 'x'}`)", "reserved prefix aws:"},
		{"CREATE TABLE T1 WITH (aws_tags = `{'team': 5}`)", "must be a string"},
		{"CREATE TABLE T1 WITH (aws_tags = 'team')", "aws_tags must be a struct"},
	} {
		_, err := servertest.Query(drv, bad.stmt)
		if err == nil {
			t.Fatalf("%s: no error", bad.stmt)
		}
		if !containsFold(err.Error(), bad.want) {
			t.Errorf("%s: error %v, want %q", bad.stmt, err, bad.want)
		}
	}
	if names := tableNames(t, drv); len(names) != 2 {
		t.Errorf("a refused CREATE TABLE created a table: %v", names)
	}
	_, err = servertest.Query(n.Driver("open"), "CREATE TABLE Car WITH (aws_tags = `{'team': 'payments'}`)")
	if err == nil || !containsFold(err.Error(), "STANDARD permissions mode") {
		t.Errorf("tags on an ALLOW_ALL ledger: %v", err)
	}

	_, err = c.ListTagsForResource(bg, &qldb.ListTagsForResourceInput{ResourceArn: arn("std", "NoSuchTable00000000000")})
	servertest.WantAPIError(t, err, "ResourceNotFoundException", 404)
	_, err = c.ListTagsForResource(bg, &qldb.ListTagsForResourceInput{ResourceArn: arn("nope", tid)})
	servertest.WantAPIError(t, err, "ResourceNotFoundException", 404)
	_, err = c.ListTagsForResource(bg, &qldb.ListTagsForResourceInput{ResourceArn: aws.String(ledger.LedgerARN(n.Config.Region, n.Config.AccountID, "std") + "/table/bad-id")})
	servertest.WantAPIError(t, err, "InvalidParameterException", 400)
}

// containsFold reports whether s contains sub, ignoring case.
func containsFold(s, sub string) bool {
	return strings.Contains(strings.ToLower(s), strings.ToLower(sub))
}
