package e2e

import (
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/qldb"
	"github.com/aws/aws-sdk-go-v2/service/qldb/types"

	"github.com/strand-db/strand/internal/config"
	"github.com/strand-db/strand/internal/server/servertest"
	"github.com/strand-db/strand/internal/testenv/kinesisemu"
)

// boto3StreamScript is the StreamJournalToKinesis call as QLDB users wrote it
// with boto3 (the AWS samples' shape), then Describe, List and Cancel.
const boto3StreamScript = `
import sys, datetime, boto3
endpoint, stream_arn = sys.argv[1], sys.argv[2]
qldb = boto3.client("qldb", endpoint_url=endpoint, region_name="us-east-1")
response = qldb.stream_journal_to_kinesis(
    LedgerName="boto-ledger",
    RoleArn="arn:aws:iam::000000000000:role/QLDBStreamRole",
    InclusiveStartTime=datetime.datetime(2020, 1, 1),
    KinesisConfiguration={"StreamArn": stream_arn, "AggregationEnabled": True},
    StreamName="boto-stream",
    Tags={"source": "boto3"},
)
stream_id = response["StreamId"]
assert len(stream_id) == 22, response
d = qldb.describe_journal_kinesis_stream(LedgerName="boto-ledger", StreamId=stream_id)["Stream"]
assert d["Status"] == "ACTIVE", d
assert d["KinesisConfiguration"] == {"StreamArn": stream_arn, "AggregationEnabled": True}, d
assert d["InclusiveStartTime"].year >= 2024, d  # clamped to the ledger's creation
assert d["Arn"] == "arn:aws:qldb:us-east-1:000000000000:stream/boto-ledger/" + stream_id, d
streams = qldb.list_journal_kinesis_streams_for_ledger(LedgerName="boto-ledger", MaxResults=10)["Streams"]
assert [s["StreamId"] for s in streams] == [stream_id], streams
print(stream_id)
`

func TestStreamBoto3AndCLI(t *testing.T) {
	requireTool(t, debianPython3)
	requireTool(t, debianAWS)
	emu := kinesisemu.StartKinesalite(t, kinesisemu.Stream("boto", 1))
	n := startWithKinesis(t, emu, func(c *config.Config) {
		c.AccessKeyID, c.SecretAccessKey = servertest.AccessKeyID, servertest.SecretAccessKey
	})
	n.CreateLedger("boto-ledger")
	drv := n.Driver("boto-ledger")
	workload(t, drv, "Vehicle", 3)

	cmd := exec.Command(debianPython3, "-c", boto3StreamScript, n.URL(), emu.StreamARN("boto"))
	cmd.Env = clientEnv()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("boto3: %v\n%s", err, out)
	}
	id := strings.TrimSpace(string(out))
	l := n.LedgerEngine("boto-ledger")
	col := awaitBlocks(t, emu, "boto", l.Next(), false)
	verifyStreamedJournal(t, n, "boto-ledger", col, 0, l.Next())

	// The AWS CLI's four stream commands.
	d := awsCLI(t, n, true, "qldb", "describe-journal-kinesis-stream", "--ledger-name", "boto-ledger", "--stream-id", id)
	if s, _ := d["Stream"].(map[string]any); s["Status"] != "ACTIVE" || s["StreamName"] != "boto-stream" {
		t.Errorf("describe-journal-kinesis-stream: %v", d)
	}
	lst := awsCLI(t, n, true, "qldb", "list-journal-kinesis-streams-for-ledger", "--ledger-name", "boto-ledger")
	if s, _ := lst["Streams"].([]any); len(s) != 1 {
		t.Errorf("list-journal-kinesis-streams-for-ledger: %v", lst)
	}
	c := awsCLI(t, n, true, "qldb", "cancel-journal-kinesis-stream", "--ledger-name", "boto-ledger", "--stream-id", id)
	if c["StreamId"] != id {
		t.Errorf("cancel-journal-kinesis-stream: %v", c)
	}
	created := awsCLI(t, n, true, "qldb", "stream-journal-to-kinesis", "--ledger-name", "boto-ledger",
		"--role-arn", testRole, "--inclusive-start-time", time.Now().Add(-time.Minute).UTC().Format(time.RFC3339),
		"--kinesis-configuration", "StreamArn="+emu.StreamARN("boto")+",AggregationEnabled=false", "--stream-name", "cli-stream")
	cliID, _ := created["StreamId"].(string)
	if len(cliID) != 22 {
		t.Fatalf("stream-journal-to-kinesis: %v", created)
	}
	ds, err := n.QLDB(servertest.AccessKeyID, servertest.SecretAccessKey).DescribeJournalKinesisStream(bg,
		&qldb.DescribeJournalKinesisStreamInput{LedgerName: aws.String("boto-ledger"), StreamId: aws.String(cliID)})
	if err != nil || ds.Stream.Status != types.StreamStatusActive || aws.ToBool(ds.Stream.KinesisConfiguration.AggregationEnabled) {
		t.Errorf("CLI-created stream: %v %+v", err, ds)
	}
}

func TestStreamKinesisLocalARNAddressing(t *testing.T) {
	// kinesis-local resolves streams by ARN; a stream in another account
	// of the same name must not be the one written.
	emu := kinesisemu.StartKinesisLocal(t, kinesisemu.Stream("by-arn", 2))
	n := startWithKinesis(t, emu, fastRetries)
	n.CreateLedger("arn-ledger")
	drv := n.Driver("arn-ledger")
	workload(t, drv, "T", 4)
	c := n.QLDB(servertest.AccessKeyID, servertest.SecretAccessKey)
	startStream(t, c, "arn-ledger", "arn-stream", emu.StreamARN("by-arn"), time.Now().Add(-time.Hour), nil, nil)
	l := n.LedgerEngine("arn-ledger")
	col := awaitBlocks(t, emu, "by-arn", l.Next(), false)
	verifyStreamedJournal(t, n, "arn-ledger", col, 0, l.Next())
}
