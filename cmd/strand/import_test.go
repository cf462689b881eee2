package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/qldb"
	qtypes "github.com/aws/aws-sdk-go-v2/service/qldb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/strand-db/strand/internal/config"
	"github.com/strand-db/strand/internal/ionvalue"
	"github.com/strand-db/strand/internal/journal"
	"github.com/strand-db/strand/internal/qldbhash"
	"github.com/strand-db/strand/internal/server/servertest"
	"github.com/strand-db/strand/internal/testenv/s3emu"
)

var importQueries = []string{
	"SELECT * FROM Cars",
	"SELECT * FROM Owners",
	"SELECT * FROM Cars WHERE vin = 'V3'",
	"SELECT * FROM history(Cars)",
	"SELECT * FROM _ql_committed_Owners",
}

func queryAnswers(t *testing.T, n *servertest.Node, ledger string) map[string]string {
	t.Helper()
	drv := n.Driver(ledger)
	out := map[string]string{}
	for _, q := range importQueries {
		var b strings.Builder
		for _, v := range servertest.MustQuery(t, drv, q) {
			b.WriteString(ionvalue.MarshalText(v))
			b.WriteByte('\n')
		}
		out[q] = b.String()
	}
	return out
}

func runImport(t *testing.T, args ...string) (int, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := importCmd(args, &stdout, &stderr)
	return code, stdout.String() + stderr.String()
}

// exportWait bounds how long a test waits for an export to complete.
var exportWait = 30 * time.Second

// exportAndWait exports every block committed so far. The SDK sends the
// end time in milliseconds and block times are milliseconds, so it waits
// for the clock to pass the millisecond of the last commit: an end time in
// that millisecond would exclude the block.
func exportAndWait(t *testing.T, c *qldb.Client, ledger, prefix, format string) string {
	t.Helper()
	time.Sleep(2 * time.Millisecond)
	return exportRange(t, c, ledger, prefix, format, time.Unix(0, 0), time.Now())
}

// exportRange exports the blocks committed in [start, end) and waits for
// the job to complete.
func exportRange(t *testing.T, c *qldb.Client, ledger, prefix, format string, start, end time.Time) string {
	t.Helper()
	ctx := context.Background()
	out, err := c.ExportJournalToS3(ctx, &qldb.ExportJournalToS3Input{
		Name: aws.String(ledger), InclusiveStartTime: aws.Time(start), ExclusiveEndTime: aws.Time(end),
		RoleArn: aws.String("arn:aws:iam::123456789012:role/qldb-export"), OutputFormat: qtypes.OutputFormat(format),
		S3ExportConfiguration: &qtypes.S3ExportConfiguration{Bucket: aws.String("exports"), Prefix: aws.String(prefix),
			EncryptionConfiguration: &qtypes.S3EncryptionConfiguration{ObjectEncryptionType: qtypes.S3ObjectEncryptionTypeNoEncryption}},
	})
	if err != nil {
		t.Fatal(err)
	}
	id := aws.ToString(out.ExportId)
	for deadline := time.Now().Add(exportWait); ; time.Sleep(50 * time.Millisecond) {
		d, err := c.DescribeJournalS3Export(ctx, &qldb.DescribeJournalS3ExportInput{Name: aws.String(ledger), ExportId: aws.String(id)})
		if err != nil {
			t.Fatal(err)
		}
		if d.ExportDescription.Status == qtypes.ExportStatusCompleted {
			return id
		}
		if d.ExportDescription.Status != qtypes.ExportStatusInProgress || time.Now().After(deadline) {
			t.Fatalf("export %s: %s", id, d.ExportDescription.Status)
		}
	}
}

// TestImportRoundTrip exports a ledger to s3rver and imports the export
// into a fresh server: the imported journal has the same block hashes, the
// same digest at the same tip (proved by the import from the saved
// digest), proofs from the imported ledger fold to the original digest,
// queries answer the same, and a new commit chains on. An export altered
// in S3 is refused naming its first bad block, and a JSON export only with
// --allow-json.
func TestImportRoundTrip(t *testing.T) {
	s3srv := s3emu.Start(t, "exports")
	t.Setenv("AWS_ACCESS_KEY_ID", s3emu.AccessKeyID)
	t.Setenv("AWS_SECRET_ACCESS_KEY", s3emu.SecretAccessKey)
	a, drv := servertest.StartLedger(t, "fleet", func(c *config.Config) {
		c.S3Endpoint = s3srv.Endpoint
		c.S3Credentials = s3emu.Credentials()
		c.ExportObjectBlocks = 4
	})
	servertest.Commit(t, drv, "CREATE TABLE Cars", "CREATE TABLE Owners", "CREATE INDEX ON Cars (vin)")
	for i := 0; i < 8; i++ {
		servertest.Commit(t, drv, fmt.Sprintf("INSERT INTO Cars VALUE {'vin': 'V%d', 'n': %d, 'price': 1%d.50, 'at': `2020-01-0%dT00:00:00.000Z`}", i%5, i, i, i%9+1),
			fmt.Sprintf("INSERT INTO Owners VALUE {'name': 'n%d', 'n': %d}", i%4, i))
	}
	servertest.Commit(t, drv, "UPDATE Cars SET vin = 'V3' WHERE n < 3", "DELETE FROM Owners WHERE n > 6")
	time.Sleep(5 * time.Millisecond)
	qa := a.QLDB(servertest.AccessKeyID, servertest.SecretAccessKey)
	exportAndWait(t, qa, "fleet", "ion/", "ION_TEXT")
	exportAndWait(t, qa, "fleet", "json/", "JSON")
	// A series of two exports split at a block's time, as the QLDB
	// migration sample splits large ledgers.
	split := servertest.Blocks(t, a.LedgerEngine("fleet"))[6].Timestamp
	exportRange(t, qa, "fleet", "series/", "ION_BINARY", time.Unix(0, 0), split)
	exportRange(t, qa, "fleet", "series/", "ION_BINARY", split, time.Now())
	ctx := context.Background()
	dg, err := qa.GetDigest(ctx, &qldb.GetDigestInput{Name: aws.String("fleet")})
	if err != nil {
		t.Fatal(err)
	}
	want := servertest.Blocks(t, a.LedgerEngine("fleet"))
	wantAnswers := queryAnswers(t, a, "fleet")
	digestFile := filepath.Join(t.TempDir(), "digest.json")
	raw, _ := json.Marshal(map[string]any{"Digest": base64.StdEncoding.EncodeToString(dg.Digest),
		"DigestTipAddress": map[string]string{"IonText": aws.ToString(dg.DigestTipAddress.IonText)}})
	if err := os.WriteFile(digestFile, raw, 0o600); err != nil {
		t.Fatal(err)
	}

	b := servertest.Start(t, nil)
	b.Stop()
	flags := []string{"--data-dir", b.Config.DataDir, "--s3-endpoint", s3srv.Endpoint}
	if b.Config.Store != "" {
		flags = append(flags, "--store", b.Config.Store)
	}
	code, out := runImport(t, append([]string{"--ledger", "fleet", "--from", "s3://exports/ion/", "--digest", digestFile}, flags...)...)
	if code != 0 || !strings.Contains(out, "reaches the digest") {
		t.Fatalf("import: exit %d\n%s", code, out)
	}
	if code, out := runImport(t, append([]string{"--ledger", "series", "--from", "s3://exports/series/", "--digest", digestFile}, flags...)...); code != 0 || !strings.Contains(out, "2 export(s)") {
		t.Fatalf("import of a series: exit %d\n%s", code, out)
	}
	// JSON without the flag is refused; nothing is written.
	if code, out := runImport(t, append([]string{"--ledger", "fromjson", "--from", "s3://exports/json/"}, flags...)...); code != 1 || !strings.Contains(out, "--allow-json") {
		t.Fatalf("JSON import without --allow-json: exit %d\n%s", code, out)
	}
	if code, out := runImport(t, append([]string{"--ledger", "fromjson", "--from", "s3://exports/json/", "--allow-json"}, flags...)...); code != 0 || !strings.Contains(out, "WARNING") {
		t.Fatalf("JSON import with --allow-json: exit %d\n%s", code, out)
	}
	// Alter one document value in one data object: refused, block named.
	c := s3srv.Client()
	keys := s3srv.Keys(t, "exports", "ion/")
	var victim string
	var body []byte
	for _, k := range keys {
		if strings.HasSuffix(k, ".ion") {
			if data := s3srv.Get(t, "exports", k); bytes.Contains(data, []byte(`name:"n2"`)) {
				victim, body = k, data
				break
			}
		}
	}
	if victim == "" {
		t.Fatal("no data object holds owner n2")
	}
	bad := bytes.Replace(body, []byte(`name:"n2"`), []byte(`name:"n9"`), 1)
	var badSeq uint64
	for _, v := range mustDecode(t, bad) {
		blk, err := journal.BlockFromIon(v)
		if err != nil {
			t.Fatal(err)
		}
		if journal.VerifyBlock(blk, blk.PreviousBlockHash) != nil {
			badSeq = blk.Address.SequenceNo
			break
		}
	}
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("exports"), Key: aws.String(victim), Body: bytes.NewReader(bad)}); err != nil {
		t.Fatal(err)
	}
	code, out = runImport(t, append([]string{"--ledger", "tampered", "--from", "s3://exports/ion/"}, flags...)...)
	wantName := fmt.Sprintf("block %s/%d", want[0].Address.StrandID, badSeq)
	if code != 1 || !strings.Contains(out, wantName) || !strings.Contains(out, "nothing written") {
		t.Fatalf("tampered import: exit %d, want 1 naming %q\n%s", code, wantName, out)
	}

	// The imported ledgers pass strand verify (hashes, chain, tree, copies).
	vflags := []string{"--data-dir", b.Config.DataDir}
	if b.Config.Store != "" {
		vflags = append(vflags, "--store", b.Config.Store)
	}
	for _, ledger := range []string{"fleet", "series"} {
		var vout, verr bytes.Buffer
		if code := verifyCmd(append([]string{"--ledger", ledger}, vflags...), &vout, &verr); code != 0 {
			t.Fatalf("strand verify --ledger %s after import: exit %d\n%s%s", ledger, code, vout.String(), verr.String())
		}
	}

	b2 := servertest.StartConfig(t, b.Config)
	got := servertest.Blocks(t, b2.LedgerEngine("fleet"))
	if len(got) != len(want) {
		t.Fatalf("imported %d blocks, want %d", len(got), len(want))
	}
	for i := range want {
		if !bytes.Equal(got[i].BlockHash, want[i].BlockHash) || got[i].Address != want[i].Address || got[i].TransactionID != want[i].TransactionID {
			t.Fatalf("block %d differs after import", i)
		}
	}
	qb := b2.QLDB(servertest.AccessKeyID, servertest.SecretAccessKey)
	if series := servertest.Blocks(t, b2.LedgerEngine("series")); len(series) != len(want) || !bytes.Equal(series[len(want)-1].BlockHash, want[len(want)-1].BlockHash) {
		t.Fatalf("the series imported %d blocks", len(series))
	}
	for _, ledger := range []string{"fleet", "tampered"} {
		_, err := qb.DescribeLedger(ctx, &qldb.DescribeLedgerInput{Name: aws.String(ledger)})
		if (err == nil) != (ledger == "fleet") {
			t.Fatalf("ledger %s after import: %v", ledger, err)
		}
	}
	tip := dg.DigestTipAddress.IonText
	blk, err := qb.GetBlock(ctx, &qldb.GetBlockInput{Name: aws.String("fleet"), BlockAddress: &qtypes.ValueHolder{IonText: aws.String(fmt.Sprintf("{strandId:%q,sequenceNo:3}", want[0].Address.StrandID))},
		DigestTipAddress: &qtypes.ValueHolder{IonText: tip}})
	if err != nil {
		t.Fatal(err)
	}
	var proof [][]byte
	pv, err := ionvalue.DecodeOne([]byte(aws.ToString(blk.Proof.IonText)))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range pv.Elems {
		proof = append(proof, e.Bytes)
	}
	if !bytes.Equal(qldbhash.Fold(want[3].BlockHash, proof), dg.Digest) {
		t.Fatal("a proof from the imported ledger does not fold to the original digest")
	}
	if gotAnswers := queryAnswers(t, b2, "fleet"); fmt.Sprint(gotAnswers) != fmt.Sprint(wantAnswers) {
		t.Fatalf("queries differ after import:\n%v\nwant\n%v", gotAnswers, wantAnswers)
	}
	servertest.Commit(t, b2.Driver("fleet"), "INSERT INTO Cars VALUE {'vin': 'NEW'}", "CREATE INDEX ON Owners (name)")
	all := servertest.VerifyChain(t, b2.LedgerEngine("fleet"))
	if len(all) <= len(want) || !bytes.Equal(all[len(want)].PreviousBlockHash, want[len(want)-1].BlockHash) {
		t.Fatalf("the new commit does not chain on the imported blocks: %d blocks, %d imported", len(all), len(want))
	}
	if rows := servertest.MustQuery(t, b2.Driver("fleet"), "SELECT * FROM Owners WHERE name = 'n2'"); len(rows) == 0 {
		t.Fatal("an index created after the import finds nothing")
	}
}

func mustDecode(t *testing.T, b []byte) []*ionvalue.Value {
	t.Helper()
	vs, err := ionvalue.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	return vs
}

// TestImportQLDBVector imports real QLDB block 100 (AWS CLI examples, in
// testdata) laid out as a QLDB export in a directory: every hash of the
// block verifies and, with the saved digest and GetBlock proof, the import
// proves it reaches QLDB's digest at tip 123; the import is then refused
// because Strand needs the journal from block 0. The same block with one
// document value changed is refused, naming the block.
func TestImportQLDBVector(t *testing.T) {
	raw, err := os.ReadFile("testdata/vehicle-registration-block100.ion")
	if err != nil {
		t.Fatal(err)
	}
	var block, proof, digest *ionvalue.Value
	for _, v := range mustDecode(t, raw) {
		switch {
		case len(v.Annotations) > 0 && v.Annotations[0] == "block":
			block = v
		case len(v.Annotations) > 0 && v.Annotations[0] == "block_proof":
			proof = v
		case len(v.Annotations) > 0 && v.Annotations[0] == "digest":
			digest = v
		}
	}
	block.Annotations = nil
	var proofB64 []string
	for _, e := range proof.Elems {
		proofB64 = append(proofB64, base64.StdEncoding.EncodeToString(e.Bytes))
	}
	tip := digest.Get("digestTipAddress")
	df, _ := json.Marshal(map[string]any{
		"Ledger": "vehicle-registration", "Digest": base64.StdEncoding.EncodeToString(digest.Get("digest").Bytes),
		"DigestTipAddress": ionvalue.MarshalText(tip), "LastBlockNum": 100, "Proof": proofB64,
	})
	digestFile := filepath.Join(t.TempDir(), "digest.json")
	if err := os.WriteFile(digestFile, df, 0o600); err != nil {
		t.Fatal(err)
	}
	layout := func(text string) string {
		dir := t.TempDir()
		key := "vr/2019/09/16/19/KmA3ZZca7vAIiJAK9S5Iwl.100-100.ion"
		if err := os.MkdirAll(filepath.Join(dir, "2019/09/16/19"), 0o755); err != nil {
			t.Fatal(err)
		}
		// The copy dropped the prefix "vr/": the manifest's full keys still resolve.
		if err := os.WriteFile(filepath.Join(dir, "2019/09/16/19/KmA3ZZca7vAIiJAK9S5Iwl.100-100.ion"), []byte(text+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		manifest := fmt.Sprintf("{keys:[%q]}", key)
		if err := os.WriteFile(filepath.Join(dir, "8UyXulxccYLAsbN1aon7e4.KmA3ZZca7vAIiJAK9S5Iwl.completed.manifest"), []byte(manifest), 0o600); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	b := servertest.Start(t, nil)
	b.Stop()
	flags := []string{"--data-dir", b.Config.DataDir}
	if b.Config.Store != "" {
		flags = append(flags, "--store", b.Config.Store)
	}
	text := ionvalue.MarshalText(block)
	code, out := runImport(t, append([]string{"--ledger", "vr", "--from", layout(text), "--digest", digestFile}, flags...)...)
	if code != 1 || !strings.Contains(out, "reaches the digest") || !strings.Contains(out, "starts at block 100") {
		t.Fatalf("vector import: exit %d\n%s", code, out)
	}
	bad := strings.Replace(text, `"LEWISR261LL"`, `"LEWISR261LM"`, 1)
	code, out = runImport(t, append([]string{"--ledger", "vr", "--from", layout(bad)}, flags...)...)
	if code != 1 || !strings.Contains(out, "block KmA3ZZca7vAIiJAK9S5Iwl/100") {
		t.Fatalf("tampered vector import: exit %d\n%s", code, out)
	}
}
