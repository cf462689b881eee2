package server_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/strand-db/strand/internal/config"
	"github.com/strand-db/strand/internal/server/servertest"
	"github.com/strand-db/strand/internal/store"
	"github.com/strand-db/strand/internal/store/postgres/pgtest"
)

// postBackup sends a signed POST /strand/backup (or another method) and
// returns the response, whose body the caller closes.
func postBackup(t *testing.T, method, baseURL, key, secret string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, baseURL+"/strand/backup", http.NoBody)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(nil)
	if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: key, SecretAccessKey: secret}, req, hex.EncodeToString(sum[:]), "qldb", "us-east-1", time.Now()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// wantBackupError checks an error answer's status, type and message.
func wantBackupError(t *testing.T, resp *http.Response, status int, typ, inMessage string) {
	t.Helper()
	defer resp.Body.Close()
	var e struct {
		Type    string `json:"__type"`
		Message string `json:"Message"`
	}
	raw, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(raw, &e); err != nil || resp.StatusCode != status || e.Type != typ || !strings.Contains(e.Message, inMessage) {
		t.Fatalf("got %d %s, want %d %s with %q in the message", resp.StatusCode, raw, status, typ, inMessage)
	}
}

// TestBackupEndpoint: POST /strand/backup streams an archive to the access
// keys of --backup-access-key-id only; any other principal gets
// AccessDeniedException (403) and nothing is copied; other methods 405.
func TestBackupEndpoint(t *testing.T) {
	servertest.RequireEmbeddedStore(t, "backups of the embedded store")
	creds := filepath.Join(t.TempDir(), "creds")
	if err := os.WriteFile(creds, []byte("ADMIN admin-secret\nUSER user-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	n := servertest.Start(t, func(c *config.Config) { c.CredentialsFile, c.BackupAccessKeyIDs = creds, "ADMIN" })
	wantBackupError(t, postBackup(t, http.MethodPost, n.URL(), "USER", "user-secret"), 403, "AccessDeniedException", "USER is not authorized")
	wantBackupError(t, postBackup(t, http.MethodGet, n.URL(), "ADMIN", "admin-secret"), 405, "MethodNotAllowedException", "use POST")
	entries, _ := os.ReadDir(n.Config.DataDir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".backup-") {
			t.Errorf("a refused backup left %s", e.Name())
		}
	}
	// The tip record of a ledger the catalogue does not hold (as left by a
	// ledger deleted while the backup ran) stays out of the copy.
	orphan := store.NewTipFiles(n.Config.DataDir)
	if err := orphan.Record(store.TipRecord{LedgerID: "deletedledger"}); err != nil {
		t.Fatal(err)
	}
	orphan.Close()
	resp := postBackup(t, http.MethodPost, n.URL(), "ADMIN", "admin-secret")
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/x-tar" {
		t.Fatalf("backup as ADMIN: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	dst := t.TempDir()
	stats, err := store.ExtractArchive(resp.Body, dst)
	if err != nil || stats.Files == 0 {
		t.Fatalf("extracting the backup: %+v %v", stats, err)
	}
	if _, err := os.Stat(filepath.Join(dst, "pebble")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dst, "tips", "deletedledger.tip")); !os.IsNotExist(err) {
		t.Errorf("the copy holds the tip record of a ledger not in the catalogue (%v)", err)
	}
}

// TestBackupEndpointPostgres: a node on PostgreSQL refuses backups with
// ResourcePreconditionNotMetException (412) naming PostgreSQL's tools.
func TestBackupEndpointPostgres(t *testing.T) {
	url := pgtest.NewDatabase(t)
	n := servertest.Start(t, func(c *config.Config) { c.Store = url })
	wantBackupError(t, postBackup(t, http.MethodPost, n.URL(), "AKID", "any"), 412, "ResourcePreconditionNotMetException", "pg_dump")
}
