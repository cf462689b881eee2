// Package config holds Strand's one Config struct: its defaults, the
// command-line flags and STRAND_* environment variables that set it, and
// Validate, which every entry point calls before using it.
package config

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/url"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/strand-db/strand/internal/cluster"
	"github.com/strand-db/strand/internal/stream"
	"github.com/strand-db/strand/internal/stream/kpl"
	"github.com/strand-db/strand/internal/txn"
)

// Config is the whole configuration of a Strand server.
type Config struct {
	// ConfigFile is the configuration file the settings were read from
	// ("" for none); see Parse.
	ConfigFile string

	Listen  string // host:port to serve on
	DataDir string // directory of the embedded store
	Store   string // "" or "pebble": the embedded store in DataDir; a postgres:// URL: PostgreSQL

	StoreMaxConns int    // connections in the PostgreSQL store's pool
	Region        string // region in ARNs and the SigV4 scope
	AccountID     string // 12-digit account id in ARNs

	// StoreCacheSize is the embedded store's block cache, in bytes.
	StoreCacheSize int64
	// MemoryLimit is the Go runtime's soft memory limit in bytes: 0 for
	// StoreCacheSize + 128 MiB, negative for none (see GoMemoryLimit).
	MemoryLimit int64

	AccessKeyID     string // one credential pair, or
	SecretAccessKey string
	CredentialsFile string // a file of "access-key-id secret-access-key [principal]" lines
	// PolicyFile is a JSON file, or a directory of them, mapping principal
	// names or access key ids to IAM-style policies (package policy); ""
	// leaves every valid key allowed everything.
	PolicyFile string
	TLSCert    string // PEM certificate: serve HTTPS when set with TLSKey
	TLSKey     string
	// BackupAccessKeyIDs is a comma-separated list of the access key ids
	// allowed to take online backups (strand backup); see BackupKeys.
	BackupAccessKeyIDs string

	MaxLedgers           int           // quota of active ledgers
	MaxSessionsPerLedger int           // quota of open sessions per ledger
	MaxClockSkew         time.Duration // accepted SigV4 clock skew

	MaxStatementRows         int64         // rows one statement may visit
	MaxStatementMemory       int64         // bytes one statement may hold for its rows (approximate)
	MaxPendingBytesPerLedger int64         // bytes the open transactions of a ledger may hold
	PartiQLExtensions        bool          // allow ORDER BY, LIMIT/OFFSET and unique indexes (beyond QLDB)
	ReadHeaderTimeout        time.Duration // time to receive a request's headers
	BodyReadTimeout          time.Duration // time to receive a request's body after its headers
	ResponseWriteTimeout     time.Duration // time for each write of an answer to reach the client
	IdleTimeout              time.Duration // how long an idle keep-alive connection stays open
	MaxInflightBodyBytes     int64         // request-body bytes held at once across all requests
	MaxConcurrentCommands    int           // SendCommand requests served at once
	MaxConnections           int           // client connections served at once

	// SecretOnCommandLine is set by Parse when --secret-access-key came
	// from the command line, where other users can read it (ps,
	// /proc/<pid>/cmdline); strand serve warns about it.
	SecretOnCommandLine bool

	// TxTimeout is how long a transaction may stay open; zero means QLDB's
	// 30 seconds. It has no flag: tests shorten it to exercise expiry.
	TxTimeout time.Duration

	KinesisEndpoint       string        // send every Kinesis call here (an emulator); "" for AWS
	S3Endpoint            string        // send every S3 call of journal exports here (path-style); "" for AWS
	AssumeRole            bool          // assume the stream's RoleArn even with KinesisEndpoint
	MaxStreamsPerLedger   int           // quota of active journal streams per ledger
	StreamRetention       time.Duration // how long terminal streams stay listed
	StreamImpairedTimeout time.Duration // IMPAIRED this long becomes FAILED
	AggregationMaxSize    int           // largest KPL aggregate, bytes
	StreamBufferDelay     time.Duration // wait this long after a commit for more before putting
	StreamRetryMax        time.Duration // cap of the Kinesis retry backoff
	MetricsListen         string        // serve Prometheus /metrics here; "" disables
	Pprof                 bool          // also serve Go's runtime profiles (/debug/pprof/) there; loopback only

	LogFormat string // LogText or LogJSON
	LogLevel  string // debug, info, warn or error

	// Several nodes on one shared store (PostgreSQL).
	NodeURL  string        // where the other nodes reach this one; "" derives it from the listen address
	LeaseTTL time.Duration // how long a ledger's lease lasts without renewal (failover time)
	// ForwardTimeout bounds each attempt to forward a request to the node
	// that owns its ledger, the answer included.
	ForwardTimeout time.Duration
	// LeaseClock, when set, is the clock of this node's leases instead of
	// time.Now. No flag: for tests only, which skew one node's clock.
	LeaseClock func() time.Time

	// KinesisCredentials, when set, replaces the standard credential chain
	// for Kinesis calls (used by tests and embedders; no flag).
	KinesisCredentials aws.CredentialsProvider
	// S3Credentials, when set, replaces the standard credential chain for
	// the S3 calls of journal exports (used by tests and embedders; no flag).
	S3Credentials aws.CredentialsProvider
	// ExportObjectBlocks bounds the blocks of one exported data object
	// (zero: export.DefaultObjectBlocks); tests lower it. No flag.
	ExportObjectBlocks int

	// Credentials maps access key ids to secrets, filled by Validate from
	// AccessKeyID/SecretAccessKey and CredentialsFile. Empty means no
	// authentication: any well-formed signature is accepted.
	Credentials map[string]string
	// Principals maps access key ids to the principal names of the
	// credentials file's third field, filled by Validate (a key without one
	// is its own principal).
	Principals map[string]string

	// BackupKeys holds the access key ids of BackupAccessKeyIDs, filled by
	// Validate. With credentials configured only these may take a backup
	// (none when empty); without credentials (loopback only) any client may.
	BackupKeys map[string]bool
}

// DefaultStoreCacheSize is --store-cache-size's default, 64 MiB: the value
// of pebblestore.DefaultCacheSize, written here too so that this package
// does not link Pebble (a server test checks that the two agree).
const DefaultStoreCacheSize = 64 << 20

// Default returns the configuration used when nothing is set. The engines'
// quotas and budgets take the defaults their packages define (txn, stream,
// kpl), so each default is written once.
func Default() Config {
	return Config{
		Listen:               "127.0.0.1:8410",
		DataDir:              "./strand-data",
		StoreMaxConns:        10,
		StoreCacheSize:       DefaultStoreCacheSize,
		Region:               "us-east-1",
		AccountID:            "000000000000",
		MaxLedgers:           100,
		MaxSessionsPerLedger: txn.DefaultMaxSessionsPerLedger,
		MaxClockSkew:         15 * time.Minute,
		ReadHeaderTimeout:    10 * time.Second,
		BodyReadTimeout:      30 * time.Second,
		ResponseWriteTimeout: 60 * time.Second,
		IdleTimeout:          2 * time.Minute,
		MaxInflightBodyBytes: 64 << 20,

		MaxStatementRows:         txn.DefaultMaxStatementRows,
		MaxStatementMemory:       txn.DefaultMaxStatementMemory,
		MaxPendingBytesPerLedger: txn.DefaultMaxPendingBytesPerLedger,
		MaxConcurrentCommands:    1024,
		MaxConnections:           8192,

		MaxStreamsPerLedger:   stream.DefaultMaxActivePerLedger,
		StreamRetention:       stream.DefaultRetention,
		StreamImpairedTimeout: stream.DefaultImpairedTimeout,
		AggregationMaxSize:    kpl.DefaultMaxAggregateSize,
		StreamRetryMax:        stream.DefaultRetryMax,
		LeaseTTL:              cluster.DefaultTTL,
		ForwardTimeout:        35 * time.Second,
		LogFormat:             LogText,
		LogLevel:              "info",
	}
}

// EnvName is the environment variable that sets the flag with the given name:
// STRAND_ followed by the name in upper case with dashes as underscores.
func EnvName(flagName string) string {
	return "STRAND_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// RegisterFlags defines c's flags on fs, each defaulting to c's current value.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.ConfigFile, ConfigFlag, c.ConfigFile, "YAML `file` of settings: each key a flag name below (data-dir: /var/lib/strand); flags and STRAND_* variables override it")
	fs.StringVar(&c.Listen, "listen", c.Listen, "address to listen on (host:port)")
	fs.StringVar(&c.DataDir, "data-dir", c.DataDir, "directory of the embedded store")
	fs.StringVar(&c.Store, "store", c.Store, "where the data lives: empty or 'pebble' for the embedded store in --data-dir, or a postgres:// (postgresql://) URL of a PostgreSQL database; give a URL with a password as STRAND_STORE, as other users can read a command line")
	fs.IntVar(&c.StoreMaxConns, "store-max-conns", c.StoreMaxConns, "connections in the PostgreSQL store's pool (with a postgres:// --store)")
	fs.Int64Var(&c.StoreCacheSize, "store-cache-size", c.StoreCacheSize, "bytes of the embedded store's block cache (Pebble's); the largest fixed share of the server's memory (see docs/operations.md, Memory)")
	fs.Int64Var(&c.MemoryLimit, "memory-limit", c.MemoryLimit, "soft limit of the Go runtime's memory in bytes, past which it collects garbage harder (0: --store-cache-size + 128 MiB; negative: none; GOMEMLIMIT in the environment wins)")
	fs.StringVar(&c.Region, "region", c.Region, "AWS region the server answers as")
	fs.StringVar(&c.AccountID, "account-id", c.AccountID, "12-digit account id used in ARNs")
	fs.StringVar(&c.AccessKeyID, "access-key-id", c.AccessKeyID, "access key id clients must sign with")
	fs.StringVar(&c.SecretAccessKey, "secret-access-key", c.SecretAccessKey, "`secret` access key of --access-key-id; prefer STRAND_SECRET_ACCESS_KEY or --credentials-file, as other users can read a command line")
	fs.StringVar(&c.CredentialsFile, "credentials-file", c.CredentialsFile, "file with one 'access-key-id secret-access-key [principal-name]' line per key")
	fs.StringVar(&c.PolicyFile, "policy-file", c.PolicyFile, "JSON `file` (or directory of *.json files) mapping principal names or access key ids to IAM-style policies; every request is then checked against them (default deny). Reloaded on SIGHUP and by strand policy reload. Empty: every valid key may do everything")
	fs.StringVar(&c.BackupAccessKeyIDs, "backup-access-key-id", c.BackupAccessKeyIDs, "comma-separated access key ids (of the configured credentials) allowed to take online backups with strand backup; none when empty. Without credentials (loopback only) any client may")
	fs.StringVar(&c.TLSCert, "tls-cert", c.TLSCert, "PEM certificate file; serve HTTPS with --tls-key")
	fs.StringVar(&c.TLSKey, "tls-key", c.TLSKey, "PEM private key file of --tls-cert")
	fs.IntVar(&c.MaxLedgers, "max-ledgers", c.MaxLedgers, "quota of active ledgers")
	fs.IntVar(&c.MaxSessionsPerLedger, "max-sessions-per-ledger", c.MaxSessionsPerLedger, "quota of open sessions per ledger")
	fs.Int64Var(&c.MaxStatementRows, "max-statement-rows", c.MaxStatementRows, "rows one statement may visit (every row of every nested loop); past it the statement fails with BadRequestException")
	fs.Int64Var(&c.MaxStatementMemory, "max-statement-memory", c.MaxStatementMemory, "approximate bytes one statement may hold for its rows; past it the statement fails with BadRequestException")
	fs.Int64Var(&c.MaxPendingBytesPerLedger, "max-pending-bytes-per-ledger", c.MaxPendingBytesPerLedger, "bytes of pending documents, statement texts and unfetched result pages the open transactions of a ledger may hold; past it LimitExceededException")
	fs.BoolVar(&c.PartiQLExtensions, "partiql-extensions", c.PartiQLExtensions, "allow PartiQL beyond QLDB's on every ledger: ORDER BY, LIMIT/OFFSET and CREATE UNIQUE INDEX (off: statements behave exactly as in QLDB, which refuses them)")
	fs.DurationVar(&c.MaxClockSkew, "max-clock-skew", c.MaxClockSkew, "largest accepted difference between a request's signing time and the server clock")
	fs.DurationVar(&c.ReadHeaderTimeout, "read-header-timeout", c.ReadHeaderTimeout, "time a client has to send a request's headers")
	fs.DurationVar(&c.BodyReadTimeout, "body-read-timeout", c.BodyReadTimeout, "time a client has to send a request's body once its headers are in")
	fs.DurationVar(&c.ResponseWriteTimeout, "response-write-timeout", c.ResponseWriteTimeout, "time each write of an answer has to reach the client; a client that stops reading is disconnected")
	fs.DurationVar(&c.IdleTimeout, "idle-timeout", c.IdleTimeout, "how long an idle keep-alive connection stays open")
	fs.Int64Var(&c.MaxInflightBodyBytes, "max-inflight-body-bytes", c.MaxInflightBodyBytes, "request-body bytes the server holds at once across all requests; past it requests get 503 ThrottlingException")
	fs.IntVar(&c.MaxConnections, "max-connections", c.MaxConnections, "client connections the server keeps open at once; a connection past it is closed on arrival (keep it below the open-files limit)")
	fs.IntVar(&c.MaxConcurrentCommands, "max-concurrent-commands", c.MaxConcurrentCommands, "QLDBSession commands (statements, commits, ...) the server serves at once; past it requests get 503 CapacityExceededException (EndSession and AbortTransaction are always served)")
	fs.StringVar(&c.KinesisEndpoint, "kinesis-endpoint", c.KinesisEndpoint, "send every Kinesis call to this URL (a local emulator); credentials from the standard chain, no role assumption unless --assume-role")
	fs.StringVar(&c.S3Endpoint, "s3-endpoint", c.S3Endpoint, "send the S3 calls of journal exports to this URL (any S3-compatible server, path-style addressing); credentials from the standard chain, no role assumption unless --assume-role")
	fs.BoolVar(&c.AssumeRole, "assume-role", c.AssumeRole, "assume each stream's or export's RoleArn through STS even when --kinesis-endpoint or --s3-endpoint is set")
	fs.IntVar(&c.MaxStreamsPerLedger, "max-streams-per-ledger", c.MaxStreamsPerLedger, "quota of active journal streams per ledger")
	fs.DurationVar(&c.StreamRetention, "stream-retention", c.StreamRetention, "how long COMPLETED, CANCELED and FAILED streams stay listed")
	fs.DurationVar(&c.StreamImpairedTimeout, "stream-impaired-timeout", c.StreamImpairedTimeout, "how long a stream may stay IMPAIRED before it becomes FAILED")
	fs.IntVar(&c.AggregationMaxSize, "aggregation-max-size", c.AggregationMaxSize, "largest KPL-aggregated Kinesis record, in bytes")
	fs.DurationVar(&c.StreamBufferDelay, "stream-buffer-delay", c.StreamBufferDelay, "after a commit, wait this long for more blocks before putting to Kinesis")
	fs.DurationVar(&c.StreamRetryMax, "stream-retry-max", c.StreamRetryMax, "longest wait between retries of a failed Kinesis call")
	fs.StringVar(&c.MetricsListen, "metrics-listen", c.MetricsListen, "address to serve Prometheus metrics on (/metrics); empty disables")
	fs.BoolVar(&c.Pprof, "pprof", c.Pprof, "also serve Go's runtime profiles (/debug/pprof/: CPU, heap, goroutines) on --metrics-listen, which must then be a loopback address")
	fs.StringVar(&c.LogFormat, "log-format", c.LogFormat, "log line format: text (key=value) or json (one object per line)")
	fs.StringVar(&c.LogLevel, "log-level", c.LogLevel, "least severe log level written: debug, info, warn or error")
	fs.StringVar(&c.NodeURL, "node-url", c.NodeURL, "with a shared (PostgreSQL) store: the URL where the other strand nodes reach this one (default: http(s)://<listen address>)")
	fs.DurationVar(&c.LeaseTTL, "lease-ttl", c.LeaseTTL, "with a shared (PostgreSQL) store: how long a node's hold on a ledger lasts without renewal; another node takes the ledgers of a dead node after it")
	fs.DurationVar(&c.ForwardTimeout, "forward-timeout", c.ForwardTimeout, "with a shared (PostgreSQL) store: how long a node waits for the answer of a request it forwarded to the ledger's owner before it answers the client with a retryable error (a lost commit is sent again for as long, then reported as of unknown outcome)")
}

// Parse sets c from the configuration file named by --config or
// STRAND_CONFIG (see file.go), then from environment variables (via
// getenv), then from args: a flag on the command line wins over its
// environment variable, which wins over the file, which wins over the
// default. An error names the variable, or the file and key, at fault.
func (c *Config) Parse(fs *flag.FlagSet, args []string, getenv func(string) string) error {
	c.RegisterFlags(fs)
	if path := configPath(args, getenv); path != "" {
		if err := loadFile(fs, path); err != nil {
			return err
		}
		c.ConfigFile = path
	}
	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		if f.Name == ConfigFlag {
			return // read above
		}
		if v := getenv(EnvName(f.Name)); v != "" && envErr == nil {
			if err := fs.Set(f.Name, v); err != nil {
				envErr = fmt.Errorf("config: %s=%q: %w", EnvName(f.Name), v, err)
			}
		}
	})
	if envErr != nil {
		return envErr
	}
	// From here on every Set comes from the command line.
	if f := fs.Lookup("secret-access-key"); f != nil {
		f.Value = noteSet{Value: f.Value, set: &c.SecretOnCommandLine}
	}
	return fs.Parse(args)
}

// noteSet is a flag.Value that records that it was set.
type noteSet struct {
	flag.Value
	set *bool
}

// String is safe on the zero noteSet, which flag.PrintDefaults makes.
func (n noteSet) String() string {
	if n.Value == nil {
		return ""
	}
	return n.Value.String()
}

func (n noteSet) Set(v string) error {
	*n.set = true
	return n.Value.Set(v)
}

var (
	regionPattern  = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-\d+$`)
	accountPattern = regexp.MustCompile(`^\d{12}$`)
)

// Validate checks c and loads the credentials it names into c.Credentials.
func (c *Config) Validate() error {
	var errs []error
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		errs = append(errs, fmt.Errorf("--listen %q: %w", c.Listen, err))
	}
	if c.DataDir == "" {
		errs = append(errs, errors.New("--data-dir must not be empty"))
	}
	if u, err := url.Parse(c.S3Endpoint); c.S3Endpoint != "" && (err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "") {
		errs = append(errs, fmt.Errorf("--s3-endpoint %q is not an http:// or https:// URL", c.S3Endpoint))
	}
	switch kind := c.StoreKind(); {
	case kind == "":
		errs = append(errs, errors.New("--store must be empty, 'pebble', or a postgres:// or postgresql:// URL"))
	case kind == StorePostgres && (c.StoreMaxConns < 1 || c.StoreMaxConns > 10000):
		errs = append(errs, errors.New("--store-max-conns must be between 1 and 10000"))
	}
	if !regionPattern.MatchString(c.Region) {
		errs = append(errs, fmt.Errorf("--region %q is not a region name like us-east-1", c.Region))
	}
	if !accountPattern.MatchString(c.AccountID) {
		errs = append(errs, fmt.Errorf("--account-id %q must be 12 digits", c.AccountID))
	}
	if (c.AccessKeyID == "") != (c.SecretAccessKey == "") {
		errs = append(errs, errors.New("--access-key-id and --secret-access-key must be given together"))
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		errs = append(errs, errors.New("--tls-cert and --tls-key must be given together"))
	}
	if c.MaxLedgers < 1 {
		errs = append(errs, errors.New("--max-ledgers must be at least 1"))
	}
	if c.MaxSessionsPerLedger < 1 {
		errs = append(errs, errors.New("--max-sessions-per-ledger must be at least 1"))
	}
	if c.StoreCacheSize < 1<<20 {
		errs = append(errs, fmt.Errorf("--store-cache-size must be at least 1048576 (1 MiB), not %d", c.StoreCacheSize))
	}
	if c.MaxStatementRows < 1 || c.MaxStatementMemory < 1 || c.MaxPendingBytesPerLedger < 1 {
		errs = append(errs, errors.New("--max-statement-rows, --max-statement-memory and --max-pending-bytes-per-ledger must be at least 1"))
	}
	if c.MaxStreamsPerLedger < 1 {
		errs = append(errs, errors.New("--max-streams-per-ledger must be at least 1"))
	}
	if c.AggregationMaxSize < 200 || c.AggregationMaxSize > 1<<20 {
		errs = append(errs, errors.New("--aggregation-max-size must be between 200 bytes and 1 MiB"))
	}
	if c.StreamRetention <= 0 || c.StreamImpairedTimeout <= 0 || c.StreamBufferDelay < 0 || c.StreamRetryMax <= 0 {
		errs = append(errs, errors.New("--stream-retention and --stream-impaired-timeout must be positive, --stream-buffer-delay not negative"))
	}
	if c.MetricsListen != "" {
		if _, _, err := net.SplitHostPort(c.MetricsListen); err != nil {
			errs = append(errs, fmt.Errorf("--metrics-listen %q: %w", c.MetricsListen, err))
		}
	}
	if c.LogFormat != LogText && c.LogFormat != LogJSON {
		errs = append(errs, fmt.Errorf("--log-format %q must be text or json", c.LogFormat))
	}
	if _, err := logLevel(c.LogLevel); err != nil {
		errs = append(errs, err)
	}
	if c.MaxClockSkew <= 0 {
		errs = append(errs, errors.New("--max-clock-skew must be positive"))
	}
	if c.LeaseTTL < 300*time.Millisecond || c.LeaseTTL > 10*time.Minute {
		errs = append(errs, errors.New("--lease-ttl must be between 300ms and 10m"))
	}
	if c.ForwardTimeout < 100*time.Millisecond {
		errs = append(errs, errors.New("--forward-timeout must be at least 100ms"))
	}
	if c.NodeURL != "" {
		if u, err := url.Parse(c.NodeURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("--node-url %q is not an http:// or https:// URL with a host", c.NodeURL))
		}
	}
	if c.ReadHeaderTimeout <= 0 || c.BodyReadTimeout <= 0 || c.ResponseWriteTimeout <= 0 || c.IdleTimeout <= 0 {
		errs = append(errs, errors.New("--read-header-timeout, --body-read-timeout, --response-write-timeout and --idle-timeout must be positive"))
	}
	if c.MaxConcurrentCommands < 1 {
		errs = append(errs, errors.New("--max-concurrent-commands must be at least 1"))
	}
	if c.MaxConnections < 1 {
		errs = append(errs, errors.New("--max-connections must be at least 1"))
	}
	if c.MaxInflightBodyBytes < 1<<20 {
		errs = append(errs, errors.New("--max-inflight-body-bytes must be at least 1 MiB"))
	}
	creds := map[string]string{}
	c.Principals = map[string]string{}
	if c.AccessKeyID != "" {
		creds[c.AccessKeyID] = c.SecretAccessKey
	}
	if c.CredentialsFile != "" {
		if err := readCredentials(c.CredentialsFile, creds, c.Principals); err != nil {
			errs = append(errs, err)
		}
	}
	c.Credentials = creds
	if c.PolicyFile != "" && len(creds) == 0 {
		errs = append(errs, errors.New("--policy-file needs credentials (--access-key-id or --credentials-file): without them any signature is accepted, and no principal can be told from another"))
	}
	c.BackupKeys = map[string]bool{}
	for _, id := range strings.Split(c.BackupAccessKeyIDs, ",") {
		if id = strings.TrimSpace(id); id == "" {
			continue
		}
		c.BackupKeys[id] = true
		if _, ok := creds[id]; !ok && len(creds) > 0 {
			errs = append(errs, fmt.Errorf("--backup-access-key-id %q is not one of the configured access keys", id))
		}
	}
	if len(c.BackupKeys) > 0 && len(creds) == 0 {
		errs = append(errs, errors.New("--backup-access-key-id needs credentials (--access-key-id or --credentials-file): without them every client may take a backup, and no key can be told from another"))
	}
	if len(creds) == 0 && !c.IsLoopback() {
		errs = append(errs, fmt.Errorf("refusing to listen on %s without credentials: anyone who can reach it could use every ledger; set --access-key-id/--secret-access-key or --credentials-file, or listen on a loopback address", c.Listen))
	}
	if c.Pprof && (c.MetricsListen == "" || !isLoopback(c.MetricsListen)) {
		errs = append(errs, fmt.Errorf("--pprof needs a loopback --metrics-listen (got %q): profiles show the server's code paths and memory use, and are for its operator only", c.MetricsListen))
	}
	if len(creds) == 0 && c.MetricsListen != "" && !isLoopback(c.MetricsListen) {
		errs = append(errs, fmt.Errorf("refusing to serve metrics on %s without credentials: the main listener is then loopback only, and the metrics (ledger names, stream ids, traffic) must not be more exposed than it; set credentials or use a loopback --metrics-listen", c.MetricsListen))
	}
	if len(errs) > 0 {
		return fmt.Errorf("config: %w", errors.Join(errs...))
	}
	return nil
}

// readCredentials adds the key pairs of a credentials file to creds. Blank
// lines and lines starting with # are skipped; every other line is an access
// key id and its secret separated by white space or a colon, optionally
// followed by the key's principal name (recorded in principals).
func readCredentials(path string, creds, principals map[string]string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("--credentials-file: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		parts := strings.Fields(strings.Replace(text, ":", " ", 1))
		if len(parts) != 2 && len(parts) != 3 {
			return fmt.Errorf("--credentials-file %s:%d: want 'access-key-id secret-access-key [principal-name]'", path, line)
		}
		creds[parts[0]] = parts[1]
		if len(parts) == 3 {
			principals[parts[0]] = parts[2]
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("--credentials-file: %w", err)
	}
	if len(creds) == 0 {
		return fmt.Errorf("--credentials-file %s holds no key pairs", path)
	}
	return nil
}

// Store kinds, as StoreKind returns them.
const (
	StorePebble   = "pebble"
	StorePostgres = "postgres"
)

// StoreKind names the store c.Store selects: StorePebble (empty or
// "pebble"), StorePostgres (a postgres:// or postgresql:// URL), or "" when
// it is neither.
func (c *Config) StoreKind() string {
	switch {
	case c.Store == "" || c.Store == StorePebble:
		return StorePebble
	case strings.HasPrefix(c.Store, "postgres://") || strings.HasPrefix(c.Store, "postgresql://"):
		return StorePostgres
	}
	return ""
}

// IsLoopback reports whether the listen address only accepts connections
// from this machine.
func (c *Config) IsLoopback() bool { return isLoopback(c.Listen) }

func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
