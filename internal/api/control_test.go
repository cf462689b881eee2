package api_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/qldb"
	"github.com/aws/aws-sdk-go-v2/service/qldb/types"

	"github.com/strand-db/strand/internal/config"
	"github.com/strand-db/strand/internal/server/servertest"
)

var ctx = context.Background()

func newClient(t *testing.T, mutate func(*config.Config)) (*servertest.Node, *qldb.Client) {
	n := servertest.Start(t, mutate)
	return n, n.QLDB("AKIDANY", "any-secret")
}

func TestLedgerLifecycle(t *testing.T) {
	_, c := newClient(t, nil)
	before := time.Now().Add(-time.Second)
	out, err := c.CreateLedger(ctx, &qldb.CreateLedgerInput{
		Name: aws.String("vehicle-registration"), PermissionsMode: types.PermissionsModeStandard,
		Tags: map[string]*string{"team": aws.String("ledger"), "empty": nil},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := aws.ToString(out.Arn); got != "arn:aws:qldb:us-east-1:000000000000:ledger/vehicle-registration" {
		t.Errorf("Arn = %s", got)
	}
	if out.State != types.LedgerStateActive || !aws.ToBool(out.DeletionProtection) || out.PermissionsMode != types.PermissionsModeStandard {
		t.Errorf("create output = %+v", out)
	}
	if out.CreationDateTime == nil || out.CreationDateTime.Before(before) || out.CreationDateTime.After(time.Now().Add(time.Second)) {
		t.Errorf("CreationDateTime = %v", out.CreationDateTime)
	}
	if out.KmsKeyArn != nil {
		t.Errorf("AWS-owned key must not be reported as KmsKeyArn, got %s", *out.KmsKeyArn)
	}

	d, err := c.DescribeLedger(ctx, &qldb.DescribeLedgerInput{Name: aws.String("vehicle-registration")})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(d.Name) != "vehicle-registration" || d.State != types.LedgerStateActive ||
		d.EncryptionDescription == nil || aws.ToString(d.EncryptionDescription.KmsKeyArn) != "AWS_OWNED_KMS_KEY" ||
		d.EncryptionDescription.EncryptionStatus != types.EncryptionStatusEnabled || !d.CreationDateTime.Equal(*out.CreationDateTime) {
		t.Errorf("describe = %+v", d)
	}

	// Deletion protection defaults to true and blocks DeleteLedger.
	_, err = c.DeleteLedger(ctx, &qldb.DeleteLedgerInput{Name: aws.String("vehicle-registration")})
	servertest.WantAPIError(t, err, "ResourcePreconditionNotMetException", 412)

	key := "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
	u, err := c.UpdateLedger(ctx, &qldb.UpdateLedgerInput{Name: aws.String("vehicle-registration"), DeletionProtection: aws.Bool(false), KmsKey: aws.String(key)})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToBool(u.DeletionProtection) || aws.ToString(u.EncryptionDescription.KmsKeyArn) != key {
		t.Errorf("update = %+v", u)
	}
	pm, err := c.UpdateLedgerPermissionsMode(ctx, &qldb.UpdateLedgerPermissionsModeInput{Name: aws.String("vehicle-registration"), PermissionsMode: types.PermissionsModeAllowAll})
	if err != nil || pm.PermissionsMode != types.PermissionsModeAllowAll {
		t.Fatalf("permissions mode: %v %+v", err, pm)
	}
	d, _ = c.DescribeLedger(ctx, &qldb.DescribeLedgerInput{Name: aws.String("vehicle-registration")})
	if d.PermissionsMode != types.PermissionsModeAllowAll || aws.ToBool(d.DeletionProtection) {
		t.Errorf("update not visible in describe: %+v", d)
	}

	if _, err := c.DeleteLedger(ctx, &qldb.DeleteLedgerInput{Name: aws.String("vehicle-registration")}); err != nil {
		t.Fatal(err)
	}
	_, err = c.DescribeLedger(ctx, &qldb.DescribeLedgerInput{Name: aws.String("vehicle-registration")})
	ae := servertest.WantAPIError(t, err, "ResourceNotFoundException", 404)
	var rnf *types.ResourceNotFoundException
	if !errors.As(ae, &rnf) || aws.ToString(rnf.ResourceName) != "vehicle-registration" || aws.ToString(rnf.ResourceType) != "LEDGER" {
		t.Errorf("ResourceNotFoundException members = %+v", rnf)
	}
	// The name of a deleted ledger can be used again.
	if _, err := c.CreateLedger(ctx, &qldb.CreateLedgerInput{Name: aws.String("vehicle-registration"), PermissionsMode: types.PermissionsModeAllowAll}); err != nil {
		t.Fatalf("re-create: %v", err)
	}
}

func TestCreateLedgerValidation(t *testing.T) {
	_, c := newClient(t, func(cfg *config.Config) { cfg.MaxLedgers = 3 })
	if _, err := c.CreateLedger(ctx, &qldb.CreateLedgerInput{Name: aws.String("dup"), PermissionsMode: types.PermissionsModeAllowAll}); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, mode, code, param string
		status                  int
		kms                     *string
		tags                    map[string]*string
	}{
		{name: "dup", mode: "ALLOW_ALL", code: "ResourceAlreadyExistsException", status: 409},
		{name: "", mode: "ALLOW_ALL", code: "InvalidParameterException", param: "Name", status: 400},
		{name: "has--double", mode: "ALLOW_ALL", code: "InvalidParameterException", param: "Name", status: 400},
		{name: "12345", mode: "ALLOW_ALL", code: "InvalidParameterException", param: "Name", status: 400},
		{name: "-lead", mode: "ALLOW_ALL", code: "InvalidParameterException", param: "Name", status: 400},
		{name: "trail-", mode: "ALLOW_ALL", code: "InvalidParameterException", param: "Name", status: 400},
		{name: "under_score", mode: "ALLOW_ALL", code: "InvalidParameterException", param: "Name", status: 400},
		{name: "a23456789012345678901234567890123", mode: "ALLOW_ALL", code: "InvalidParameterException", param: "Name", status: 400},
		{name: "ok-name", mode: "OPEN", code: "InvalidParameterException", param: "PermissionsMode", status: 400},
		{name: "ok-name", mode: "ALLOW_ALL", kms: aws.String("not a key!"), code: "InvalidParameterException", param: "KmsKey", status: 400},
		{name: "ok-name", mode: "ALLOW_ALL", tags: map[string]*string{"aws:reserved": aws.String("x")}, code: "InvalidParameterException", param: "Tags", status: 400},
		{name: "ok-name", mode: "ALLOW_ALL", tags: map[string]*string{"k": aws.String(string(make([]byte, 257)))}, code: "InvalidParameterException", param: "Tags", status: 400},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%s/%s", tc.name, tc.code), func(t *testing.T) {
			_, err := c.CreateLedger(ctx, &qldb.CreateLedgerInput{Name: aws.String(tc.name), PermissionsMode: types.PermissionsMode(tc.mode), KmsKey: tc.kms, Tags: tc.tags})
			ae := servertest.WantAPIError(t, err, tc.code, tc.status)
			var ip *types.InvalidParameterException
			if tc.param != "" && (!errors.As(ae, &ip) || aws.ToString(ip.ParameterName) != tc.param) {
				t.Errorf("ParameterName = %v, want %s", ip, tc.param)
			}
		})
	}
	// Nothing of the failed requests was created.
	l, err := c.ListLedgers(ctx, &qldb.ListLedgersInput{})
	if err != nil || len(l.Ledgers) != 1 {
		t.Fatalf("after failures: %v %+v", err, l)
	}
	for _, n := range []string{"two", "three"} {
		if _, err := c.CreateLedger(ctx, &qldb.CreateLedgerInput{Name: aws.String(n), PermissionsMode: types.PermissionsModeAllowAll}); err != nil {
			t.Fatal(err)
		}
	}
	_, err = c.CreateLedger(ctx, &qldb.CreateLedgerInput{Name: aws.String("four"), PermissionsMode: types.PermissionsModeAllowAll})
	servertest.WantAPIError(t, err, "LimitExceededException", 400)
}

func TestListLedgersPagination(t *testing.T) {
	_, c := newClient(t, nil)
	want := []string{"a1", "b2", "c3", "d4", "e5"}
	for _, n := range want {
		if _, err := c.CreateLedger(ctx, &qldb.CreateLedgerInput{Name: aws.String(n), PermissionsMode: types.PermissionsModeAllowAll}); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	var token *string
	pages := 0
	for {
		out, err := c.ListLedgers(ctx, &qldb.ListLedgersInput{MaxResults: aws.Int32(2), NextToken: token})
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, l := range out.Ledgers {
			got = append(got, aws.ToString(l.Name))
			if l.State != types.LedgerStateActive || l.CreationDateTime == nil {
				t.Errorf("summary %+v", l)
			}
		}
		if out.NextToken == nil {
			break
		}
		token = out.NextToken
	}
	if fmt.Sprint(got) != fmt.Sprint(want) || pages != 3 {
		t.Errorf("pages=%d got %v", pages, got)
	}
	for _, bad := range []*qldb.ListLedgersInput{
		{MaxResults: aws.Int32(0)}, {MaxResults: aws.Int32(101)}, {NextToken: aws.String("bm90LWEtdG9rZW4=")},
	} {
		_, err := c.ListLedgers(ctx, bad)
		servertest.WantAPIError(t, err, "InvalidParameterException", 400)
	}
}

func TestTags(t *testing.T) {
	_, c := newClient(t, nil)
	out, err := c.CreateLedger(ctx, &qldb.CreateLedgerInput{Name: aws.String("tagged"), PermissionsMode: types.PermissionsModeAllowAll, Tags: map[string]*string{"a": aws.String("1")}})
	if err != nil {
		t.Fatal(err)
	}
	arn := out.Arn
	if _, err := c.TagResource(ctx, &qldb.TagResourceInput{ResourceArn: arn, Tags: map[string]*string{"b": aws.String("2"), "a": aws.String("one")}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.UntagResource(ctx, &qldb.UntagResourceInput{ResourceArn: arn, TagKeys: []string{"b", "absent"}}); err != nil {
		t.Fatal(err)
	}
	lt, err := c.ListTagsForResource(ctx, &qldb.ListTagsForResourceInput{ResourceArn: arn})
	if err != nil {
		t.Fatal(err)
	}
	if len(lt.Tags) != 1 || aws.ToString(lt.Tags["a"]) != "one" {
		t.Errorf("tags = %v", lt.Tags)
	}
	_, err = c.ListTagsForResource(ctx, &qldb.ListTagsForResourceInput{ResourceArn: aws.String("arn:aws:qldb:us-east-1:000000000000:ledger/missing")})
	servertest.WantAPIError(t, err, "ResourceNotFoundException", 404)
	_, err = c.ListTagsForResource(ctx, &qldb.ListTagsForResourceInput{ResourceArn: aws.String("arn:aws:s3:::bucket-name-here")})
	servertest.WantAPIError(t, err, "InvalidParameterException", 400)
	_, err = c.TagResource(ctx, &qldb.TagResourceInput{ResourceArn: arn, Tags: map[string]*string{"aws:x": aws.String("1")}})
	servertest.WantAPIError(t, err, "InvalidParameterException", 400)
	many := map[string]*string{}
	for i := 0; i < 200; i++ {
		many[fmt.Sprintf("k%d", i)] = aws.String("v")
	}
	_, err = c.TagResource(ctx, &qldb.TagResourceInput{ResourceArn: arn, Tags: many}) // 200 new + "a" = 201
	servertest.WantAPIError(t, err, "InvalidParameterException", 400)
	lt, _ = c.ListTagsForResource(ctx, &qldb.ListTagsForResourceInput{ResourceArn: arn})
	if len(lt.Tags) != 1 {
		t.Errorf("a refused TagResource changed the tags: %d", len(lt.Tags))
	}
}

func TestRestartKeepsLedgers(t *testing.T) {
	n, c := newClient(t, nil)
	for _, name := range []string{"keep-a", "keep-b"} {
		if _, err := c.CreateLedger(ctx, &qldb.CreateLedgerInput{Name: aws.String(name), PermissionsMode: types.PermissionsModeStandard, DeletionProtection: aws.Bool(name == "keep-a"),
			Tags: map[string]*string{"name": aws.String(name)}}); err != nil {
			t.Fatal(err)
		}
	}
	n.Stop()
	cfg := n.Config
	n2 := servertest.StartConfig(t, cfg)
	c2 := n2.QLDB("AKIDANY", "x")
	for _, name := range []string{"keep-a", "keep-b"} {
		d, err := c2.DescribeLedger(ctx, &qldb.DescribeLedgerInput{Name: aws.String(name)})
		if err != nil {
			t.Fatal(err)
		}
		if aws.ToBool(d.DeletionProtection) != (name == "keep-a") || d.PermissionsMode != types.PermissionsModeStandard {
			t.Errorf("after restart %s = %+v", name, d)
		}
		lt, err := c2.ListTagsForResource(ctx, &qldb.ListTagsForResourceInput{ResourceArn: d.Arn})
		if err != nil || aws.ToString(lt.Tags["name"]) != name {
			t.Errorf("tags after restart: %v %v", err, lt)
		}
	}
}

func TestSecondNodeOnSameDataDirFails(t *testing.T) {
	n, _ := newClient(t, nil)
	cfg := n.Config
	cfg.Listen = "127.0.0.1:0"
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	_, err := openNode(cfg)
	if err == nil {
		t.Fatal("a second node opened a data directory in use")
	}
	if want := "in use by another strand process"; !contains(err.Error(), want) {
		t.Errorf("error %q does not say %q", err, want)
	}
}
