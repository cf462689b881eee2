package config

import (
	"strings"
	"testing"
)

// TestBackupAccessKeyIDs: --backup-access-key-id names configured access
// keys (comma-separated), and needs credentials at all.
func TestBackupAccessKeyIDs(t *testing.T) {
	c := Default()
	c.AccessKeyID, c.SecretAccessKey, c.BackupAccessKeyIDs = "ADMIN", "s", " ADMIN ,"
	if err := c.Validate(); err != nil || !c.BackupKeys["ADMIN"] || len(c.BackupKeys) != 1 {
		t.Fatalf("valid list: %v %v", err, c.BackupKeys)
	}
	c.BackupAccessKeyIDs = "ADMIN,TYPO"
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), `--backup-access-key-id "TYPO" is not one of the configured access keys`) {
		t.Errorf("unknown key: %v", err)
	}
	c = Default()
	c.BackupAccessKeyIDs = "ADMIN"
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "--backup-access-key-id needs credentials") {
		t.Errorf("without credentials: %v", err)
	}
}
