package main

import (
	"bytes"
	"context"
	"fmt"
	"sort"
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

// userTables describes information_schema.user_tables as name/status
// [index fields], sorted; with ids, the table ids too.
func userTables(t *testing.T, drv *qldbdriver.QLDBDriver) (desc []string, ids map[string]string) {
	t.Helper()
	ids = map[string]string{}
	for _, row := range servertest.MustQuery(t, drv, "SELECT * FROM information_schema.user_tables") {
		name, status := row.Get("name").Text, row.Get("status").Text
		var fields []string
		if ix := row.Get("indexes"); ix != nil {
			for _, e := range ix.Elems {
				s := e.Get("expr").Text
				if st := e.Get("status"); st != nil {
					s += ":" + st.Text
				}
				fields = append(fields, s)
			}
		}
		sort.Strings(fields)
		desc = append(desc, fmt.Sprintf("%s/%s%v", name, status, fields))
		ids[name+"/"+status] = row.Get("tableId").Text
	}
	sort.Strings(desc)
	return desc, ids
}

// TestImportCatalogue (issue 16): the imported table catalogue is the one
// the journal's statements built. A ledger with a populated table holding
// two indexes (one created before its documents, one after), an empty
// table, a populated table that was dropped, an empty table that was
// dropped, and a table dropped, undropped and indexed, is exported and
// imported: information_schema.user_tables lists the same tables with the
// same statuses and indexes (ONLINE), and the populated tables keep
// QLDB's table ids; a select on an indexed field reads only the matching
// documents (ConsumedIOs.ReadIOs); the dropped tables are INACTIVE;
// history('tableId') of a dropped table serves its revisions; and new
// commits (into the empty table too) chain on and verify.
func TestImportCatalogue(t *testing.T) {
	p := exportImport(t, func(drv *qldbdriver.QLDBDriver) {
		servertest.Commit(t, drv, "CREATE TABLE Cars", "CREATE INDEX ON Cars (vin)")
		servertest.Commit(t, drv, "CREATE TABLE Empty")
		servertest.Commit(t, drv, "CREATE TABLE Gone", "CREATE TABLE Vanished")
		for i := 0; i < 12; i++ {
			servertest.Commit(t, drv, fmt.Sprintf("INSERT INTO Cars VALUE {'vin': 'V%d', 'n': %d}", i%6, i),
				fmt.Sprintf("INSERT INTO Gone VALUE {'g': %d}", i))
		}
		servertest.Commit(t, drv, "CREATE INDEX ON Cars (n)")
		servertest.Commit(t, drv, "DROP TABLE Gone")
		servertest.Commit(t, drv, "DROP TABLE Vanished")
		servertest.Commit(t, drv, "CREATE TABLE Back", "INSERT INTO Back VALUE {'b': 1}")
		servertest.Commit(t, drv, "DROP TABLE Back")
		ids := map[string]string{}
		for _, r := range servertest.MustQuery(t, drv, "SELECT name, tableId FROM information_schema.user_tables") {
			ids[r.Get("name").Text] = r.Get("tableId").Text
		}
		servertest.Commit(t, drv, fmt.Sprintf("UNDROP TABLE \"%s\"", ids["Back"]), "CREATE INDEX ON Back (b)")
	})
	wantDesc, wantIDs := userTables(t, p.a.Driver("fleet"))
	drv := p.b.Driver("fleet")
	gotDesc, gotIDs := userTables(t, drv)
	if fmt.Sprint(gotDesc) != fmt.Sprint(wantDesc) {
		t.Fatalf("imported user_tables:\n%v\nwant\n%v\nimport output:\n%s", gotDesc, wantDesc, p.out)
	}
	for _, k := range []string{"Cars/ACTIVE", "Gone/INACTIVE", "Back/ACTIVE"} {
		if gotIDs[k] != wantIDs[k] {
			t.Fatalf("table %s has id %s after import, %s before", k, gotIDs[k], wantIDs[k])
		}
	}
	// Index use: two of 12 documents have vin V3, one has n = 5.
	for q, want := range map[string]int{"SELECT * FROM Cars WHERE vin = 'V3'": 2, "SELECT * FROM Cars WHERE n = 5": 1} {
		_, err := drv.Execute(context.Background(), func(tx qldbdriver.Transaction) (any, error) {
			reads, rows, err := readIOs(tx, q)
			if err != nil {
				return nil, err
			}
			if rows != want || reads > int64(want) {
				return nil, fmt.Errorf("%s: %d rows, %d reads; want %d rows read through the index", q, rows, reads, want)
			}
			return nil, nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if rows := servertest.MustQuery(t, drv, fmt.Sprintf("SELECT * FROM history('%s')", gotIDs["Gone/INACTIVE"])); len(rows) != 12 {
		t.Fatalf("history of the dropped table: %d revisions, want 12", len(rows))
	}
	if _, err := servertest.Query(drv, "SELECT * FROM Gone"); err == nil {
		t.Fatal("the dropped table Gone answers a select after import")
	}
	servertest.Commit(t, drv, "INSERT INTO Empty VALUE {'e': 1}", "INSERT INTO Cars VALUE {'vin': 'V3', 'n': 99}", "CREATE INDEX ON Empty (e)")
	if rows := servertest.MustQuery(t, drv, "SELECT * FROM Cars WHERE vin = 'V3'"); len(rows) != 3 {
		t.Fatalf("after a new commit the index on vin finds %d documents, want 3", len(rows))
	}
	all := servertest.VerifyChain(t, p.b.LedgerEngine("fleet"))
	if len(all) <= len(p.want) || !bytes.Equal(all[len(p.want)].PreviousBlockHash, p.want[len(p.want)-1].BlockHash) {
		t.Fatalf("the new commit does not chain on the imported blocks")
	}
}

// readIOs runs stmt in tx, consumes every row and returns the statement's
// ConsumedIOs.ReadIOs and its row count.
func readIOs(tx qldbdriver.Transaction, stmt string) (int64, int, error) {
	r, err := tx.Execute(stmt)
	if err != nil {
		return 0, 0, err
	}
	n := 0
	for r.Next(tx) {
		n++
	}
	if err := r.Err(); err != nil {
		return 0, 0, err
	}
	io := r.GetConsumedIOs()
	if io == nil || io.GetReadIOs() == nil {
		return 0, n, fmt.Errorf("%s: no ConsumedIOs", stmt)
	}
	return *io.GetReadIOs(), n, nil
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
