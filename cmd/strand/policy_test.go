package main

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/qldb"

	"github.com/strand-db/strand/internal/server/servertest"
)

// runPolicyReload runs `strand policy reload` signed with key/secret and
// returns its exit status and output.
func runPolicyReload(t *testing.T, bin, endpoint, key, secret string) (int, string) {
	t.Helper()
	cmd := exec.Command(bin, "policy", "reload", "--endpoint", endpoint)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(),
		"AWS_ACCESS_KEY_ID=" + key, "AWS_SECRET_ACCESS_KEY=" + secret, "AWS_EC2_METADATA_DISABLED=true",
		"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null"}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), out.String()
	}
	if err != nil {
		t.Fatal(err)
	}
	return 0, out.String()
}

// TestPolicyReloadSignalAndCommand: the banner says policies are in
// force; SIGHUP and `strand policy reload` load an edited policy file
// into the running server; only an admin may ask for a reload, and a file
// that does not parse leaves the policies in force.
func TestPolicyReloadSignalAndCommand(t *testing.T) {
	bin := buildStrand(t)
	dir := t.TempDir()
	creds := filepath.Join(dir, "creds")
	if err := os.WriteFile(creds, []byte("ADMIN admin-secret admin\nAPP app-secret app\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	pol := filepath.Join(dir, "policies.json")
	admin := `"admin": {"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": ["qldb:*", "strand:*"], "Resource": "*"}}`
	appList := `"app": {"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "qldb:ListLedgers", "Resource": "*"}}`
	write := func(body string) {
		if err := os.WriteFile(pol, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("{" + admin + "}")
	env := []string{"AWS_EC2_METADATA_DISABLED=true"}
	if url := servertest.StoreFor(t, filepath.Join(dir, "data")); url != "" {
		env = append(env, "STRAND_STORE="+url)
	}
	cmd, out := startStrand(t, bin, env, "--listen", "127.0.0.1:0", "--data-dir", filepath.Join(dir, "data"),
		"--credentials-file", creds, "--policy-file", pol, "--backup-access-key-id", "ADMIN")
	var banner []string
	for len(banner) < 4 && out.Scan() {
		banner = append(banner, out.Text())
	}
	go func() {
		for out.Scan() {
		}
	}()
	if text := strings.Join(banner, "\n"); !strings.Contains(text, "authorization: IAM-style policies from "+pol) {
		t.Fatalf("banner:\n%s", text)
	}
	url := strings.Fields(banner[0])[3]
	cfg := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("APP", "app-secret", ""),
		Retryer: func() aws.Retryer { return aws.NopRetryer{} }, HTTPClient: servertest.HTTPClient(nil)}
	app := qldb.NewFromConfig(cfg, func(o *qldb.Options) { o.BaseEndpoint = aws.String(url) })
	list := func() error {
		_, err := app.ListLedgers(context.Background(), &qldb.ListLedgersInput{})
		return err
	}
	servertest.WantAPIError(t, list(), "AccessDeniedException", http.StatusForbidden)

	// SIGHUP: the signal is asynchronous, so wait (bounded) for its effect.
	write("{" + admin + ", " + appList + "}")
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for list() != nil {
		if time.Now().After(deadline) {
			t.Fatalf("ListLedgers still refused after SIGHUP: %v", list())
		}
		time.Sleep(50 * time.Millisecond)
	}

	// strand policy reload: synchronous, prints what changed.
	write("{" + admin + "}")
	if code, msg := runPolicyReload(t, bin, url, "APP", "app-secret"); code != 1 || !strings.Contains(msg, "AccessDeniedException (HTTP 403)") {
		t.Fatalf("reload as APP: exit %d\n%s", code, msg)
	}
	if err := list(); err != nil {
		t.Fatalf("a refused reload changed the policies: %v", err)
	}
	if code, msg := runPolicyReload(t, bin, url, "ADMIN", "admin-secret"); code != 0 || !strings.Contains(msg, "removed [app]") {
		t.Fatalf("reload as ADMIN: exit %d\n%s", code, msg)
	}
	servertest.WantAPIError(t, list(), "AccessDeniedException", http.StatusForbidden)
	write(`{"app": `)
	if code, msg := runPolicyReload(t, bin, url, "ADMIN", "admin-secret"); code != 1 || !strings.Contains(msg, "unchanged") {
		t.Fatalf("reload of a broken file: exit %d\n%s", code, msg)
	}
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil { // logged, changes nothing
		t.Fatal(err)
	}
	if code, msg := runPolicyReload(t, bin, url, "ADMIN", "admin-secret"); code != 1 || !strings.Contains(msg, "InvalidParameterException") {
		t.Fatalf("the admin lost access after a broken file: exit %d\n%s", code, msg)
	}
}
