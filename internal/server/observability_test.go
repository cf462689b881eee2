package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/qldb"
	"github.com/aws/aws-sdk-go-v2/service/qldb/types"
	"github.com/awslabs/amazon-qldb-driver-go/v3/qldbdriver"

	"github.com/strand-db/strand/internal/api"
	"github.com/strand-db/strand/internal/config"
	"github.com/strand-db/strand/internal/server/servertest"
	pebblestore "github.com/strand-db/strand/internal/store/pebble"
	"github.com/strand-db/strand/internal/store/pebble/faultfs"
	"github.com/strand-db/strand/internal/testenv/kinesisemu"
)

// probe GETs path from base and returns the status and decoded answer.
func probe(t *testing.T, base, path string) (int, map[string]any) {
	t.Helper()
	resp, err := http.Get(base + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var ans map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&ans); err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	return resp.StatusCode, ans
}

// TestHealthAndReady: /health and /ready answer unauthenticated on the
// serving port (and the metrics port), with credentials configured; /ready
// turns 503 once the store refuses writes after a failed fsync, and once a
// ledger met on-disk corruption, while /health stays 200; other methods
// on those paths are not probes.
func TestHealthAndReady(t *testing.T) {
	servertest.RequireEmbeddedStore(t, "a failed fsync injected beneath Pebble")
	cfg := config.Default()
	cfg.Listen, cfg.MetricsListen = "127.0.0.1:0", "127.0.0.1:0"
	cfg.DataDir = t.TempDir()
	cfg.AccessKeyID, cfg.SecretAccessKey = servertest.AccessKeyID, servertest.SecretAccessKey
	fs := faultfs.New(nil)
	st, err := pebblestore.Open(cfg.DataDir, pebblestore.Options{FS: fs})
	if err != nil {
		t.Fatal(err)
	}
	n := servertest.StartWithStore(t, cfg, st)
	metricsBase := strings.TrimSuffix(n.MetricsURL(), "/metrics")
	for _, base := range []string{n.URL(), metricsBase} {
		if code, ans := probe(t, base, "/health"); code != 200 || ans["status"] != "ok" {
			t.Fatalf("%s/health: %d %v", base, code, ans)
		}
		if code, ans := probe(t, base, "/ready"); code != 200 || ans["status"] != "ready" {
			t.Fatalf("%s/ready: %d %v", base, code, ans)
		}
	}
	// POST /health is no probe: the API answers it (unsigned: refused).
	resp, err := http.Post(n.URL()+"/health", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == 200 {
		t.Errorf("POST /health answered 200")
	}

	n.CreateLedger("ready")
	drv := n.Driver("ready", func(o *qldbdriver.DriverOptions) { o.RetryPolicy.MaxRetryLimit = 0 })
	servertest.Commit(t, drv, "CREATE TABLE T")
	fs.Fail(faultfs.WAL, faultfs.Sync, faultfs.EIO)
	if _, err := drv.Execute(context.Background(), func(tx qldbdriver.Transaction) (any, error) {
		return tx.Execute("INSERT INTO T VALUE {'a': 1}")
	}); err == nil {
		t.Fatal("a commit on a failing disk succeeded")
	}
	fs.Clear()
	code, ans := probe(t, n.URL(), "/ready")
	if code != http.StatusServiceUnavailable || ans["status"] != "not ready" || !strings.Contains(toJSON(ans["problems"]), "failed write to disk") {
		t.Errorf("/ready after a failed fsync: %d %v", code, ans)
	}
	if code, _ := probe(t, n.URL(), "/health"); code != 200 {
		t.Errorf("/health after a failed fsync: %d", code)
	}
	_ = n.StopErr() // closing may report the failed log

	// A damaged ledger makes the node unready too, without naming it.
	n2 := servertest.Start(t, nil)
	n2.CreateLedger("damaged")
	e, err := n2.Ledgers().Active("damaged")
	if err != nil {
		t.Fatal(err)
	}
	n2.Ledgers().MarkDamaged(e.ID, "test", errors.New("injected corruption"))
	code, ans = probe(t, n2.URL(), "/ready")
	if problems := toJSON(ans["problems"]); code != http.StatusServiceUnavailable || !strings.Contains(problems, "1 ledger(s) met on-disk corruption") || strings.Contains(problems, "damaged\"") {
		t.Errorf("/ready with a damaged ledger: %d %v", code, ans)
	}
}

func toJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// metricFamily matches the name of a sample line of the text exposition.
var metricFamily = regexp.MustCompile(`(?m)^(strand_[a-z_]+?)(_bucket|_sum|_count)?[{ ]`)

// scrape returns the exposition text and the strand_* families in it.
func scrape(t *testing.T, url string) (string, map[string]bool) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	fams := map[string]bool{}
	for _, m := range metricFamily.FindAllStringSubmatch(string(b), -1) {
		fams[m[1]] = true
	}
	return string(b), fams
}

// TestMetricsFromStart: every metric README.md names appears on a fresh
// node with one journal stream before anything went wrong (retries and
// throttles included), every strand_* metric that appears is named in
// README.md, the request series of every operation exist at zero before
// the first request, and a commit moves the commit series.
func TestMetricsFromStart(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	for _, m := range regexp.MustCompile(`\bstrand_[a-z_]+[a-z]\b`).FindAllString(string(readme), -1) {
		documented[m] = true
	}
	emu := kinesisemu.StartKinesalite(t, kinesisemu.Stream("journal", 1))
	n := servertest.Start(t, func(c *config.Config) {
		c.MetricsListen = "127.0.0.1:0"
		c.KinesisEndpoint = emu.Endpoint
		c.KinesisCredentials = credentials.NewStaticCredentialsProvider("AKIDKINESIS", "secret", "")
	})
	text, _ := scrape(t, n.MetricsURL())
	for _, op := range api.Operations() {
		if !strings.Contains(text, `strand_requests_total{error_type="none",operation="`+op+`"} 0`) {
			t.Errorf("no zero strand_requests_total series for %s before the first request", op)
		}
		if !strings.Contains(text, `strand_request_duration_seconds_count{operation="`+op+`"} 0`) {
			t.Errorf("no zero strand_request_duration_seconds series for %s before the first request", op)
		}
	}

	n.CreateLedger("metrics")
	servertest.Commit(t, n.Driver("metrics"), "CREATE TABLE T")
	qc := n.QLDB(servertest.AccessKeyID, servertest.SecretAccessKey)
	if _, err := qc.StreamJournalToKinesis(context.Background(), &qldb.StreamJournalToKinesisInput{LedgerName: aws.String("metrics"),
		RoleArn: aws.String("arn:aws:iam::000000000000:role/r"), StreamName: aws.String("s"), InclusiveStartTime: aws.Time(time.Now().Add(-time.Hour)),
		KinesisConfiguration: &types.KinesisConfiguration{StreamArn: aws.String(emu.StreamARN("journal"))}}); err != nil {
		t.Fatal(err)
	}
	text, seen := scrape(t, n.MetricsURL())
	var missing, undocumented []string
	// Series that exist only when something is wrong at start-up, or only
	// on one of the stores.
	conditional := map[string]bool{"strand_ledger_missing_acknowledged_blocks": true}
	if servertest.OnPostgres() {
		conditional["strand_orphan_tip_records"] = true // tip records are the embedded store's
	} else {
		conditional["strand_store_retries_total"] = true
	}
	for name := range documented {
		if !seen[name] && !conditional[name] {
			missing = append(missing, name)
		}
	}
	for name := range seen {
		if !documented[name] {
			undocumented = append(undocumented, name)
		}
	}
	sort.Strings(missing)
	sort.Strings(undocumented)
	if len(missing) > 0 {
		t.Errorf("named in README.md but absent from /metrics: %v", missing)
	}
	if len(undocumented) > 0 {
		t.Errorf("on /metrics but not named in README.md: %v", undocumented)
	}
	for _, want := range []string{`strand_commits_total 1`, `strand_commit_groups_total 1`, `strand_commit_group_size_count 1`,
		`strand_commit_sync_seconds_count 1`, `strand_requests_total{error_type="none",operation="CommitTransaction"} 1`,
		`strand_requests_total{error_type="none",operation="CreateLedger"} 1`, `strand_occ_conflicts_total 0`, `strand_sessions_open 1`} {
		if !strings.Contains(text, want+"\n") {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if !regexp.MustCompile(`(?m)^strand_store_size_bytes [1-9]`).MatchString(text) {
		t.Errorf("strand_store_size_bytes is not positive")
	}
}
