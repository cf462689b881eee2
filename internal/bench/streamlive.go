package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	ktypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/aws-sdk-go-v2/service/qldb"
	"github.com/aws/aws-sdk-go-v2/service/qldb/types"

	"github.com/strand-db/strand/internal/ionvalue"
	"github.com/strand-db/strand/internal/stream/kpl"
	"github.com/strand-db/strand/internal/stream/record"
)

// The live half of the stream scenario: commit → PutRecords acknowledged →
// readable at a fixed commit rate.
//
// The child server's Kinesis endpoint is a recording proxy in this process
// (ackProxy) in front of the emulator: it forwards every request unchanged
// and notes when each PutRecords response came back from the emulator and
// which records it acknowledged. A consumer polls GetRecords on the
// emulator directly. The lean client commits single-document transactions
// at o.Rate for o.Duration; after the run every Kinesis record (as put, and
// as read) is deaggregated and decoded, and each transaction's
// BLOCK_SUMMARY (matched by transaction id) gives its PutRecords
// acknowledgement and its first read. Strand's share is commit
// acknowledged (the client has the CommitTransaction answer) → PutRecords
// acknowledged; the emulator's share is PutRecords acknowledged → read by
// the consumer (which polls every 2 ms when a poll came back empty).

// liveStreamName is the Kinesis stream of the live half.
const liveStreamName = "live"

// liveConcurrency is the number of lean sessions that carry the fixed-rate
// load; a transaction waits for a free one when all are busy.
const liveConcurrency = 64

// timedData is one Kinesis record's data and partition key, and when the
// proxy saw it acknowledged or the consumer read it.
type timedData struct {
	at   time.Time
	pk   string
	data []byte
}

// ackProxy forwards HTTP requests to the emulator and records the records
// of every acknowledged PutRecords entry.
type ackProxy struct {
	target string
	hc     *http.Client
	srv    *http.Server
	ln     net.Listener

	mu    sync.Mutex
	raw   []rawPut // answered PutRecords calls not yet decoded
	acked []timedData
	puts  int
	// upstream is how long each PutRecords took in the emulator (request
	// forwarded → answer read): part of Strand's share as measured, but
	// not spent in Strand.
	upstream latencies
}

func newAckProxy(target string) (*ackProxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("bench: proxy: %w", err)
	}
	p := &ackProxy{target: target, ln: ln, hc: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true}}}
	p.srv = &http.Server{Handler: p, ReadHeaderTimeout: time.Minute}
	go func() { _ = p.srv.Serve(ln) }()
	return p, nil
}

func (p *ackProxy) url() string { return "http://" + p.ln.Addr().String() }

func (p *ackProxy) close() { _ = p.srv.Close() }

// putRecordsJSON is the part of a PutRecords request and response (JSON
// 1.1, which the Go SDK speaks) the proxy reads.
type putRecordsJSON struct {
	Records []struct {
		Data         []byte `json:"Data"`
		PartitionKey string `json:"PartitionKey"`
		ErrorCode    string `json:"ErrorCode"`
	} `json:"Records"`
}

func (p *ackProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	req, err := http.NewRequestWithContext(r.Context(), r.Method, p.target+r.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	req.Header = r.Header.Clone()
	sent := time.Now()
	resp, err := p.hc.Do(req)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	out, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	at := time.Now()
	if resp.StatusCode == http.StatusOK && r.Header.Get("X-Amz-Target") == "Kinesis_20131202.PutRecords" {
		// Kept as sent and answered; decoded in snapshot, off the path of
		// the worker's next put.
		p.upstream.add([]time.Duration{at.Sub(sent)})
		p.mu.Lock()
		p.raw = append(p.raw, rawPut{at: at, req: body, resp: out})
		p.mu.Unlock()
	}
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(out)
}

// rawPut is one answered PutRecords call: its request and response
// bodies and when the answer came back from the emulator.
type rawPut struct {
	at        time.Time
	req, resp []byte
}

// record keeps the entries of a PutRecords request that its response
// acknowledged. Called with p.mu held.
func (p *ackProxy) record(put rawPut) {
	var in, res putRecordsJSON
	if json.Unmarshal(put.req, &in) != nil || json.Unmarshal(put.resp, &res) != nil {
		return
	}
	p.puts++
	for i, e := range res.Records {
		if i < len(in.Records) && e.ErrorCode == "" {
			p.acked = append(p.acked, timedData{at: put.at, pk: in.Records[i].PartitionKey, data: in.Records[i].Data})
		}
	}
}

// snapshot decodes the calls answered so far and returns every
// acknowledged record and the number of PutRecords calls.
func (p *ackProxy) snapshot() ([]timedData, int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, put := range p.raw {
		p.record(put)
	}
	p.raw = nil
	return append([]timedData(nil), p.acked...), p.puts
}

// blockTimes maps the transaction id of every BLOCK_SUMMARY carried by
// recs to the earliest time it was seen, and counts the blocks.
func blockTimes(recs []timedData) (map[string]time.Time, error) {
	out := map[string]time.Time{}
	for _, r := range recs {
		users, err := kpl.Deaggregate(r.data, r.pk)
		if err != nil {
			return nil, err
		}
		for _, u := range users {
			rec, err := record.Decode(u.Data)
			if err != nil {
				return nil, fmt.Errorf("bench: decode a stream record: %w", err)
			}
			if rec.Type != record.TypeBlockSummary {
				continue
			}
			if t, ok := out[rec.Block.TransactionID]; !ok || r.at.Before(t) {
				out[rec.Block.TransactionID] = r.at
			}
		}
	}
	return out, nil
}

// liveConsumer polls every record of a 1-shard stream from its start,
// noting when each was read.
type liveConsumer struct {
	mu   sync.Mutex
	read []timedData
	err  error
	done chan struct{}
}

func startConsumer(ctx context.Context, kc *kinesis.Client, stream string) (*liveConsumer, error) {
	shards, err := kc.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String(stream)})
	if err != nil || len(shards.Shards) == 0 {
		return nil, fmt.Errorf("bench: list shards of %s: %v", stream, err)
	}
	it, err := kc.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String(stream), ShardId: shards.Shards[0].ShardId,
		ShardIteratorType: ktypes.ShardIteratorTypeTrimHorizon})
	if err != nil {
		return nil, fmt.Errorf("bench: shard iterator: %w", err)
	}
	c := &liveConsumer{done: make(chan struct{})}
	go func() {
		defer close(c.done)
		iter := it.ShardIterator
		for ctx.Err() == nil {
			out, err := kc.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: iter, Limit: aws.Int32(10000)})
			if err != nil {
				if ctx.Err() == nil {
					c.mu.Lock()
					c.err = fmt.Errorf("bench: get records: %w", err)
					c.mu.Unlock()
				}
				return
			}
			at := time.Now()
			if len(out.Records) == 0 {
				time.Sleep(2 * time.Millisecond)
			} else {
				c.mu.Lock()
				for _, r := range out.Records {
					c.read = append(c.read, timedData{at: at, pk: aws.ToString(r.PartitionKey), data: r.Data})
				}
				c.mu.Unlock()
			}
			iter = out.NextShardIterator
		}
	}()
	return c, nil
}

func (c *liveConsumer) snapshot() ([]timedData, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]timedData(nil), c.read...), c.err
}

// committed is one transaction of the fixed-rate load.
type committed struct {
	txID      string
	start, at time.Time // sent, and commit acknowledged
}

// streamLive runs the live half on its own child server, appending its
// rows to rep.
func streamLive(ctx context.Context, o *Options, rep *Report, emu *emulator, dir string) error {
	proxy, err := newAckProxy(emu.url)
	if err != nil {
		return err
	}
	defer proxy.close()
	metricsAddr, err := freeLoopbackAddr()
	if err != nil {
		return err
	}
	t, err := startServer(ctx, o, filepath.Join(dir, "live"), kinesisEnv, "--kinesis-endpoint", proxy.url(), "--metrics-listen", metricsAddr)
	if err != nil {
		return err
	}
	defer t.stop()
	const ledgerName = "live"
	if err := t.createLedger(ctx, ledgerName); err != nil {
		return err
	}
	lc, err := newLeanClient(t, liveConcurrency)
	if err != nil {
		return err
	}
	setup := &leanSession{c: lc, ledger: ledgerName}
	if err := setup.exec(ctx, "CREATE TABLE T"); err != nil {
		return fmt.Errorf("bench: create table: %w", err)
	}
	kc := kinesis.New(kinesis.Options{Region: o.Region, BaseEndpoint: aws.String(emu.url),
		Credentials: credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", "")})
	cctx, stopConsumer := context.WithCancel(ctx)
	defer stopConsumer()
	consumer, err := startConsumer(cctx, kc, liveStreamName)
	if err != nil {
		return err
	}
	if _, err := t.qldb().StreamJournalToKinesis(ctx, &qldb.StreamJournalToKinesisInput{
		LedgerName: aws.String(ledgerName), RoleArn: aws.String("arn:aws:iam::000000000000:role/strand-bench"), StreamName: aws.String(liveStreamName),
		InclusiveStartTime:   aws.Time(time.Now()),
		KinesisConfiguration: &types.KinesisConfiguration{StreamArn: aws.String(streamARN(o.Region, liveStreamName)), AggregationEnabled: aws.Bool(true)},
	}); err != nil {
		return fmt.Errorf("bench: start stream: %w", err)
	}
	// The stream is delivering once its CREATED record was acknowledged.
	for deadline := time.Now().Add(time.Minute); ; {
		if acked, _ := proxy.snapshot(); len(acked) > 0 {
			break
		}
		if time.Now().After(deadline) {
			return errors.New("bench: the live stream delivered nothing within a minute")
		}
		time.Sleep(20 * time.Millisecond)
	}

	// The fixed-rate load: transaction i is due at start + i/rate; a free
	// session takes it (late when all are busy).
	cpu := t.cpuFunc()
	var cpu0 time.Duration
	if cpu != nil {
		cpu0, _ = cpu()
	}
	n := int(o.Duration.Seconds() * float64(o.Rate))
	due := make(chan time.Time, n)
	var key, errs atomic.Int64
	var mu sync.Mutex
	var txs []committed
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < liveConcurrency; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := &leanSession{c: lc, ledger: ledgerName}
			for range due {
				begin := time.Now()
				if err := s.exec(ctx, insertStmt, ionvalue.Int(key.Add(1))); err != nil {
					errs.Add(1)
					continue
				}
				at := time.Now()
				mu.Lock()
				txs = append(txs, committed{txID: s.lastTx, start: begin, at: at})
				mu.Unlock()
			}
		}()
	}
	lastPrint := start
	for i := 0; i < n && ctx.Err() == nil; i++ {
		at := start.Add(time.Duration(float64(i) * float64(time.Second) / float64(o.Rate)))
		if d := time.Until(at); d > 0 {
			time.Sleep(d)
		}
		due <- at
		if time.Since(lastPrint) > time.Second {
			mu.Lock()
			done := len(txs)
			mu.Unlock()
			fmt.Fprintf(o.Progress, "bench: stream live: %d/%d transactions committed, %.0fs\n", done, n, time.Since(start).Seconds())
			lastPrint = time.Now()
		}
	}
	close(due)
	wg.Wait()
	elapsed := time.Since(start)
	var cpuUsed time.Duration
	if cpu != nil {
		if c1, err := cpu(); err == nil {
			cpuUsed = c1 - cpu0
		}
	}

	// Wait until the consumer read every committed block (or 30 s).
	want := map[string]bool{}
	for _, tx := range txs {
		want[tx.txID] = true
	}
	var readAt, ackAt map[string]time.Time
	for deadline := time.Now().Add(30 * time.Second); ; {
		read, cerr := consumer.snapshot()
		if cerr != nil {
			return cerr
		}
		if readAt, err = blockTimes(read); err != nil {
			return err
		}
		missing := 0
		for id := range want {
			if _, ok := readAt[id]; !ok {
				missing++
			}
		}
		if missing == 0 || time.Now().After(deadline) {
			break
		}
		fmt.Fprintf(o.Progress, "bench: stream live: waiting for %d blocks to be readable\n", missing)
		time.Sleep(time.Second)
	}
	stopConsumer()
	<-consumer.done
	acked, puts := proxy.snapshot()
	if ackAt, err = blockTimes(acked); err != nil {
		return err
	}

	var commitLat, strand, emulator, total latencies
	var unacked, unread int
	for _, tx := range txs {
		commitLat.add([]time.Duration{tx.at.Sub(tx.start)})
		a, okA := ackAt[tx.txID]
		r, okR := readAt[tx.txID]
		if !okA {
			unacked++
		}
		if !okR {
			unread++
		}
		if okA {
			strand.add([]time.Duration{a.Sub(tx.at)})
		}
		if okA && okR {
			emulator.add([]time.Duration{r.Sub(a)})
		}
		if okR {
			total.add([]time.Duration{r.Sub(tx.at)})
		}
	}
	proxy.upstream.mu.Lock()
	upstreamPuts := len(proxy.upstream.all)
	proxy.upstream.mu.Unlock()
	fromMem, fromStore := blocksRead("http://" + metricsAddr + "/metrics")
	tab := &table{w: o.Out}
	crow := Row{Name: "stream live: commits", Concurrency: liveConcurrency, Ops: int64(len(txs)), Errors: errs.Load(), Seconds: elapsed.Seconds(),
		Unit: "tx", PerSecond: float64(len(txs)) / elapsed.Seconds(),
		Extra: map[string]float64{"target_rate": float64(o.Rate), "putrecords_calls": float64(puts),
			"worker_blocks_from_memory": fromMem, "worker_blocks_from_store": fromStore}}
	commitLat.fill(&crow)
	if cpuUsed > 0 && len(txs) > 0 {
		crow.ServerCPUus = float64(cpuUsed.Microseconds()) / float64(len(txs))
	}
	rows := []Row{crow,
		{Name: "commit ack → PutRecords ack", Ops: int64(len(strand.all)), Unit: "tx", Extra: map[string]float64{"not_acknowledged": float64(unacked)}},
		{Name: "  of which PutRecords in emulator", Ops: int64(upstreamPuts), Unit: "call"},
		{Name: "PutRecords ack → readable", Ops: int64(len(emulator.all)), Unit: "tx"},
		{Name: "commit ack → readable", Ops: int64(len(total.all)), Unit: "tx", Extra: map[string]float64{"not_read": float64(unread)}},
	}
	for i := 1; i < len(rows); i++ {
		rows[i].Seconds, rows[i].PerSecond = elapsed.Seconds(), float64(rows[i].Ops)/elapsed.Seconds()
	}
	strand.fill(&rows[1])
	proxy.upstream.fill(&rows[2])
	emulator.fill(&rows[3])
	total.fill(&rows[4])
	for _, r := range rows {
		tab.row(r)
		rep.Rows = append(rep.Rows, r)
	}
	rep.Ratios["live_strand_share_p50_ms"] = rows[1].P50ms
	rep.Ratios["live_strand_share_p99_ms"] = rows[1].P99ms
	rep.Ratios["live_putrecords_in_emulator_p50_ms"] = rows[2].P50ms
	rep.Ratios["live_putrecords_in_emulator_p99_ms"] = rows[2].P99ms
	rep.Ratios["live_emulator_share_p50_ms"] = rows[3].P50ms
	rep.Ratios["live_emulator_share_p99_ms"] = rows[3].P99ms
	met := rows[1].P50ms <= 5 && rows[1].P99ms <= 25
	rep.Notes = append(rep.Notes, fmt.Sprintf("stream live: Strand's share (commit acknowledged → PutRecords acknowledged) p50 %.2f ms, p99 %.2f ms at %.0f tx/s committed (goal p50 ≤ 5 ms, p99 ≤ 25 ms at 1,000 tx/s: %s)",
		rows[1].P50ms, rows[1].P99ms, crow.PerSecond, map[bool]string{true: "met", false: "not met"}[met]))
	return nil
}

// freeLoopbackAddr returns a loopback address with a port that was free a
// moment ago.
func freeLoopbackAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("bench: %w", err)
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// blocksRead sums strand_stream_blocks_read_total by source from a
// server's /metrics (0, 0 when the server has no such series: an older
// build).
func blocksRead(url string) (memory, store float64) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, 0
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(line, "strand_stream_blocks_read_total{") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		switch {
		case strings.Contains(line, `source="memory"`):
			memory += v
		case strings.Contains(line, `source="store"`):
			store += v
		}
	}
	return memory, store
}
