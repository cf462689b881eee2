package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestValidate checks each rule of Validate: the defaults pass, and every
// bad setting is refused with a message naming its flag.
func TestValidate(t *testing.T) {
	if c := Default(); c.Validate() != nil {
		t.Fatalf("the defaults do not validate: %v", c.Validate())
	}
	for _, tc := range []struct {
		name   string
		mutate func(*Config)
		want   string
	}{
		{"listen without a port", func(c *Config) { c.Listen = "127.0.0.1" }, "--listen"},
		{"empty data dir", func(c *Config) { c.DataDir = "" }, "--data-dir"},
		{"bad region", func(c *Config) { c.Region = "Mars" }, "--region"},
		{"short account id", func(c *Config) { c.AccountID = "123" }, "--account-id"},
		{"key id without secret", func(c *Config) { c.AccessKeyID = "AKID" }, "given together"},
		{"tls cert without key", func(c *Config) { c.TLSCert = "cert.pem" }, "--tls-cert and --tls-key"},
		{"no ledgers", func(c *Config) { c.MaxLedgers = 0 }, "--max-ledgers"},
		{"no sessions", func(c *Config) { c.MaxSessionsPerLedger = 0 }, "--max-sessions-per-ledger"},
		{"no statement rows", func(c *Config) { c.MaxStatementRows = 0 }, "--max-statement-rows"},
		{"no pending bytes", func(c *Config) { c.MaxPendingBytesPerLedger = -1 }, "--max-pending-bytes-per-ledger"},
		{"no streams", func(c *Config) { c.MaxStreamsPerLedger = 0 }, "--max-streams-per-ledger"},
		{"tiny aggregate", func(c *Config) { c.AggregationMaxSize = 10 }, "--aggregation-max-size"},
		{"huge aggregate", func(c *Config) { c.AggregationMaxSize = 2 << 20 }, "--aggregation-max-size"},
		{"negative buffer delay", func(c *Config) { c.StreamBufferDelay = -1 }, "--stream-buffer-delay"},
		{"zero retention", func(c *Config) { c.StreamRetention = 0 }, "--stream-retention"},
		{"metrics without a port", func(c *Config) { c.MetricsListen = "localhost" }, "--metrics-listen"},
		{"zero clock skew", func(c *Config) { c.MaxClockSkew = 0 }, "--max-clock-skew"},
		{"public listener without credentials", func(c *Config) { c.Listen = "0.0.0.0:8410" }, "refusing to listen on 0.0.0.0:8410"},
		{"public metrics without credentials", func(c *Config) { c.MetricsListen = "0.0.0.0:9090" }, "refusing to serve metrics"},
		{"profiles without metrics", func(c *Config) { c.Pprof = true }, "--pprof needs a loopback --metrics-listen"},
		{"public profiles", func(c *Config) {
			c.Pprof, c.MetricsListen, c.AccessKeyID, c.SecretAccessKey = true, "0.0.0.0:9090", "AKID", "secret"
		}, "--pprof needs a loopback --metrics-listen"},
		{"unknown store", func(c *Config) { c.Store = "mysql://u:pw@h/db" }, "--store must be"},
		{"store without scheme", func(c *Config) { c.Store = "localhost:5432" }, "--store must be"},
		{"tiny store cache", func(c *Config) { c.StoreCacheSize = 1000 }, "--store-cache-size"},
		{"empty store pool", func(c *Config) { c.Store = "postgres://h/db"; c.StoreMaxConns = 0 }, "--store-max-conns"},
		{"missing credentials file", func(c *Config) { c.CredentialsFile = filepath.Join(t.TempDir(), "none") }, "--credentials-file"},
		{"policies without credentials", func(c *Config) { c.PolicyFile = "/etc/strand/policies.json" }, "--policy-file needs credentials"},
	} {
		c := Default()
		tc.mutate(&c)
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Validate() = %v, want an error naming %q", tc.name, err, tc.want)
		}
	}
}

// TestValidateStore: the store URLs Validate accepts, without connecting.
func TestValidateStore(t *testing.T) {
	for _, store := range []string{"", "pebble", "postgres://strand:pw@db.example:5432/strand?sslmode=require", "postgresql:///strand?host=/run/postgresql"} {
		c := Default()
		c.Store = store
		if err := c.Validate(); err != nil {
			t.Errorf("--store %q: %v", store, err)
		}
	}
	c := Default()
	c.Store = "mysql://u:secretpw@h/db"
	if err := c.Validate(); err == nil || strings.Contains(err.Error(), "secretpw") {
		t.Errorf("a bad --store: %v (must fail without echoing the URL)", err)
	}
}

// TestValidateCredentials: with credentials a public listener is allowed,
// and a credentials file's pairs are merged with the flag's pair.
func TestValidateCredentials(t *testing.T) {
	file := filepath.Join(t.TempDir(), "creds")
	if err := os.WriteFile(file, []byte("\n# ops\nAKIDFILE secretfile\nAKIDAPP:secretapp app\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := Default()
	c.Listen, c.MetricsListen = "0.0.0.0:8410", "0.0.0.0:9090"
	c.AccessKeyID, c.SecretAccessKey, c.CredentialsFile = "AKID", "secret", file
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if len(c.Credentials) != 3 || c.Credentials["AKID"] != "secret" || c.Credentials["AKIDFILE"] != "secretfile" || c.Credentials["AKIDAPP"] != "secretapp" {
		t.Fatalf("credentials %v", c.Credentials)
	}
	// The optional third field names the key's principal (--policy-file).
	if len(c.Principals) != 1 || c.Principals["AKIDAPP"] != "app" {
		t.Fatalf("principals %v", c.Principals)
	}
}

// TestFlagBeatsEnvironment: every flag can be set as STRAND_<FLAG>, and the
// command line wins over the environment.
func TestFlagBeatsEnvironment(t *testing.T) {
	env := map[string]string{"STRAND_MAX_LEDGERS": "7", "STRAND_REGION": "eu-west-1"}
	c := parse(t, []string{"--max-ledgers", "9"}, env)
	if c.MaxLedgers != 9 || c.Region != "eu-west-1" {
		t.Fatalf("MaxLedgers %d (want 9, the flag), Region %q (want eu-west-1, the environment)", c.MaxLedgers, c.Region)
	}
	if got := EnvName("max-statement-memory"); got != "STRAND_MAX_STATEMENT_MEMORY" {
		t.Fatalf("EnvName = %q", got)
	}
}
