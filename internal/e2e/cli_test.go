package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/strand-db/strand/internal/config"
	"github.com/strand-db/strand/internal/server/servertest"
)

// Debian's awscli 2.9 and python3-boto3 1.26 still know QLDB; the ones that
// may come first on PATH do not, so the tests name them by path.
const (
	debianAWS     = "/usr/bin/aws"
	debianPython3 = "/usr/bin/python3"
)

func requireTool(t *testing.T, path string) {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("%s is missing: run scripts/test.sh, which installs Debian's awscli and python3-boto3", path)
	}
}

// clientEnv is a clean environment for AWS tools: the test's credentials
// and region, no config files, no CA bundle, no pager.
func clientEnv() []string {
	env := []string{
		"AWS_ACCESS_KEY_ID=" + servertest.AccessKeyID,
		"AWS_SECRET_ACCESS_KEY=" + servertest.SecretAccessKey,
		"AWS_DEFAULT_REGION=us-east-1",
		"AWS_CONFIG_FILE=/dev/null",
		"AWS_SHARED_CREDENTIALS_FILE=/dev/null",
		"AWS_PAGER=",
		"HOME=" + os.TempDir(),
	}
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "PATH=") || strings.HasPrefix(kv, "LANG=") {
			env = append(env, kv)
		}
	}
	return env
}

func startAuthed(t *testing.T) *servertest.Node {
	return servertest.Start(t, func(c *config.Config) {
		c.AccessKeyID, c.SecretAccessKey = servertest.AccessKeyID, servertest.SecretAccessKey
	})
}

// awsCLI runs Debian's aws against the node and decodes its JSON output.
func awsCLI(t *testing.T, n *servertest.Node, wantOK bool, args ...string) map[string]any {
	t.Helper()
	cmd := exec.Command(debianAWS, append([]string{"--endpoint-url", n.URL(), "--output", "json"}, args...)...)
	cmd.Env = clientEnv()
	out, err := cmd.CombinedOutput()
	if (err == nil) != wantOK {
		t.Fatalf("aws %s: err=%v output:\n%s", strings.Join(args, " "), err, out)
	}
	if !wantOK {
		return map[string]any{"error": string(out)}
	}
	res := map[string]any{}
	if len(strings.TrimSpace(string(out))) > 0 {
		if err := json.Unmarshal(out, &res); err != nil {
			t.Fatalf("aws %s: output is not JSON: %s", strings.Join(args, " "), out)
		}
	}
	return res
}

func TestAWSCLILedgers(t *testing.T) {
	requireTool(t, debianAWS)
	n := startAuthed(t)
	out := awsCLI(t, n, true, "qldb", "create-ledger", "--name", "cli-ledger", "--permissions-mode", "STANDARD", "--tags", "team=ledger")
	if out["State"] != "ACTIVE" || out["Arn"] != "arn:aws:qldb:us-east-1:000000000000:ledger/cli-ledger" || out["DeletionProtection"] != true {
		t.Errorf("create-ledger: %v", out)
	}
	out = awsCLI(t, n, true, "qldb", "describe-ledger", "--name", "cli-ledger")
	if out["Name"] != "cli-ledger" || out["PermissionsMode"] != "STANDARD" {
		t.Errorf("describe-ledger: %v", out)
	}
	out = awsCLI(t, n, true, "qldb", "list-ledgers")
	if l, _ := out["Ledgers"].([]any); len(l) != 1 {
		t.Errorf("list-ledgers: %v", out)
	}
	out = awsCLI(t, n, true, "qldb", "list-tags-for-resource", "--resource-arn", "arn:aws:qldb:us-east-1:000000000000:ledger/cli-ledger")
	if tags, _ := out["Tags"].(map[string]any); tags["team"] != "ledger" {
		t.Errorf("list-tags-for-resource: %v", out)
	}
	e := awsCLI(t, n, false, "qldb", "delete-ledger", "--name", "cli-ledger")
	if !strings.Contains(e["error"].(string), "ResourcePreconditionNotMetException") {
		t.Errorf("delete with protection: %v", e)
	}
	out = awsCLI(t, n, true, "qldb", "update-ledger", "--name", "cli-ledger", "--no-deletion-protection")
	if out["DeletionProtection"] != false {
		t.Errorf("update-ledger: %v", out)
	}
	awsCLI(t, n, true, "qldb", "update-ledger-permissions-mode", "--name", "cli-ledger", "--permissions-mode", "ALLOW_ALL")
	awsCLI(t, n, true, "qldb", "delete-ledger", "--name", "cli-ledger")
	e = awsCLI(t, n, false, "qldb", "describe-ledger", "--name", "cli-ledger")
	if !strings.Contains(e["error"].(string), "ResourceNotFoundException") {
		t.Errorf("describe after delete: %v", e)
	}
}

const boto3Script = `
import sys, boto3, botocore
c = boto3.client("qldb", endpoint_url=sys.argv[1], region_name="us-east-1")
r = c.create_ledger(Name="py-ledger", PermissionsMode="ALLOW_ALL", DeletionProtection=False)
assert r["State"] == "ACTIVE" and r["Name"] == "py-ledger", r
d = c.describe_ledger(Name="py-ledger")
assert d["EncryptionDescription"]["KmsKeyArn"] == "AWS_OWNED_KMS_KEY", d
assert d["CreationDateTime"].year >= 2024, d
names = [l["Name"] for l in c.list_ledgers()["Ledgers"]]
assert names == ["py-ledger"], names
c.update_ledger(Name="py-ledger", DeletionProtection=True)
try:
    c.delete_ledger(Name="py-ledger")
    raise SystemExit("delete with protection succeeded")
except c.exceptions.ResourcePreconditionNotMetException as e:
    assert e.response["ResponseMetadata"]["HTTPStatusCode"] == 412
c.update_ledger(Name="py-ledger", DeletionProtection=False)
c.delete_ledger(Name="py-ledger")
try:
    c.describe_ledger(Name="py-ledger")
    raise SystemExit("deleted ledger still described")
except c.exceptions.ResourceNotFoundException:
    pass
bad = boto3.client("qldb", endpoint_url=sys.argv[1], region_name="us-east-1",
                   aws_access_key_id="AKIDSTRANDTEST", aws_secret_access_key="wrong")
try:
    bad.list_ledgers()
    raise SystemExit("wrong secret accepted")
except botocore.exceptions.ClientError as e:
    assert e.response["Error"]["Code"] == "InvalidSignatureException", e.response
print("ok")
`

func TestBoto3Ledgers(t *testing.T) {
	requireTool(t, debianPython3)
	n := startAuthed(t)
	cmd := exec.Command(debianPython3, "-c", boto3Script, n.URL())
	cmd.Env = clientEnv()
	out, err := cmd.CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "ok" {
		t.Fatalf("boto3: %v\n%s", err, out)
	}
}
