package main

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/qldb"

	"github.com/strand-db/strand/internal/config"
	"github.com/strand-db/strand/internal/server/servertest"
	"github.com/strand-db/strand/internal/testenv/ledgerfill"
	"github.com/strand-db/strand/internal/testenv/s3emu"
)

// TestExportImportLarge measures a journal export to s3rver and the import
// of that export into a fresh data directory, for a journal of
// $STRAND_BENCH_BLOCKS blocks (default 100,000 here) built with ledgerfill.
// It runs only with STRAND_LONG=1 (TestImportRoundTrip is the short form,
// run in CI); the figures go to BENCHMARKS.md ("Exports (issue 16)"):
//
//	STRAND_LONG=1 STRAND_BENCH_BLOCKS=100000 GO_TEST_FLAGS='-run TestExportImportLarge -v -timeout 60m' scripts/test.sh ./cmd/strand
func TestExportImportLarge(t *testing.T) {
	if os.Getenv("STRAND_LONG") != "1" {
		t.Skip("long form: set STRAND_LONG=1 (TestImportRoundTrip is the short form, run in CI)")
	}
	servertest.RequireEmbeddedStore(t, "ledgerfill builds an embedded store")
	blocks := uint64(100_000)
	if os.Getenv("STRAND_BENCH_BLOCKS") != "" {
		blocks = ledgerfill.BenchBlocks()
	}
	exportWait = 30 * time.Minute
	t.Cleanup(func() { exportWait = 30 * time.Second })
	dir := ledgerfill.BenchDir(t, blocks)
	s3srv := s3emu.Start(t, "exports")
	t.Setenv("AWS_ACCESS_KEY_ID", s3emu.AccessKeyID)
	t.Setenv("AWS_SECRET_ACCESS_KEY", s3emu.SecretAccessKey)
	for _, format := range []string{"ION_BINARY", "ION_TEXT"} {
		a := servertest.Start(t, func(c *config.Config) {
			c.DataDir = dir
			c.S3Endpoint = s3srv.Endpoint
			c.S3Credentials = s3emu.Credentials()
		})
		qa := a.QLDB(servertest.AccessKeyID, servertest.SecretAccessKey)
		n := a.LedgerEngine("bench").Next()
		start := time.Now()
		exportAndWait(t, qa, "bench", strings.ToLower(format)+"/", format)
		el := time.Since(start)
		t.Logf("export %s: %d blocks in %s: %.0f blocks/s", format, n, el.Round(time.Millisecond), float64(n)/el.Seconds())
		dg, err := qa.GetDigest(context.Background(), &qldb.GetDigestInput{Name: aws.String("bench")})
		if err != nil {
			t.Fatal(err)
		}
		a.Stop()

		b := servertest.Start(t, nil)
		b.Stop()
		start = time.Now()
		code, out := runImport(t, "--ledger", "bench", "--from", "s3://exports/"+strings.ToLower(format)+"/", "--s3-endpoint", s3srv.Endpoint, "--data-dir", b.Config.DataDir)
		el = time.Since(start)
		if code != 0 {
			t.Fatalf("import: exit %d\n%s", code, out)
		}
		t.Logf("import %s: %d blocks in %s: %.0f blocks/s\n%s", format, n, el.Round(time.Millisecond), float64(n)/el.Seconds(), out)
		b2 := servertest.StartConfig(t, b.Config)
		got, err := b2.QLDB(servertest.AccessKeyID, servertest.SecretAccessKey).GetDigest(context.Background(), &qldb.GetDigestInput{Name: aws.String("bench")})
		if err != nil {
			t.Fatal(err)
		}
		if string(got.Digest) != string(dg.Digest) || aws.ToString(got.DigestTipAddress.IonText) != aws.ToString(dg.DigestTipAddress.IonText) {
			t.Fatalf("imported digest %x at %s, original %x at %s", got.Digest, aws.ToString(got.DigestTipAddress.IonText), dg.Digest, aws.ToString(dg.DigestTipAddress.IonText))
		}
		b2.Stop()
	}
}
