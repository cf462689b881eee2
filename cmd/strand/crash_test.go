package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/qldb"
	"github.com/aws/aws-sdk-go-v2/service/qldb/types"
	"github.com/aws/aws-sdk-go-v2/service/qldbsession"
	"github.com/awslabs/amazon-qldb-driver-go/v3/qldbdriver"

	"github.com/strand-db/strand/internal/server/servertest"
	"github.com/strand-db/strand/internal/stream/record"
	"github.com/strand-db/strand/internal/stream/streamtest"
	"github.com/strand-db/strand/internal/testenv"
	"github.com/strand-db/strand/internal/testenv/kinesisemu"
)

// strandProc is a strand serve process under test.
type strandProc struct {
	cmd *exec.Cmd
	url string
}

func startServe(t *testing.T, bin, dir, kinesisEndpoint string, extra ...string) *strandProc {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"serve", "--listen", "127.0.0.1:0", "--data-dir", dir,
		"--kinesis-endpoint", kinesisEndpoint, "--stream-retry-max", "200ms"}, extra...)...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(),
		"AWS_ACCESS_KEY_ID=AKIDKINESIS", "AWS_SECRET_ACCESS_KEY=kinesis-secret", "AWS_EC2_METADATA_DISABLED=true",
		"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null"}
	if url := servertest.StoreFor(t, dir); url != "" {
		cmd.Env = append(cmd.Env, "STRAND_STORE="+url) // STRAND_TEST_STORE=postgres
	}
	out, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	sc := bufio.NewScanner(out)
	url := ""
	for url == "" && sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) == 4 && f[1] == "listening" {
			url = f[3]
		}
	}
	if url == "" {
		t.Fatal("strand printed no URL")
	}
	go func() {
		for sc.Scan() {
		}
	}()
	return &strandProc{cmd: cmd, url: url}
}

func (p *strandProc) clients() (*qldb.Client, *qldbsession.Client) {
	cfg := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("AKID", "secret", ""),
		Retryer: func() aws.Retryer { return aws.NopRetryer{} }, HTTPClient: servertest.HTTPClient(nil)}
	return qldb.NewFromConfig(cfg, func(o *qldb.Options) { o.BaseEndpoint = aws.String(p.url) }),
		qldbsession.NewFromConfig(cfg, func(o *qldbsession.Options) { o.BaseEndpoint = aws.String(p.url) })
}

// TestStreamSurvivesSIGKILL kills the server while it streams and commits,
// restarts it on the same data directory, and checks that every block
// acknowledged to a client before the kill, and every block after, reaches
// Kinesis: at least once, no gap.
func TestStreamSurvivesSIGKILL(t *testing.T) {
	bin := buildStrand(t)
	dir := t.TempDir()
	emu := kinesisemu.StartKinesalite(t, kinesisemu.Stream("crash", 2))
	ctx := context.Background()

	p := startServe(t, bin, dir, emu.Endpoint)
	qc, sc := p.clients()
	if _, err := qc.CreateLedger(ctx, &qldb.CreateLedgerInput{Name: aws.String("crash"), PermissionsMode: types.PermissionsModeAllowAll}); err != nil {
		t.Fatal(err)
	}
	drv, err := qldbdriver.New("crash", sc, func(o *qldbdriver.DriverOptions) { o.LoggerVerbosity = qldbdriver.LogOff })
	if err != nil {
		t.Fatal(err)
	}
	acked := map[string]bool{} // transaction ids the server acknowledged
	commit := func(d *qldbdriver.QLDBDriver, stmt string) error {
		id, err := d.Execute(ctx, func(tx qldbdriver.Transaction) (any, error) {
			if _, err := tx.Execute(stmt); err != nil {
				return nil, err
			}
			return tx.ID(), nil
		})
		if err == nil {
			acked[id.(string)] = true
		}
		return err
	}
	if err := commit(drv, "CREATE TABLE T"); err != nil {
		t.Fatal(err)
	}
	_, err = qc.StreamJournalToKinesis(ctx, &qldb.StreamJournalToKinesisInput{LedgerName: aws.String("crash"),
		RoleArn: aws.String("arn:aws:iam::000000000000:role/r"), StreamName: aws.String("crash"), InclusiveStartTime: aws.Time(time.Now().Add(-time.Hour)),
		KinesisConfiguration: &types.KinesisConfiguration{StreamArn: aws.String(emu.StreamARN("crash"))}})
	if err != nil {
		t.Fatal(err)
	}
	// Commit while the stream delivers, then kill -9 mid-flight.
	for i := 0; i < 40; i++ {
		if err := commit(drv, fmt.Sprintf("INSERT INTO T VALUE {'i': %d}", i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = p.cmd.Wait()

	p2 := startServe(t, bin, dir, emu.Endpoint)
	_, sc2 := p2.clients()
	drv2, err := qldbdriver.New("crash", sc2, func(o *qldbdriver.DriverOptions) { o.LoggerVerbosity = qldbdriver.LogOff })
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ {
		if err := commit(drv2, fmt.Sprintf("INSERT INTO T VALUE {'after': %d}", i)); err != nil {
			t.Fatal(err)
		}
	}
	testenv.Await(t, 60*time.Second, func() error {
		col, err := streamtest.Read(ctx, emu, "crash")
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]bool{}
		maxSeq := uint64(0)
		seqs := map[uint64]bool{}
		for _, d := range col.Records {
			if d.Record.Type == record.TypeBlockSummary {
				got[d.Record.Block.TransactionID] = true
				seqs[d.Record.Block.Address.SequenceNo] = true
				maxSeq = max(maxSeq, d.Record.Block.Address.SequenceNo)
			}
		}
		missing := 0
		for id := range acked {
			if !got[id] {
				missing++
			}
		}
		gap := false
		for s := uint64(0); s <= maxSeq; s++ {
			gap = gap || !seqs[s]
		}
		if missing == 0 && !gap {
			blocks, err := col.Blocks()
			if err != nil {
				t.Fatal(err)
			}
			if len(blocks) == 0 {
				t.Fatal("no blocks")
			}
			return nil
		}
		return fmt.Errorf("%d acknowledged transactions have not reached Kinesis (gap in sequence numbers: %v)", missing, gap)
	})
}
