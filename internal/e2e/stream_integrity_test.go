package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/qldb"
	"github.com/aws/aws-sdk-go-v2/service/qldb/types"

	"github.com/strand-db/strand/internal/config"
	"github.com/strand-db/strand/internal/server"
	"github.com/strand-db/strand/internal/server/servertest"
	"github.com/strand-db/strand/internal/testenv/kinesisemu"
)

// noAWSCredentials leaves the standard credential chain nothing to find,
// whatever the developer's environment holds, and returns the path of the
// shared credentials file it points at (absent).
func noAWSCredentials(t *testing.T) string {
	dir := t.TempDir()
	for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_PROFILE",
		"AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN", "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CA_BUNDLE"} {
		t.Setenv(k, "")
	}
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "config"))
	creds := filepath.Join(dir, "credentials")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", creds)
	return creds
}

// TestStreamWithoutAWSCredentialsIsImpaired restarts a server with a live
// stream but no AWS credentials at all. The stream used to stay ACTIVE with
// no error cause (only WARN lines said why nothing arrived); now the
// start-up check reports it, the stream is IMPAIRED with
// IAM_PERMISSION_REVOKED (what QLDB showed when it could not act as the
// stream's role), and it becomes ACTIVE again and delivers everything once
// credentials appear.
func TestStreamWithoutAWSCredentialsIsImpaired(t *testing.T) {
	emu := kinesisemu.StartKinesalite(t, kinesisemu.Stream("nocreds", 1))
	n := startWithKinesis(t, emu, fastRetries)
	n.CreateLedger("nocreds")
	drv := n.Driver("nocreds")
	workload(t, drv, "T", 2)
	id := startStream(t, n.QLDB(servertest.AccessKeyID, servertest.SecretAccessKey), "nocreds", "nocreds", emu.StreamARN("nocreds"), time.Now().Add(-time.Hour), nil, nil)
	l := n.LedgerEngine("nocreds")
	awaitBlocks(t, emu, "nocreds", l.Next(), false)
	drv.Shutdown(bg)
	n.Stop()

	credsFile := noAWSCredentials(t)
	cfg := n.Config
	cfg.KinesisCredentials = nil // the standard chain
	n2 := servertest.StartConfig(t, cfg)
	if n2.KinesisCredentialsError() == nil || !strings.Contains(n2.KinesisCredentials(), "NONE") {
		t.Errorf("start-up did not report the missing credentials: %q", n2.KinesisCredentials())
	}
	drv2 := n2.Driver("nocreds")
	servertest.Commit(t, drv2, "INSERT INTO T VALUE {'k': 'no credentials'}")
	c := n2.QLDB(servertest.AccessKeyID, servertest.SecretAccessKey)
	awaitStatus(t, c, "nocreds", id, types.StreamStatusImpaired, types.ErrorCauseIamPermissionRevoked)

	if err := os.WriteFile(credsFile, []byte("[default]\naws_access_key_id = AKIDFROMFILE\naws_secret_access_key = file-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	awaitStatus(t, c, "nocreds", id, types.StreamStatusActive, "")
	l2 := n2.LedgerEngine("nocreds")
	col := awaitBlocks(t, emu, "nocreds", l2.Next(), false)
	verifyStreamedJournal(t, n2, "nocreds", col, 0, l2.Next())
}

// TestStreamWithUnreadableCheckpointIsImpaired corrupts a stream's stored
// checkpoint while the server is down. Its worker used to give up at start
// and leave the stream ACTIVE with no worker; now the stream shows
// IMPAIRED (no ErrorCause: the fault is this server's, not the
// destination's), the worker keeps retrying, and the stream can still be
// canceled.
func TestStreamWithUnreadableCheckpointIsImpaired(t *testing.T) {
	emu := kinesisemu.StartKinesalite(t, kinesisemu.Stream("corrupt", 1))
	n := startWithKinesis(t, emu, fastRetries)
	n.CreateLedger("corrupt")
	drv := n.Driver("corrupt")
	workload(t, drv, "T", 2)
	c := n.QLDB(servertest.AccessKeyID, servertest.SecretAccessKey)
	id := startStream(t, c, "corrupt", "corrupt", emu.StreamARN("corrupt"), time.Now().Add(-time.Hour), nil, nil)
	l := n.LedgerEngine("corrupt")
	awaitBlocks(t, emu, "corrupt", l.Next(), false)
	drv.Shutdown(bg)
	n.Stop()

	st := n.OpenStore()
	b := st.NewBatch()
	if err := b.Set([]byte("sc/"+id), []byte("{not json")); err != nil {
		t.Fatal(err)
	}
	if err := st.Apply(b); err != nil {
		t.Fatal(err)
	}
	b.Close()
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	n2 := servertest.StartConfig(t, n.Config)
	c2 := n2.QLDB(servertest.AccessKeyID, servertest.SecretAccessKey)
	awaitStatus(t, c2, "corrupt", id, types.StreamStatusImpaired, "")
	d, err := c2.DescribeJournalKinesisStream(bg, &qldb.DescribeJournalKinesisStreamInput{LedgerName: aws.String("corrupt"), StreamId: aws.String(id)})
	if err != nil {
		t.Fatal(err)
	}
	if d.Stream.ErrorCause != "" {
		t.Errorf("an internal fault is reported as the destination's: %s", d.Stream.ErrorCause)
	}
	if _, err := c2.CancelJournalKinesisStream(bg, &qldb.CancelJournalKinesisStreamInput{LedgerName: aws.String("corrupt"), StreamId: aws.String(id)}); err != nil {
		t.Fatal(err)
	}
	awaitStatus(t, c2, "corrupt", id, types.StreamStatusCanceled, "")
}

// TestMetricsListenerFollowsLoopbackRule: without credentials the main
// listener is loopback only, and the metrics listener (unauthenticated) used
// to bind any address anyway; now the server refuses to start.
func TestMetricsListenerFollowsLoopbackRule(t *testing.T) {
	cfg := config.Default()
	cfg.Listen = "127.0.0.1:0"
	cfg.DataDir = t.TempDir()
	cfg.MetricsListen = "0.0.0.0:0"
	n, err := server.Open(cfg, nil)
	if err == nil {
		n.Close()
		t.Fatal("a server without credentials started with metrics on 0.0.0.0")
	}
	if !strings.Contains(err.Error(), "--metrics-listen") && !strings.Contains(err.Error(), "metrics on 0.0.0.0:0") {
		t.Errorf("the refusal does not name the metrics listener: %v", err)
	}
	cfg.MetricsListen = "127.0.0.1:0"
	if n, err = server.Open(cfg, nil); err != nil {
		t.Fatalf("loopback metrics refused: %v", err)
	}
	n.Close()
	cfg.MetricsListen = "0.0.0.0:0"
	cfg.AccessKeyID, cfg.SecretAccessKey = servertest.AccessKeyID, servertest.SecretAccessKey
	if n, err = server.Open(cfg, nil); err != nil {
		t.Fatalf("metrics on 0.0.0.0 with credentials refused: %v", err)
	}
	n.Close()
}
