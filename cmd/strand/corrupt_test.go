package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/qldb"
	"github.com/aws/aws-sdk-go-v2/service/qldb/types"
	"github.com/aws/smithy-go"

	"github.com/strand-db/strand/internal/config"
	"github.com/strand-db/strand/internal/ionvalue"
	"github.com/strand-db/strand/internal/journal"
	"github.com/strand-db/strand/internal/server/servertest"
)

// TestCorruptBlockFailsOneLedger damages one storage block of one ledger on
// disk (a byte flipped inside a journal block's bytes in an .sst file, as
// a failing disk would) and checks that the server lives on: GetBlock of
// the damaged block answers InternalFailure (500) saying the ledger's
// storage is damaged, the ledger's other blocks and the other ledger keep
// serving, the metrics show the damaged ledger, and strand verify reports
// both ledgers and names the first bad block.
func TestCorruptBlockFailsOneLedger(t *testing.T) {
	servertest.RequireEmbeddedStore(t, "damaged Pebble table files")
	ctx := context.Background()
	dir := t.TempDir()
	start := func() *servertest.Node {
		return servertest.Start(t, func(c *config.Config) {
			c.DataDir = dir
			c.MetricsListen = "127.0.0.1:0"
		})
	}
	n := start()
	n.CreateLedger("damaged")
	n.CreateLedger("intact")

	// Blocks bigger than Pebble's 4 KiB data blocks, of random (so
	// incompressible, stored verbatim) text: the block holding the marker
	// has a storage block of its own.
	randomText := func() string {
		b := make([]byte, 4500)
		if _, err := rand.Read(b); err != nil {
			t.Fatal(err)
		}
		return base64.RawURLEncoding.EncodeToString(b)
	}
	marker := randomText()
	for _, name := range []string{"damaged", "intact"} {
		drv := n.Driver(name)
		servertest.MustQuery(t, drv, "CREATE TABLE t")
		servertest.MustQuery(t, drv, "INSERT INTO t ?", map[string]any{"n": 1, "pad": randomText()})
		text := randomText()
		if name == "damaged" {
			text = marker
		}
		servertest.MustQuery(t, drv, "INSERT INTO t ?", map[string]any{"n": 2, "pad": text})
		// Small blocks after it: opening a ledger reads its newest blocks.
		for i := 3; i < 6; i++ {
			servertest.MustQuery(t, drv, "INSERT INTO t ?", map[string]any{"n": i, "pad": "small"})
		}
	}
	c := n.QLDB(servertest.AccessKeyID, servertest.SecretAccessKey)
	strands := map[string]string{}
	tips := map[string]uint64{}
	var bad uint64 // the block of "damaged" holding the marker
	for _, name := range []string{"damaged", "intact"} {
		d, err := c.GetDigest(ctx, &qldb.GetDigestInput{Name: aws.String(name)})
		if err != nil {
			t.Fatalf("GetDigest %s: %v", name, err)
		}
		v, err := ionvalue.DecodeOne([]byte(*d.DigestTipAddress.IonText))
		if err != nil {
			t.Fatal(err)
		}
		a, err := journal.AddressFromIon(v)
		if err != nil {
			t.Fatal(err)
		}
		strands[name], tips[name] = a.StrandID, a.SequenceNo
	}
	getBlock := func(c *qldb.Client, name string, seq uint64) (string, error) {
		out, err := c.GetBlock(ctx, &qldb.GetBlockInput{Name: aws.String(name),
			BlockAddress: &types.ValueHolder{IonText: aws.String(fmt.Sprintf("{strandId:%q,sequenceNo:%d}", strands[name], seq))}})
		if err != nil {
			return "", err
		}
		return *out.Block.IonText, nil
	}
	for seq := uint64(0); seq <= tips["damaged"]; seq++ {
		text, err := getBlock(c, "damaged", seq)
		if err != nil {
			t.Fatalf("GetBlock %d: %v", seq, err)
		}
		if strings.Contains(text, marker) {
			bad = seq
		}
	}
	if bad == 0 {
		t.Fatal("no block of ledger damaged holds the marker")
	}
	n.Stop()

	// Put everything in table files, then damage two stored copies of the
	// marker: the first (the journal block, b/ sorts first) and the last
	// (the history entry behind history(), h/ sorts after the latest
	// revisions under d/, left intact).
	flushStore(t, dir)
	ssts, _ := filepath.Glob(filepath.Join(dir, "pebble", "*.sst"))
	damagedFiles := 0
	for _, path := range ssts {
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if n := bytes.Count(raw, []byte(marker)); n == 0 {
			continue
		} else if n != 3 {
			t.Fatalf("%d copies of the marker in %s, want 3 (block, latest, history)", n, path)
		}
		raw[bytes.Index(raw, []byte(marker))+len(marker)/2] ^= 0x01
		raw[bytes.LastIndex(raw, []byte(marker))+len(marker)/2] ^= 0x01
		if err := os.WriteFile(path, raw, 0o644); err != nil {
			t.Fatal(err)
		}
		damagedFiles++
	}
	if damagedFiles != 1 {
		t.Fatalf("the marker is stored verbatim in %d of %d table files, want 1", damagedFiles, len(ssts))
	}

	// The server starts and serves; only the damaged block fails.
	n = start()
	c = n.QLDB(servertest.AccessKeyID, servertest.SecretAccessKey)
	_, err := getBlock(c, "damaged", bad)
	var ae smithy.APIError
	var re *awshttp.ResponseError
	if !errors.As(err, &ae) || ae.ErrorCode() != "InternalFailure" || !errors.As(err, &re) || re.HTTPStatusCode() != http.StatusInternalServerError {
		t.Fatalf("GetBlock of the damaged block: want InternalFailure (500), got %v", err)
	}
	if msg := ae.ErrorMessage(); !strings.Contains(msg, "damaged") || !strings.Contains(msg, "damaged (block") || strings.Contains(msg, ".sst") {
		t.Errorf("InternalFailure message %q: want it to say the ledger's storage is damaged, without file names", msg)
	}
	if _, err := getBlock(c, "damaged", 0); err != nil {
		t.Errorf("GetBlock of an undamaged block of the damaged ledger: %v", err)
	}
	for seq := uint64(0); seq <= tips["intact"]; seq++ {
		if _, err := getBlock(c, "intact", seq); err != nil {
			t.Errorf("GetBlock %d of the other ledger: %v", seq, err)
		}
	}
	servertest.MustQuery(t, n.Driver("intact"), "INSERT INTO t ?", map[string]any{"n": 4})
	servertest.MustQuery(t, n.Driver("intact"), "SELECT * FROM t")
	// A statement that reads the damaged history entry fails the same way.
	if _, err := servertest.Query(n.Driver("damaged"), "SELECT * FROM history(t)"); !errors.As(err, &ae) || ae.ErrorCode() != "InternalFailure" || !strings.Contains(ae.ErrorMessage(), "stored data is damaged") {
		t.Errorf("SELECT over the damaged document: want InternalFailure, got %v", err)
	}
	desc, err := c.DescribeLedger(ctx, &qldb.DescribeLedgerInput{Name: aws.String("damaged")})
	if err != nil || desc.State != types.LedgerStateActive {
		t.Errorf("DescribeLedger damaged: %v %+v (a damaged ledger stays ACTIVE: docs/compatibility.md)", err, desc)
	}
	resp, err := http.Get(n.MetricsURL())
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`strand_ledger_healthy{ledger="damaged"} 0`, `strand_ledger_healthy{ledger="intact"} 1`} {
		if !bytes.Contains(metrics, []byte(want)) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if bytes.Contains(metrics, []byte("strand_store_corruption_events_total 0\n")) {
		t.Errorf("metrics count no corruption event")
	}
	n.Stop()

	// strand verify reports both ledgers and names the first bad block.
	code, out, errOut := runVerify("--data-dir", dir)
	if code != 1 {
		t.Errorf("strand verify: exit %d, want 1", code)
	}
	if want := fmt.Sprintf("ledger damaged: FAILED: first bad block %d: storage check", bad); !strings.Contains(out, want) {
		t.Errorf("strand verify does not report %q", want)
	}
	if !strings.Contains(out, "ledger intact: OK: ") {
		t.Errorf("strand verify does not report the intact ledger")
	}
	if t.Failed() || testing.Verbose() {
		t.Logf("strand verify stdout:\n%s\nstderr:\n%s", out, errOut)
	}
}
