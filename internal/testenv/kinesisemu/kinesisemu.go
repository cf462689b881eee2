// Package kinesisemu starts local Kinesis emulators for tests.
//
// Two emulators are supported, both installed from npm into tools/kinesis by
// scripts/test.sh (pinned by tools/kinesis/package-lock.json):
//
//   - kinesalite 3.3.3: fast (ready in ~0.1 s), AWS-like request validation,
//     LevelDB persistence. It needs the stream name in every request: a
//     request that carries only a StreamARN fails with ValidationException.
//   - kinesis-local 0.6.2 (kinesis-mock): StreamARN-only addressing,
//     per-account and per-region namespaces, slower on large payloads.
//
// Both listen on 127.0.0.1 only, on a free port, speak plain HTTP, never
// verify SigV4 signatures and never throttle; put faultproxy in front of an
// emulator to inject throttling and other faults.
//
// Every emulator belongs to one test: it is stopped (its whole process group
// is killed) in t.Cleanup, and its output is logged if the test failed.
// If the npm packages are not installed, the test fails with a message that
// says to run scripts/test.sh.
//
// Typical use:
//
//	e := kinesisemu.StartKinesalite(t, kinesisemu.Stream("journal", 2))
//	// code under test: e.AWSConfig() or e.Endpoint, e.StreamARN("journal")
//	shards, err := e.ReadAll(ctx, "journal")
//
// Clients built here (Config, NewClient, Emulator.Client) never read shared
// config files or AWS_* environment variables.
package kinesisemu

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

// Defaults for the emulators' namespace and the SDK clients built here.
const (
	DefaultRegion    = "us-east-1"
	DefaultAccountID = "000000000000"
	// AccessKeyID is the access key of the clients built by this package.
	// It is not 12 digits long, so kinesis-local puts every stream under
	// the emulator's AccountID.
	AccessKeyID = "AKIDEXAMPLE"
	// SecretAccessKey is the secret key of the clients built by this
	// package; the emulators never check it.
	SecretAccessKey = "secret"
)

// startTimeout bounds how long an emulator may take to become ready. CI runs
// on 2 cores next to race-enabled test binaries, so it is generous.
const startTimeout = 60 * time.Second

// Kind names an emulator implementation.
type Kind int

const (
	// Kinesalite is the kinesalite npm package, run through
	// tools/kinesis/serve.js.
	Kinesalite Kind = iota + 1
	// KinesisLocal is the kinesis-local npm package (kinesis-mock), run from
	// a copy of its main.js patched to listen on 127.0.0.1.
	KinesisLocal
)

// String returns the npm package name of the emulator.
func (k Kind) String() string {
	switch k {
	case Kinesalite:
		return "kinesalite"
	case KinesisLocal:
		return "kinesis-local"
	default:
		return fmt.Sprintf("Kind(%d)", int(k))
	}
}

// StreamSpec describes a stream to create when an emulator starts.
type StreamSpec struct {
	// Name is the stream name.
	Name string
	// Shards is the number of shards; 0 means 1.
	Shards int32
}

// Stream is shorthand for StreamSpec{Name: name, Shards: shards}.
func Stream(name string, shards int32) StreamSpec {
	return StreamSpec{Name: name, Shards: shards}
}

// Option configures Start.
type Option func(*settings)

type settings struct {
	streams        []StreamSpec
	persistDir     string
	region         string
	accountID      string
	transition     time.Duration
	persistEvery   time.Duration
	extraClientOpt []func(*kinesis.Options)
}

// WithStreams creates the given streams once the emulator is ready, and
// waits until they are ACTIVE.
func WithStreams(streams ...StreamSpec) Option {
	return func(s *settings) { s.streams = append(s.streams, streams...) }
}

// WithPersistence makes the emulator keep its data in dir, so that streams
// and records survive Restart. For kinesalite dir holds a LevelDB database.
// For kinesis-local it holds kinesis-data.json, which kinesis-local writes
// periodically (see WithPersistInterval) and when it exits; see Stop.
func WithPersistence(dir string) Option {
	return func(s *settings) { s.persistDir = dir }
}

// WithPersistInterval sets how often kinesis-local writes its data when
// WithPersistence is used (default 1s). kinesalite ignores it: LevelDB
// writes as it goes.
func WithPersistInterval(d time.Duration) Option {
	return func(s *settings) { s.persistEvery = d }
}

// WithRegion sets the emulator's region, used in stream ARNs (default
// us-east-1). The Emulator's Client signs with the same region.
func WithRegion(region string) Option {
	return func(s *settings) { s.region = region }
}

// WithAccountID sets the emulator's account ID, used in stream ARNs
// (default 000000000000).
func WithAccountID(id string) Option {
	return func(s *settings) { s.accountID = id }
}

// WithTransitionDelay sets how long streams stay CREATING, DELETING or
// UPDATING (default 0, so that tests do not wait).
func WithTransitionDelay(d time.Duration) Option {
	return func(s *settings) { s.transition = d }
}

// WithClientOptions adds options applied to the Emulator's Client, for
// example to change its retryer.
func WithClientOptions(optFns ...func(*kinesis.Options)) Option {
	return func(s *settings) { s.extraClientOpt = append(s.extraClientOpt, optFns...) }
}

// Emulator is a running Kinesis emulator owned by one test.
type Emulator struct {
	// Kind is the emulator implementation.
	Kind Kind
	// Endpoint is the emulator's base URL, "http://127.0.0.1:PORT".
	Endpoint string
	// Region is the region of the emulator's stream ARNs.
	Region string
	// AccountID is the account of the emulator's stream ARNs.
	AccountID string
	// Client is a Kinesis client for Endpoint, built without shared config
	// files or AWS_* environment variables.
	Client *kinesis.Client
	// ReadPageLimit, if positive, is the Limit that ReadAll passes to
	// GetRecords; 0 leaves it to the emulator (up to 10,000 records).
	ReadPageLimit int32

	t       testing.TB
	set     settings
	root    string // repository root
	workDir string // per-emulator temporary directory

	mu         sync.Mutex
	proc       *process
	transports []*http.Transport // of the clients built by the emulator
	port       int
	tlsPort    int // kinesis-local only
}

// StartKinesalite starts kinesalite on a free 127.0.0.1 port, creates the
// given streams and waits until they are ACTIVE. It fails the test if that
// is not possible.
func StartKinesalite(t testing.TB, streams ...StreamSpec) *Emulator {
	t.Helper()
	return Start(t, Kinesalite, WithStreams(streams...))
}

// StartKinesisLocal starts kinesis-local on a free 127.0.0.1 port, creates
// the given streams and waits until they are ACTIVE. It fails the test if
// that is not possible.
func StartKinesisLocal(t testing.TB, streams ...StreamSpec) *Emulator {
	t.Helper()
	return Start(t, KinesisLocal, WithStreams(streams...))
}

// Start starts an emulator of the given kind with options, and registers its
// shutdown with t.Cleanup. It fails the test if the emulator cannot start.
func Start(t testing.TB, kind Kind, opts ...Option) *Emulator {
	t.Helper()
	set := settings{
		region:       DefaultRegion,
		accountID:    DefaultAccountID,
		persistEvery: time.Second,
	}
	for _, o := range opts {
		o(&set)
	}
	if kind != Kinesalite && kind != KinesisLocal {
		t.Fatalf("kinesisemu: unknown emulator kind %v", kind)
	}
	root, err := RepoRoot()
	if err != nil {
		t.Fatalf("kinesisemu: %v", err)
	}
	if err := checkInstalled(root, kind); err != nil {
		t.Fatalf("kinesisemu: %v", err)
	}
	if set.persistDir != "" {
		if set.persistDir, err = filepath.Abs(set.persistDir); err != nil {
			t.Fatalf("kinesisemu: %v", err)
		}
		if err := os.MkdirAll(set.persistDir, 0o755); err != nil {
			t.Fatalf("kinesisemu: %v", err)
		}
	}
	e := &Emulator{
		Kind:      kind,
		Region:    set.region,
		AccountID: set.accountID,
		t:         t,
		set:       set,
		root:      root,
		workDir:   t.TempDir(),
	}
	t.Cleanup(e.cleanup)
	if err := e.launch(); err != nil {
		t.Fatalf("kinesisemu: starting %v: %v", kind, err)
	}
	e.Client = e.ClientFor(e.Endpoint, set.extraClientOpt...)
	if err := e.createStreams(); err != nil {
		t.Fatalf("kinesisemu: %v: %v", kind, err)
	}
	return e
}

// NodeModules is the directory, relative to the repository root, that holds
// the emulators' npm packages.
const NodeModules = "tools/kinesis/node_modules"

func checkInstalled(root string, kind Kind) error {
	var need string
	switch kind {
	case Kinesalite:
		need = filepath.Join(root, NodeModules, "kinesalite", "index.js")
	case KinesisLocal:
		need = filepath.Join(root, NodeModules, "kinesis-local", "main.js")
	}
	if _, err := os.Stat(need); err != nil {
		return fmt.Errorf("%s is not installed (%s missing): run scripts/test.sh, "+
			"or `npm ci` in tools/kinesis, to install the Kinesis emulators", kind, need)
	}
	return nil
}

// RepoRoot returns the repository root: the nearest directory, from the
// working directory upwards, that holds go.mod.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod found above the working directory")
		}
		dir = parent
	}
}

// createStreams creates the streams of the settings.
func (e *Emulator) createStreams() error {
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	for _, s := range e.set.streams {
		if err := e.CreateStream(ctx, s.Name, s.Shards); err != nil {
			return err
		}
	}
	return nil
}

// StreamARN returns the ARN of the named stream in the emulator's region and
// account.
func (e *Emulator) StreamARN(name string) string {
	return fmt.Sprintf("arn:aws:kinesis:%s:%s:stream/%s", e.Region, e.AccountID, name)
}

// CreateStream creates a stream with the given number of shards (0 means 1)
// and waits until it is ACTIVE.
func (e *Emulator) CreateStream(ctx context.Context, name string, shards int32) error {
	if shards <= 0 {
		shards = 1
	}
	_, err := e.Client.CreateStream(ctx, &kinesis.CreateStreamInput{
		StreamName: aws.String(name),
		ShardCount: aws.Int32(shards),
	})
	if err != nil {
		return fmt.Errorf("CreateStream %s: %w", name, err)
	}
	return e.waitStream(ctx, name, true)
}

// DeleteStream deletes a stream and waits until it is gone.
func (e *Emulator) DeleteStream(ctx context.Context, name string) error {
	_, err := e.Client.DeleteStream(ctx, &kinesis.DeleteStreamInput{
		StreamName:              aws.String(name),
		EnforceConsumerDeletion: aws.Bool(true),
	})
	if err != nil {
		return fmt.Errorf("DeleteStream %s: %w", name, err)
	}
	return e.waitStream(ctx, name, false)
}

// waitStream polls DescribeStreamSummary until the stream is ACTIVE (active)
// or does not exist (!active). The SDK's waiters poll every 10 s at first,
// far too slowly for tests.
func (e *Emulator) waitStream(ctx context.Context, name string, active bool) error {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		out, err := e.Client.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{
			StreamName: aws.String(name),
		})
		var notFound *types.ResourceNotFoundException
		switch {
		case err == nil && active && out.StreamDescriptionSummary.StreamStatus == types.StreamStatusActive:
			return nil
		case errors.As(err, &notFound) && !active:
			return nil
		case err != nil && !errors.As(err, &notFound):
			return fmt.Errorf("waiting for stream %s: %w", name, err)
		}
		select {
		case <-ctx.Done():
			want := "ACTIVE"
			if !active {
				want = "deleted"
			}
			return fmt.Errorf("stream %s not %s: %w", name, want, ctx.Err())
		case <-tick.C:
		}
	}
}

// Restart stops the emulator and starts it again on the same port. With
// WithPersistence, streams and records survive; without it the emulator
// comes back empty and the streams given at start are created again.
// It fails the test if the emulator does not come back.
func (e *Emulator) Restart() {
	e.t.Helper()
	e.Stop()
	if err := e.launch(); err != nil {
		e.t.Fatalf("kinesisemu: restarting %v: %v", e.Kind, err)
	}
	if e.set.persistDir == "" {
		if err := e.createStreams(); err != nil {
			e.t.Fatalf("kinesisemu: %v: %v", e.Kind, err)
		}
	}
}

// Stop stops the emulator: SIGTERM to its process group, then SIGKILL if it
// has not exited in time. Requests fail until Restart. Stopping a stopped
// emulator does nothing.
//
// kinesis-local started WithPersistence writes its data when it exits, but
// only once every keep-alive connection to it has closed, waiting up to 30
// s for them. Stop therefore closes the idle connections of the clients the
// Emulator built (Client, ClientFor, AWSConfig) and waits up to 40 s. Other
// clients, such as a faultproxy in front of it, may hold connections and
// make Stop slow: close them first (faultproxy.Proxy.Close) for a quick
// restart.
func (e *Emulator) Stop() {
	e.mu.Lock()
	p := e.proc
	e.proc = nil
	transports := slices.Clone(e.transports)
	e.mu.Unlock()
	if p == nil {
		return
	}
	grace := e.stopGrace()
	if e.Kind == KinesisLocal && e.set.persistDir != "" {
		for _, tr := range transports {
			tr.CloseIdleConnections()
		}
		healthClient.CloseIdleConnections()
		grace = 40 * time.Second
	}
	if killed := p.stop(grace); killed && e.set.persistDir != "" {
		e.t.Logf("kinesisemu: %v did not exit within %v of SIGTERM and was killed; its data may be incomplete", e.Kind, grace)
	}
}

// stopGrace is how long Stop waits after SIGTERM before SIGKILL when the
// emulator's data need not be kept. kinesalite's wrapper exits within
// milliseconds (and LevelDB writes as it goes). kinesis-local waits up to
// 30 s for idle keep-alive connections to close before it exits.
func (e *Emulator) stopGrace() time.Duration {
	if e.Kind == KinesisLocal {
		return 250 * time.Millisecond
	}
	return 5 * time.Second
}

// Log returns the most recent output of the emulator process.
func (e *Emulator) Log() string {
	e.mu.Lock()
	p := e.proc
	e.mu.Unlock()
	if p == nil {
		return ""
	}
	return p.out.String()
}

func (e *Emulator) cleanup() {
	e.mu.Lock()
	p := e.proc
	e.proc = nil
	e.mu.Unlock()
	if p == nil {
		return
	}
	if e.t.Failed() {
		if out := strings.TrimSpace(p.out.String()); out != "" {
			e.t.Logf("kinesisemu: %v output (last %d bytes):\n%s", e.Kind, tailSize, out)
		}
	}
	p.stop(e.stopGrace())
}

// launch starts the emulator process and waits until it is ready. It reuses
// the previous port when there is one (Restart).
func (e *Emulator) launch() error {
	first := e.Endpoint == ""
	var (
		p   *process
		err error
	)
	for attempt := 1; ; attempt++ {
		if e.Kind == Kinesalite {
			p, err = e.launchKinesalite()
		} else {
			p, err = e.launchKinesisLocal()
		}
		if err == nil || !first || attempt == 3 || !errors.Is(err, errExited) {
			break
		}
		// The process died during its first start-up, most likely because
		// another process took the free port first: try other ports.
		e.port, e.tlsPort = 0, 0
	}
	if err != nil {
		return err
	}
	e.mu.Lock()
	e.proc = p
	e.mu.Unlock()
	if first {
		e.Endpoint = fmt.Sprintf("http://127.0.0.1:%d", e.port)
	}
	return nil
}

// errExited reports that an emulator process exited before it was ready.
var errExited = errors.New("emulator exited during start-up")

func (e *Emulator) launchKinesalite() (*process, error) {
	args := []string{filepath.Join(e.root, "tools", "kinesis", "serve.js"), fmt.Sprint(e.port)}
	if e.set.persistDir != "" {
		args = append(args, e.set.persistDir)
	}
	env := childEnv(
		"CREATE_MS="+fmt.Sprint(e.set.transition.Milliseconds()),
		"AWS_ACCOUNT_ID="+e.AccountID,
		"AWS_REGION="+e.Region,
	)
	p, err := startProcess(args, env, e.workDir)
	if err != nil {
		return nil, err
	}
	port, err := p.waitKinesaliteReady(startTimeout)
	if err != nil {
		p.stop(time.Second)
		return nil, err
	}
	e.port = port
	return p, nil
}

// loopbackPatch is the one place where kinesis-local chooses its listen
// address; it is hard-coded to all interfaces.
const (
	loopbackFrom = `Host$().em("0.0.0.0")`
	loopbackTo   = `Host$().em("127.0.0.1")`
)

func (e *Emulator) launchKinesisLocal() (*process, error) {
	pkg := filepath.Join(e.root, NodeModules, "kinesis-local")
	mainJS := filepath.Join(e.workDir, "kinesis-local-main.js")
	if _, err := os.Stat(mainJS); err != nil {
		src, err := os.ReadFile(filepath.Join(pkg, "main.js"))
		if err != nil {
			return nil, err
		}
		if n := strings.Count(string(src), loopbackFrom); n != 1 {
			return nil, fmt.Errorf("cannot patch kinesis-local to listen on loopback: %q occurs %d times in main.js, want 1 "+
				"(was the pinned version 0.6.2 changed?)", loopbackFrom, n)
		}
		patched := strings.Replace(string(src), loopbackFrom, loopbackTo, 1)
		if err := os.WriteFile(mainJS, []byte(patched), 0o644); err != nil {
			return nil, err
		}
	}
	if e.port == 0 {
		ports, err := freePorts(2)
		if err != nil {
			return nil, err
		}
		e.port, e.tlsPort = ports[0], ports[1]
	}
	d := fmt.Sprintf("%dms", e.set.transition.Milliseconds())
	env := childEnv(
		"KINESIS_MOCK_CERT_PATH="+filepath.Join(pkg, "server.json"),
		"KINESIS_MOCK_PLAIN_PORT="+fmt.Sprint(e.port),
		"KINESIS_MOCK_TLS_PORT="+fmt.Sprint(e.tlsPort),
		"AWS_ACCOUNT_ID="+e.AccountID,
		"AWS_REGION="+e.Region,
		"LOG_LEVEL=WARN",
		"SHARD_LIMIT=100",
		"CREATE_STREAM_DURATION="+d,
		"DELETE_STREAM_DURATION="+d,
		"MERGE_SHARDS_DURATION="+d,
		"SPLIT_SHARD_DURATION="+d,
		"UPDATE_SHARD_COUNT_DURATION="+d,
		"UPDATE_STREAM_MODE_DURATION="+d,
		"REGISTER_STREAM_CONSUMER_DURATION="+d,
		"DEREGISTER_STREAM_CONSUMER_DURATION="+d,
		"START_STREAM_ENCRYPTION_DURATION="+d,
		"STOP_STREAM_ENCRYPTION_DURATION="+d,
	)
	if e.set.persistDir != "" {
		env = append(env,
			"SHOULD_PERSIST_DATA=true",
			"PERSIST_PATH="+e.set.persistDir,
			fmt.Sprintf("PERSIST_INTERVAL=%dms", e.set.persistEvery.Milliseconds()),
		)
	}
	p, err := startProcess([]string{mainJS}, env, e.workDir)
	if err != nil {
		return nil, err
	}
	url := fmt.Sprintf("http://127.0.0.1:%d/healthcheck", e.port)
	if err := p.waitHTTPReady(url, startTimeout); err != nil {
		p.stop(time.Second)
		return nil, err
	}
	return p, nil
}

// healthClient is used for readiness probes only.
var healthClient = &http.Client{Timeout: 2 * time.Second}
