package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/amzn/ion-go/ion"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/qldb"
	qtypes "github.com/aws/aws-sdk-go-v2/service/qldb/types"

	"github.com/strand-db/strand/internal/config"
	"github.com/strand-db/strand/internal/server/servertest"
	"github.com/strand-db/strand/internal/testenv/s3emu"
)

// exportBlock is a journal block as an export reader sees it, decoded by
// the test's own reader from the documented layout (not Strand's codec).
type exportBlock struct {
	strand                           string
	seq                              int64
	blockHash, entriesHash, previous []byte
	entries                          [][]byte
	revisionHashes                   [][]byte
}

// dmvDot is the DMV samples' pairing: the two hashes ordered by comparing
// bytes from index 31 down as signed bytes, then SHA-256 of their
// concatenation; an empty side gives the other.
func dmvDot(a, b []byte) []byte {
	if len(a) == 0 {
		return b
	}
	if len(b) == 0 {
		return a
	}
	cmp := 0
	for i := len(a) - 1; i >= 0 && cmp == 0; i-- {
		x, y := int8(a[i]), int8(b[i])
		if x < y {
			cmp = -1
		} else if x > y {
			cmp = 1
		}
	}
	var buf []byte
	if cmp < 0 {
		buf = append(append(buf, a...), b...)
	} else {
		buf = append(append(buf, b...), a...)
	}
	s := sha256.Sum256(buf)
	return s[:]
}

func dmvMerkle(hs [][]byte) []byte {
	if len(hs) == 0 {
		return nil
	}
	for len(hs) > 1 {
		var next [][]byte
		for i := 0; i < len(hs); i += 2 {
			if i+1 < len(hs) {
				next = append(next, dmvDot(hs[i], hs[i+1]))
			} else {
				next = append(next, hs[i])
			}
		}
		hs = next
	}
	return hs[0]
}

// validateChain checks blocks as the DMV samples' ValidateQldbHashChain
// does, plus each block's own entries.
func validateChain(t *testing.T, blocks []exportBlock) {
	t.Helper()
	for i, b := range blocks {
		if !bytes.Equal(dmvMerkle(b.entries), b.entriesHash) {
			t.Fatalf("block %d: entriesHash is not the Merkle root of entriesHashList", b.seq)
		}
		if !bytes.Equal(dmvDot(b.entriesHash, b.previous), b.blockHash) {
			t.Fatalf("block %d: blockHash != dot(entriesHash, previousBlockHash)", b.seq)
		}
		if len(b.revisionHashes) > 0 {
			root := dmvMerkle(b.revisionHashes)
			found := false
			for _, e := range b.entries {
				found = found || bytes.Equal(e, root)
			}
			if !found {
				t.Fatalf("block %d: revisions' Merkle root not in entriesHashList", b.seq)
			}
		}
		if i > 0 {
			p := blocks[i-1]
			if b.seq != p.seq+1 || b.strand != p.strand {
				t.Fatalf("block %d follows block %d", b.seq, p.seq)
			}
			if !bytes.Equal(b.previous, p.blockHash) {
				t.Fatalf("block %d: previousBlockHash is not block %d's hash", b.seq, p.seq)
			}
		}
	}
}

// ionBlocks decodes the top-level structs of an Ion (text or binary) data
// object with ion-go's own decoder.
func ionBlocks(t *testing.T, data []byte) []exportBlock {
	t.Helper()
	dec := ion.NewDecoder(ion.NewReaderBytes(data))
	var out []exportBlock
	for {
		v, err := dec.Decode()
		if errors.Is(err, ion.ErrNoInput) {
			return out
		}
		if err != nil {
			t.Fatalf("decode Ion: %v", err)
		}
		m, ok := v.(map[string]any)
		if !ok {
			t.Fatalf("top-level value is %T, not a struct", v)
		}
		out = append(out, blockFrom(t, m, func(x any) []byte {
			b, ok := x.([]byte)
			if !ok {
				t.Fatalf("hash is %T, not a blob", x)
			}
			return b
		}))
	}
}

// jsonBlocks decodes a JSON Lines data object: one block per line, hashes
// in base64.
func jsonBlocks(t *testing.T, data []byte) []exportBlock {
	t.Helper()
	var out []exportBlock
	for _, line := range strings.Split(strings.TrimSuffix(string(data), "\n"), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("JSON line %q: %v", line, err)
		}
		out = append(out, blockFrom(t, m, func(x any) []byte {
			s, ok := x.(string)
			if !ok {
				t.Fatalf("hash is %T, not a base64 string", x)
			}
			b, err := base64.StdEncoding.DecodeString(s)
			if err != nil {
				t.Fatal(err)
			}
			return b
		}))
	}
	return out
}

func blockFrom(t *testing.T, m map[string]any, hash func(any) []byte) exportBlock {
	t.Helper()
	addr, _ := m["blockAddress"].(map[string]any)
	var b exportBlock
	switch s := addr["strandId"].(type) {
	case string:
		b.strand = s
	case *string: // ion-go's decoder
		b.strand = *s
	default:
		t.Fatalf("strandId is %T", s)
	}
	switch s := addr["sequenceNo"].(type) {
	case int:
		b.seq = int64(s)
	case int64:
		b.seq = s
	case float64:
		b.seq = int64(s)
	default:
		t.Fatalf("sequenceNo is %T", s)
	}
	b.blockHash, b.entriesHash = hash(m["blockHash"]), hash(m["entriesHash"])
	b.previous = hash(m["previousBlockHash"])
	for _, e := range m["entriesHashList"].([]any) {
		b.entries = append(b.entries, hash(e))
	}
	for _, k := range []string{"transactionId", "blockTimestamp", "transactionInfo"} {
		if m[k] == nil {
			t.Fatalf("block %d has no %s", b.seq, k)
		}
	}
	if revs, ok := m["revisions"].([]any); ok {
		for _, r := range revs {
			b.revisionHashes = append(b.revisionHashes, hash(r.(map[string]any)["hash"]))
		}
	}
	return b
}

// readExport reads one export from S3 as the DMV samples and the export
// processor do: the started manifest by its name, the completed manifest by
// its suffix, then each listed key in order. It checks the key names and
// that the listing holds nothing else.
func readExport(t *testing.T, s3 *s3emu.Server, bucket, prefix, id, strand, format string) (started []byte, blocks []exportBlock) {
	t.Helper()
	dir := prefix
	if dir != "" && !strings.HasSuffix(dir, "/") {
		dir += "/"
	}
	keys := s3.Keys(t, bucket, dir)
	startedKey := dir + id + ".started.manifest"
	completedKey := dir + id + "." + strand + ".completed.manifest"
	have := map[string]bool{}
	for _, k := range keys {
		have[k] = true
	}
	if !have[startedKey] || !have[completedKey] {
		t.Fatalf("manifests %s and %s not both in %v", startedKey, completedKey, keys)
	}
	started = s3.Get(t, bucket, startedKey)
	var listed []string
	manifest := s3.Get(t, bucket, completedKey)
	if format == "JSON" {
		var m struct{ Keys []string }
		if err := json.Unmarshal(manifest, &m); err != nil {
			t.Fatalf("completed manifest: %v", err)
		}
		listed = m.Keys
	} else {
		var m struct {
			Keys []string `ion:"keys"`
		}
		if err := ion.Unmarshal(manifest, &m); err != nil {
			t.Fatalf("completed manifest: %v", err)
		}
		listed = m.Keys
	}
	if len(listed)+2 != len(keys) {
		t.Fatalf("listing holds %d keys, manifest lists %d data objects: %v", len(keys), len(listed), keys)
	}
	name := regexp.MustCompile(`^` + regexp.QuoteMeta(dir) + `\d{4}/\d{2}/\d{2}/\d{2}/` + strand + `\.(\d+)-(\d+)\.[a-zA-Z0-9]+$`)
	next := int64(0)
	for _, k := range listed {
		mm := name.FindStringSubmatch(k)
		if mm == nil || !have[k] {
			t.Fatalf("data object key %q is not <prefix>yyyy/mm/dd/hh/<strand>.<first>-<last>.<ext> in the listing", k)
		}
		first, _ := strconv.ParseInt(mm[1], 10, 64)
		last, _ := strconv.ParseInt(mm[2], 10, 64)
		if first != next || last < first {
			t.Fatalf("data object %s does not follow block %d", k, next-1)
		}
		data := s3.Get(t, bucket, k)
		var bs []exportBlock
		if format == "JSON" {
			bs = jsonBlocks(t, data)
		} else {
			bs = ionBlocks(t, data)
		}
		if int64(len(bs)) != last-first+1 || bs[0].seq != first || bs[len(bs)-1].seq != last {
			t.Fatalf("data object %s holds blocks %d..%d (%d)", k, bs[0].seq, bs[len(bs)-1].seq, len(bs))
		}
		blocks = append(blocks, bs...)
		next = last + 1
	}
	return started, blocks
}

// startExportNode starts a node exporting to s3 (through endpoint, the
// server itself or a proxy in front of it) with small data objects.
func startExportNode(t *testing.T, endpoint, dataDir string) *servertest.Node {
	t.Helper()
	return servertest.Start(t, func(c *config.Config) {
		c.S3Endpoint = endpoint
		c.S3Credentials = s3emu.Credentials()
		c.ExportObjectBlocks = 3
		if dataDir != "" {
			c.DataDir = dataDir
		}
	})
}

func exportInput(ledger, bucket, prefix, format string, end time.Time) *qldb.ExportJournalToS3Input {
	in := &qldb.ExportJournalToS3Input{
		Name:               aws.String(ledger),
		InclusiveStartTime: aws.Time(time.Date(2019, 1, 1, 0, 0, 0, 0, time.UTC)),
		ExclusiveEndTime:   aws.Time(end),
		RoleArn:            aws.String("arn:aws:iam::123456789012:role/qldb-export"),
		S3ExportConfiguration: &qtypes.S3ExportConfiguration{
			Bucket: aws.String(bucket), Prefix: aws.String(prefix),
			EncryptionConfiguration: &qtypes.S3EncryptionConfiguration{ObjectEncryptionType: qtypes.S3ObjectEncryptionTypeSseS3},
		},
	}
	if format != "" {
		in.OutputFormat = qtypes.OutputFormat(format)
	}
	return in
}

func waitExport(t *testing.T, c *qldb.Client, ledger, id string) *qtypes.JournalS3ExportDescription {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, err := c.DescribeJournalS3Export(context.Background(), &qldb.DescribeJournalS3ExportInput{Name: aws.String(ledger), ExportId: aws.String(id)})
		if err != nil {
			t.Fatalf("DescribeJournalS3Export: %v", err)
		}
		if out.ExportDescription.Status != qtypes.ExportStatusInProgress {
			return out.ExportDescription
		}
		if time.Now().After(deadline) {
			t.Fatalf("export %s still IN_PROGRESS", id)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// fillLedger commits a table and some documents of several Ion types.
func fillLedger(t *testing.T, n *servertest.Node, name string, commits int) {
	t.Helper()
	drv := n.Driver(name)
	servertest.Commit(t, drv, "CREATE TABLE Cars")
	servertest.Commit(t, drv, "CREATE INDEX ON Cars (VIN)")
	for i := 0; i < commits; i++ {
		servertest.Commit(t, drv, fmt.Sprintf("INSERT INTO Cars VALUE {'VIN': 'V%d', 'Price': 12.50, 'Seen': `2020-01-02T03:04:05.678Z`, 'Owners': [1, 2.5e0, null]}", i))
	}
	servertest.Commit(t, drv, "UPDATE Cars AS c SET c.Price = 99.99 WHERE c.VIN = 'V0'", "DELETE FROM Cars AS c WHERE c.VIN = 'V1'")
	time.Sleep(5 * time.Millisecond) // the export's end time is after the last block
}

// TestJournalExportFormats exports one journal in each output format to
// s3rver and reads every export back with the test's own reader: the
// manifests and key names of the documented layout, data objects of
// consecutive blocks in manifest order, block hashes identical to the
// journal's and the chain valid as the DMV samples check it. It also checks
// the Describe and List wire shapes.
func TestJournalExportFormats(t *testing.T) {
	s3 := s3emu.Start(t, "exports")
	n := startExportNode(t, s3.Endpoint, "")
	n.CreateLedger("exp")
	fillLedger(t, n, "exp", 6)
	want := servertest.Blocks(t, n.LedgerEngine("exp"))
	strand := want[0].Address.StrandID
	c := n.QLDB(servertest.AccessKeyID, servertest.SecretAccessKey)
	end := time.Now()

	for _, tc := range []struct{ format, prefix string }{{"", "textexport"}, {"ION_BINARY", "bin/"}, {"JSON", "json/x/"}} {
		out, err := c.ExportJournalToS3(context.Background(), exportInput("exp", "exports", tc.prefix, tc.format, end))
		if err != nil {
			t.Fatalf("%s: ExportJournalToS3: %v", tc.format, err)
		}
		id := aws.ToString(out.ExportId)
		if !regexp.MustCompile(`^[A-Za-z0-9]{22}$`).MatchString(id) {
			t.Fatalf("ExportId %q is not 22 base62 characters", id)
		}
		d := waitExport(t, c, "exp", id)
		if d.Status != qtypes.ExportStatusCompleted || aws.ToString(d.LedgerName) != "exp" || aws.ToString(d.S3ExportConfiguration.Prefix) != tc.prefix ||
			d.S3ExportConfiguration.EncryptionConfiguration.ObjectEncryptionType != qtypes.S3ObjectEncryptionTypeSseS3 || d.ExportCreationTime == nil ||
			d.ExclusiveEndTime.Sub(end).Abs() > time.Millisecond {
			t.Fatalf("%s: description %+v %q %+v %v", tc.format, d, aws.ToString(d.S3ExportConfiguration.Prefix), d.S3ExportConfiguration.EncryptionConfiguration, d.ExclusiveEndTime.Sub(end))
		}
		format := tc.format
		if format == "" {
			format = "ION_TEXT"
		}
		if string(d.OutputFormat) != format {
			t.Fatalf("OutputFormat %q, want %q", d.OutputFormat, format)
		}
		started, got := readExport(t, s3, "exports", tc.prefix, id, strand, format)
		if !bytes.Contains(started, []byte(id)) || !bytes.Contains(started, []byte("SSE_S3")) {
			t.Fatalf("started manifest %s", started)
		}
		if bytes.Contains(started, []byte("outputFormat")) != (tc.format != "") {
			t.Fatalf("started manifest lists outputFormat only when the request gave one: %s", started)
		}
		if len(got) != len(want) {
			t.Fatalf("%s: %d blocks exported, journal has %d", format, len(got), len(want))
		}
		for i := range want {
			if !bytes.Equal(got[i].blockHash, want[i].BlockHash) || got[i].strand != strand {
				t.Fatalf("%s: block %d hash differs: %x %q vs %x %q", format, i, got[i].blockHash, got[i].strand, want[i].BlockHash, strand)
			}
		}
		validateChain(t, got)
	}
	// JSON keeps a decimal's digits as a number (the Ion cookbook).
	keys := s3.Keys(t, "exports", "json/x/")
	var all []byte
	for _, k := range keys {
		all = append(all, s3.Get(t, "exports", k)...)
	}
	if !bytes.Contains(all, []byte(`"Price":12.50`)) || !bytes.Contains(all, []byte(`"Seen":"2020-01-02T03:04:05.678Z"`)) {
		t.Fatalf("JSON export lost a decimal or timestamp: %.400s", all)
	}

	for _, ledger := range []string{"exp", ""} {
		var list []qtypes.JournalS3ExportDescription
		if ledger != "" {
			out, err := c.ListJournalS3ExportsForLedger(context.Background(), &qldb.ListJournalS3ExportsForLedgerInput{Name: aws.String(ledger), MaxResults: aws.Int32(2)})
			if err != nil {
				t.Fatal(err)
			}
			list = out.JournalS3Exports
			if out.NextToken == nil {
				t.Fatalf("a page of 2 of 3 exports has no NextToken")
			}
			more, err := c.ListJournalS3ExportsForLedger(context.Background(), &qldb.ListJournalS3ExportsForLedgerInput{Name: aws.String(ledger), NextToken: out.NextToken})
			if err != nil {
				t.Fatal(err)
			}
			list = append(list, more.JournalS3Exports...)
		} else {
			out, err := c.ListJournalS3Exports(context.Background(), &qldb.ListJournalS3ExportsInput{})
			if err != nil {
				t.Fatal(err)
			}
			list = out.JournalS3Exports
		}
		if len(list) != 3 {
			t.Fatalf("list %q: %d exports, want 3", ledger, len(list))
		}
	}
}

// gate is a reverse proxy in front of s3rver that answers 503 SlowDown to
// PUTs of data objects (not manifests) after the first `allow` of them,
// while closed: a stalled export, as a slow or failing S3 would leave it.
type gate struct {
	closed  atomic.Bool
	allow   atomic.Int64
	data    atomic.Int64
	refused atomic.Int64
	srv     *httptest.Server
}

func startGate(t *testing.T, target string, allow int64) *gate {
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	g := &gate{}
	g.closed.Store(true)
	g.allow.Store(allow)
	rp := httputil.NewSingleHostReverseProxy(u)
	g.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut && !strings.HasSuffix(r.URL.Path, ".manifest") {
			if g.closed.Load() && g.data.Load() >= g.allow.Load() {
				g.refused.Add(1)
				w.Header().Set("Content-Type", "application/xml")
				w.WriteHeader(http.StatusServiceUnavailable)
				fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>`)
				return
			}
			g.data.Add(1)
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(g.srv.Close)
	return g
}

// TestJournalExportErrorsAndLimit checks QLDB's errors for bad requests,
// the quota of 2 active exports per ledger (a third gets
// LimitExceededException while two are stalled), and that a stalled export
// completes once S3 answers again.
func TestJournalExportErrorsAndLimit(t *testing.T) {
	s3 := s3emu.Start(t, "exports")
	g := startGate(t, s3.Endpoint, 0)
	n := startExportNode(t, g.srv.URL, "")
	n.CreateLedger("exp")
	fillLedger(t, n, "exp", 2)
	c := n.QLDB(servertest.AccessKeyID, servertest.SecretAccessKey)
	ctx := context.Background()
	end := time.Now()

	bad := func(mut func(*qldb.ExportJournalToS3Input), code string, status int) {
		t.Helper()
		in := exportInput("exp", "exports", "p/", "", end)
		mut(in)
		_, err := c.ExportJournalToS3(ctx, in)
		servertest.WantAPIError(t, err, code, status)
	}
	bad(func(in *qldb.ExportJournalToS3Input) { in.Name = aws.String("nosuch") }, "ResourceNotFoundException", 404)
	bad(func(in *qldb.ExportJournalToS3Input) { in.ExclusiveEndTime = aws.Time(time.Now().Add(time.Hour)) }, "InvalidParameterException", 400)
	bad(func(in *qldb.ExportJournalToS3Input) { in.InclusiveStartTime = aws.Time(end) }, "InvalidParameterException", 400)
	bad(func(in *qldb.ExportJournalToS3Input) { in.RoleArn = aws.String("arn:aws:iam::123456789012:user/nope") }, "InvalidParameterException", 400)
	bad(func(in *qldb.ExportJournalToS3Input) { in.OutputFormat = "XML" }, "InvalidParameterException", 400)
	bad(func(in *qldb.ExportJournalToS3Input) {
		in.S3ExportConfiguration.EncryptionConfiguration.ObjectEncryptionType = qtypes.S3ObjectEncryptionTypeSseKms
	}, "InvalidParameterException", 400)
	// A bucket that does not exist is found when the request is made.
	bad(func(in *qldb.ExportJournalToS3Input) { in.S3ExportConfiguration.Bucket = aws.String("no-such-bucket") }, "InvalidParameterException", 400)
	_, err := c.DescribeJournalS3Export(ctx, &qldb.DescribeJournalS3ExportInput{Name: aws.String("exp"), ExportId: aws.String("AAAAAAAAAAAAAAAAAAAAAA")})
	servertest.WantAPIError(t, err, "ResourceNotFoundException", 404)

	var ids []string
	for i := 0; i < 2; i++ {
		out, err := c.ExportJournalToS3(ctx, exportInput("exp", "exports", fmt.Sprintf("p%d/", i), "", end))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, aws.ToString(out.ExportId))
	}
	_, err = c.ExportJournalToS3(ctx, exportInput("exp", "exports", "p2/", "", end))
	servertest.WantAPIError(t, err, "LimitExceededException", 400)
	for _, id := range ids {
		out, err := c.DescribeJournalS3Export(ctx, &qldb.DescribeJournalS3ExportInput{Name: aws.String("exp"), ExportId: aws.String(id)})
		if err != nil || out.ExportDescription.Status != qtypes.ExportStatusInProgress {
			t.Fatalf("stalled export: %v %+v", err, out)
		}
	}
	g.closed.Store(false)
	for _, id := range ids {
		if d := waitExport(t, c, "exp", id); d.Status != qtypes.ExportStatusCompleted {
			t.Fatalf("export %s: %s", id, d.Status)
		}
	}
}

// TestJournalExportSurvivesRestart stops the server while an export is
// half written (S3 refuses data objects after the first two) and starts it
// again on the same data: the job resumes from its checkpoint and
// completes, and the export reads back whole and valid.
func TestJournalExportSurvivesRestart(t *testing.T) {
	s3 := s3emu.Start(t, "exports")
	g := startGate(t, s3.Endpoint, 2)
	n := startExportNode(t, g.srv.URL, "")
	n.CreateLedger("exp")
	fillLedger(t, n, "exp", 10)
	want := servertest.Blocks(t, n.LedgerEngine("exp"))
	c := n.QLDB(servertest.AccessKeyID, servertest.SecretAccessKey)
	out, err := c.ExportJournalToS3(context.Background(), exportInput("exp", "exports", "r/", "ION_BINARY", time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	id := aws.ToString(out.ExportId)
	for g.refused.Load() == 0 {
		time.Sleep(10 * time.Millisecond)
	}
	dataDir := n.Config.DataDir
	n.Stop()
	g.closed.Store(false)
	n2 := startExportNode(t, g.srv.URL, dataDir)
	c2 := n2.QLDB(servertest.AccessKeyID, servertest.SecretAccessKey)
	if d := waitExport(t, c2, "exp", id); d.Status != qtypes.ExportStatusCompleted {
		t.Fatalf("after restart: %s", d.Status)
	}
	_, got := readExport(t, s3, "exports", "r/", id, want[0].Address.StrandID, "ION_BINARY")
	if len(got) != len(want) {
		t.Fatalf("%d blocks exported, journal has %d", len(got), len(want))
	}
	validateChain(t, got)
}
