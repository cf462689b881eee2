package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/qldb"

	"github.com/strand-db/strand/internal/server/servertest"
	"github.com/strand-db/strand/internal/store"
)

// strand verify checks table tag records (l/<ledgerId>/g/<tableId>, written
// by CREATE TABLE ... WITH (aws_tags = ...) and TagResource on a table
// ARN), which the journal audit does not read: a record that no longer
// decodes, does not read back as written, or names no table of a
// catalogued ledger fails the check (exit 1) with its key named. They
// used to pass silently.
func TestVerifyChecksTableTags(t *testing.T) {
	n, drv := servertest.StartLedger(t, "tagged", nil)
	servertest.Commit(t, drv, "CREATE TABLE Cars")
	tableID := servertest.MustQuery(t, drv, "SELECT VALUE tableId FROM information_schema.user_tables WHERE name = 'Cars'")[0].Text
	q := n.QLDB(servertest.AccessKeyID, servertest.SecretAccessKey)
	desc, err := q.DescribeLedger(context.Background(), &qldb.DescribeLedgerInput{Name: aws.String("tagged")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := q.TagResource(context.Background(), &qldb.TagResourceInput{ResourceArn: aws.String(*desc.Arn + "/table/" + tableID),
		Tags: map[string]*string{"env": aws.String("prod"), "team": aws.String("a")}}); err != nil {
		t.Fatal(err)
	}
	id := n.LedgerEngine("tagged").ID
	n.Stop()
	args := []string{"--data-dir", n.Config.DataDir}
	if n.Config.Store != "" {
		args = []string{"--store", n.Config.Store}
	}

	st := n.OpenStore()
	dir := []byte("l/" + id + "/g/")
	var key, good []byte
	if err := st.Scan(dir, store.PrefixEnd(dir), func(k, v []byte) bool {
		key, good = bytes.Clone(k), bytes.Clone(v)
		return false
	}); err != nil || key == nil {
		t.Fatalf("no table tag record under %s: %v", dir, err)
	}
	set := func(k, v []byte) {
		t.Helper()
		b := st.NewBatch()
		defer b.Close()
		var err error
		if v == nil {
			err = b.Delete(k)
		} else {
			err = b.Set(k, v)
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := st.Apply(b); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()
	if code, out, errOut := runVerify(args...); code != 0 {
		t.Fatalf("intact tags: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}

	flip := func(i int, bit byte) []byte { v := bytes.Clone(good); v[i] ^= bit; return v }
	orphanTable := []byte("l/" + id + "/g/NoSuchTable0000000000")
	orphanLedger := []byte("l/NoSuchLedger000000000/g/SomeTable000000000000")
	for _, c := range []struct {
		name     string
		key, val []byte
		want     string
	}{
		{"brace flipped", key, flip(0, 0x01), "does not decode"},
		{"quote flipped", key, flip(1, 0x40), "does not decode"},
		{"separator flipped", key, flip(bytes.IndexByte(good, ':'), 0x10), "does not decode"},
		{"space inserted", key, append([]byte("{ "), good[1:]...), "does not read back"},
		{"reserved key", key, []byte(`{"aws:x":"y"}`), "tag rules"},
		{"no table", orphanTable, good, "has no table"},
		{"no ledger", orphanLedger, good, "not in the catalogue"},
	} {
		st = n.OpenStore()
		set(c.key, c.val)
		st.Close()
		code, out, errOut := runVerify(args...)
		if code != 1 || !strings.Contains(out, "FAILED: table tags check of "+string(c.key)) || !strings.Contains(out, c.want) {
			t.Errorf("%s: exit %d, want 1 naming %s and %q\nstdout:\n%s\nstderr:\n%s", c.name, code, c.key, c.want, out, errOut)
		}
		st = n.OpenStore()
		if bytes.Equal(c.key, key) {
			set(key, good)
		} else {
			set(c.key, nil)
		}
		st.Close()
	}
	if code, out, errOut := runVerify(args...); code != 0 {
		t.Fatalf("restored tags: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
}
