package main

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/qldb"
	qtypes "github.com/aws/aws-sdk-go-v2/service/qldb/types"
	"github.com/awslabs/amazon-qldb-driver-go/v3/qldbdriver"

	"github.com/strand-db/strand/internal/config"
	"github.com/strand-db/strand/internal/ionvalue"
	"github.com/strand-db/strand/internal/journal"
	"github.com/strand-db/strand/internal/server/servertest"
	"github.com/strand-db/strand/internal/testenv/s3emu"
)

// importedPair is a ledger "fleet" built on node a, exported to s3rver as
// ION_TEXT and imported into a fresh data directory served by node b.
type importedPair struct {
	a, b   *servertest.Node
	want   []*journal.Block
	digest *qldb.GetDigestOutput
	out    string // the import's output
}

// exportImport builds ledger fleet on a node with build, exports it and
// imports the export into a fresh node's data directory, checks that the
// import succeeded and that the imported ledger passes strand verify, and
// starts a node on it.
func exportImport(t *testing.T, build func(drv *qldbdriver.QLDBDriver)) *importedPair {
	t.Helper()
	s3srv := s3emu.Start(t, "exports")
	t.Setenv("AWS_ACCESS_KEY_ID", s3emu.AccessKeyID)
	t.Setenv("AWS_SECRET_ACCESS_KEY", s3emu.SecretAccessKey)
	a, drv := servertest.StartLedger(t, "fleet", func(c *config.Config) {
		c.S3Endpoint = s3srv.Endpoint
		c.S3Credentials = s3emu.Credentials()
		c.ExportObjectBlocks = 4
	})
	build(drv)
	qa := a.QLDB(servertest.AccessKeyID, servertest.SecretAccessKey)
	exportAndWait(t, qa, "fleet", "ion/", "ION_TEXT")
	dg, err := qa.GetDigest(context.Background(), &qldb.GetDigestInput{Name: aws.String("fleet")})
	if err != nil {
		t.Fatal(err)
	}
	p := &importedPair{a: a, want: servertest.Blocks(t, a.LedgerEngine("fleet")), digest: dg}

	b := servertest.Start(t, nil)
	b.Stop()
	flags := []string{"--data-dir", b.Config.DataDir, "--s3-endpoint", s3srv.Endpoint}
	vflags := []string{"--data-dir", b.Config.DataDir}
	if b.Config.Store != "" {
		flags = append(flags, "--store", b.Config.Store)
		vflags = append(vflags, "--store", b.Config.Store)
	}
	code, out := runImport(t, append([]string{"--ledger", "fleet", "--from", "s3://exports/ion/"}, flags...)...)
	if code != 0 {
		t.Fatalf("import: exit %d\n%s", code, out)
	}
	p.out = out
	var vout, verr bytes.Buffer
	if code := verifyCmd(append([]string{"--ledger", "fleet"}, vflags...), &vout, &verr); code != 0 {
		t.Fatalf("strand verify after import: exit %d\n%s%s", code, vout.String(), verr.String())
	}
	p.b = servertest.StartConfig(t, b.Config)
	got := servertest.Blocks(t, p.b.LedgerEngine("fleet"))
	if len(got) != len(p.want) {
		t.Fatalf("imported %d blocks, want %d", len(got), len(p.want))
	}
	for i := range p.want {
		if !bytes.Equal(got[i].BlockHash, p.want[i].BlockHash) {
			t.Fatalf("block %d: hash %x after import, %x before", i, got[i].BlockHash, p.want[i].BlockHash)
		}
	}
	gd, err := p.b.QLDB(servertest.AccessKeyID, servertest.SecretAccessKey).GetDigest(context.Background(), &qldb.GetDigestInput{Name: aws.String("fleet")})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(gd.Digest, dg.Digest) || aws.ToString(gd.DigestTipAddress.IonText) != aws.ToString(dg.DigestTipAddress.IonText) {
		t.Fatalf("digest after import %x at %s, before %x at %s", gd.Digest, aws.ToString(gd.DigestTipAddress.IonText), dg.Digest, aws.ToString(dg.DigestTipAddress.IonText))
	}
	return p
}

// TestImportRedaction (issue 16): a ledger in which a past revision was
// redacted (EXEC redact_revision) exports with the redacted revision
// (dataHash in place of data) and the redacting block's redactionInfo;
// the import accepts it with the same block hashes and digest, serves the
// revision as redacted in history() and GetRevision, and serves the
// document's later revisions as before.
func TestImportRedaction(t *testing.T) {
	var docID, tableID string
	var addr journal.BlockAddress
	p := exportImport(t, func(drv *qldbdriver.QLDBDriver) {
		servertest.Commit(t, drv, "CREATE TABLE People")
		servertest.Commit(t, drv, "INSERT INTO People VALUE {'name': 'Ann', 'ssn': '123-45-6789'}")
		servertest.Commit(t, drv, "UPDATE People SET ssn = 'gone'")
		servertest.Commit(t, drv, "INSERT INTO People VALUE {'name': 'Bob'}")
		hist := servertest.MustQuery(t, drv, "SELECT * FROM history(People) AS h WHERE h.metadata.version = 0 AND h.data.name = 'Ann'")
		var err error
		if addr, err = journal.AddressFromIon(hist[0].Get("blockAddress")); err != nil {
			t.Fatal(err)
		}
		docID = hist[0].Get("metadata").Get("id").Text
		tableID = servertest.MustQuery(t, drv, "SELECT VALUE tableId FROM information_schema.user_tables WHERE name = 'People'")[0].Text
		addrParam := map[string]any{"strandId": addr.StrandID, "sequenceNo": int64(addr.SequenceNo)}
		if _, err := servertest.Query(drv, "EXEC redact_revision ?, ?, ?", addrParam, tableID, docID); err != nil {
			t.Fatalf("redact: %v", err)
		}
		servertest.Commit(t, drv, "INSERT INTO People VALUE {'name': 'Cy'}")
	})
	drv := p.b.Driver("fleet")
	hist := servertest.MustQuery(t, drv, fmt.Sprintf("SELECT * FROM history(People) AS h WHERE h.metadata.id = '%s'", docID))
	if len(hist) != 2 {
		t.Fatalf("history of the redacted document: %d revisions, want 2", len(hist))
	}
	if hist[0].Get("data") != nil || hist[0].Get("dataHash") == nil {
		t.Fatalf("imported redacted revision: %s, want dataHash in place of data", ionvalue.MarshalText(hist[0]))
	}
	if hist[1].Get("data").Get("ssn").Text != "gone" {
		t.Fatalf("the document's later revision: %s", ionvalue.MarshalText(hist[1]))
	}
	if rows := servertest.MustQuery(t, drv, "SELECT VALUE name FROM People"); len(rows) != 3 {
		t.Fatalf("People holds %d documents after import, want 3", len(rows))
	}
	qb := p.b.QLDB(servertest.AccessKeyID, servertest.SecretAccessKey)
	rev, err := qb.GetRevision(context.Background(), &qldb.GetRevisionInput{Name: aws.String("fleet"),
		BlockAddress: &qtypes.ValueHolder{IonText: aws.String(ionvalue.MarshalText(addr.Ion()))}, DocumentId: aws.String(docID),
		DigestTipAddress: &qtypes.ValueHolder{IonText: p.digest.DigestTipAddress.IonText}})
	if err != nil {
		t.Fatal(err)
	}
	if s := aws.ToString(rev.Revision.IonText); !strings.Contains(s, "dataHash") || strings.Contains(s, "123-45-6789") {
		t.Fatalf("GetRevision of the redacted revision after import: %s", s)
	}
	servertest.Commit(t, drv, "INSERT INTO People VALUE {'name': 'Dee'}")
	servertest.VerifyChain(t, p.b.LedgerEngine("fleet"))
}
