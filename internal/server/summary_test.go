package server_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/qldb"
	"github.com/aws/aws-sdk-go-v2/service/qldb/types"

	"github.com/strand-db/strand/internal/config"
	"github.com/strand-db/strand/internal/server/servertest"
	"github.com/strand-db/strand/internal/testenv/kinesisemu"
)

// TestStartupWarnsAboutUnreachableStreams: a live journal stream whose
// destination cannot be reached (here: its Kinesis stream was deleted) is
// named by the start-up check, and a canceled stream is not.
func TestStartupWarnsAboutUnreachableStreams(t *testing.T) {
	emu := kinesisemu.StartKinesalite(t, kinesisemu.Stream("live", 1), kinesisemu.Stream("canceled", 1))
	n := servertest.Start(t, func(c *config.Config) {
		c.KinesisEndpoint = emu.Endpoint
		c.KinesisCredentials = credentials.NewStaticCredentialsProvider("AKIDKINESIS", "secret", "")
		c.StreamRetryMax = 200 * time.Millisecond
	})
	n.CreateLedger("warn")
	qc := n.QLDB(servertest.AccessKeyID, servertest.SecretAccessKey)
	ctx := context.Background()
	var ids []string
	for _, name := range []string{"live", "canceled"} {
		out, err := qc.StreamJournalToKinesis(ctx, &qldb.StreamJournalToKinesisInput{LedgerName: aws.String("warn"),
			RoleArn: aws.String("arn:aws:iam::000000000000:role/r"), StreamName: aws.String(name),
			InclusiveStartTime:   aws.Time(time.Now().Add(-time.Hour)),
			KinesisConfiguration: &types.KinesisConfiguration{StreamArn: aws.String("arn:aws:kinesis:us-east-1:000000000000:stream/" + name)}})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, *out.StreamId)
	}
	if _, err := qc.CancelJournalKinesisStream(ctx, &qldb.CancelJournalKinesisStreamInput{LedgerName: aws.String("warn"), StreamId: aws.String(ids[1])}); err != nil {
		t.Fatal(err)
	}
	if err := emu.DeleteStream(ctx, "live"); err != nil {
		t.Fatal(err)
	}
	bad := n.Streams().CheckDestinations(ctx)
	if len(bad) != 1 || bad[0].StreamID != ids[0] || bad[0].LedgerName != "warn" || bad[0].Cause != "KINESIS_STREAM_NOT_FOUND" {
		t.Fatalf("unreachable streams: %+v, want only %s", bad, ids[0])
	}
	if got := n.WarnUnreachableStreams(10 * time.Second); got != 1 {
		t.Errorf("WarnUnreachableStreams warned about %d streams, want 1", got)
	}
}

// TestSummaryNamesEverything: the start-up summary names the listen
// address, the store, the authentication mode, where Kinesis calls go and
// the metrics address.
func TestSummaryNamesEverything(t *testing.T) {
	n := servertest.Start(t, func(c *config.Config) { c.MetricsListen = "127.0.0.1:0" })
	text := strings.Join(n.Summary(), "\n")
	for _, want := range []string{"listening on " + n.URL(), n.StoreDescription(), "authentication: none",
		"kinesis: real AWS via STS", "metrics: " + n.MetricsURL()} {
		if !strings.Contains(text, want) {
			t.Errorf("summary lacks %q:\n%s", want, text)
		}
	}
	n2 := servertest.Start(t, func(c *config.Config) { c.KinesisEndpoint = "http://127.0.0.1:4567" })
	text = strings.Join(n2.Summary(), "\n")
	for _, want := range []string{"kinesis: endpoint http://127.0.0.1:4567", "metrics: off"} {
		if !strings.Contains(text, want) {
			t.Errorf("summary lacks %q:\n%s", want, text)
		}
	}
}
