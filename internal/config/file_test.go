package config

import (
	"bytes"
	"flag"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// writeFile writes a configuration file and returns its path.
func writeFile(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "strand.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// parseErr is parse returning the error instead of failing.
func parseErr(args []string, env map[string]string) (Config, error) {
	c := Default()
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	err := c.Parse(fs, args, func(k string) string { return env[k] })
	return c, err
}

// TestPrecedence: a flag on the command line wins over its STRAND_*
// variable, which wins over the configuration file, which wins over the
// default; --config wins over STRAND_CONFIG.
func TestPrecedence(t *testing.T) {
	file := writeFile(t, `
# every kind of value
listen: 127.0.0.1:1001
region: eu-west-1
max-ledgers: 7
assume-role: true
lease-ttl: 2s
log-format: json
max-statement-rows: 1000
`)
	c := parse(t, []string{"--config", file, "--listen", "127.0.0.1:3003"},
		map[string]string{"STRAND_LISTEN": "127.0.0.1:2002", "STRAND_MAX_LEDGERS": "8"})
	want := Default()
	want.ConfigFile = file
	want.Listen = "127.0.0.1:3003"  // flag over env over file
	want.MaxLedgers = 8             // env over file
	want.Region = "eu-west-1"       // file over default
	want.AssumeRole = true          // file
	want.LeaseTTL = 2 * time.Second // file
	want.LogFormat = LogJSON        // file
	want.MaxStatementRows = 1000    // file
	if c.Listen != want.Listen || c.MaxLedgers != want.MaxLedgers || c.Region != want.Region || c.AssumeRole != want.AssumeRole ||
		c.LeaseTTL != want.LeaseTTL || c.LogFormat != want.LogFormat || c.MaxStatementRows != want.MaxStatementRows ||
		c.ConfigFile != file || c.DataDir != want.DataDir {
		t.Errorf("got %+v\nwant %+v", c, want)
	}
	c = parse(t, nil, map[string]string{"STRAND_CONFIG": file, "STRAND_LISTEN": "127.0.0.1:2002"})
	if c.Listen != "127.0.0.1:2002" || c.Region != "eu-west-1" {
		t.Errorf("STRAND_CONFIG: listen %s region %s", c.Listen, c.Region)
	}
	c = parse(t, []string{"--config", file}, map[string]string{"STRAND_CONFIG": writeFile(t, "region: ap-south-1\n")})
	if c.Region != "eu-west-1" {
		t.Errorf("--config did not win over STRAND_CONFIG: region %s", c.Region)
	}
	c = parse(t, []string{"--config", writeFile(t, "")}, nil)
	if c.Listen != Default().Listen {
		t.Errorf("an empty file changed listen to %s", c.Listen)
	}
}

// TestConfigErrors: an unknown key, a bad value and a nested value in the
// file are errors naming the file and the key; a bad STRAND_* value names
// the variable.
func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		file, want string
	}{
		{"listen: 127.0.0.1:1\nlisten-address: x\n", `unknown key "listen-address"`},
		{"max-ledgers: many\n", `key "max-ledgers"`},
		{"lease-ttl: 5\n", `key "lease-ttl"`},
		{"region: [a, b]\n", `key "region": want a single value`},
		{"config: other.yaml\n", `unknown key "config"`},
		{"listen: [unclosed\n", "strand.yaml"},
	} {
		path := writeFile(t, tc.file)
		_, err := parseErr([]string{"--config", path}, nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), path) {
			t.Errorf("file %q: %v, want an error naming %s and %q", tc.file, err, path, tc.want)
		}
	}
	if _, err := parseErr([]string{"--config", filepath.Join(t.TempDir(), "missing.yaml")}, nil); err == nil || !strings.Contains(err.Error(), "missing.yaml") {
		t.Errorf("missing file: %v", err)
	}
	_, err := parseErr(nil, map[string]string{"STRAND_MAX_LEDGERS": "lots"})
	if err == nil || !strings.Contains(err.Error(), "STRAND_MAX_LEDGERS") {
		t.Errorf("bad variable: %v, want its name", err)
	}
}

// TestEverySettingDocumented: every flag of strand serve is in README.md's
// flag tables (as `--name`) and in the help, which gives its default, its
// variable and its file key.
func TestEverySettingDocumented(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	c := Default()
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	c.RegisterFlags(fs)
	var help bytes.Buffer
	PrintSettings(&help, fs)
	n := 0
	fs.VisitAll(func(f *flag.Flag) {
		n++
		if !regexp.MustCompile("`--" + regexp.QuoteMeta(f.Name) + "( [^`]*)?`").Match(readme) {
			t.Errorf("--%s is not documented in README.md", f.Name)
		}
		if !strings.Contains(help.String(), "  --"+f.Name+" ") || !strings.Contains(help.String(), "env: "+EnvName(f.Name)+";") {
			t.Errorf("--%s is not in the help", f.Name)
		}
	})
	if n < 30 {
		t.Errorf("only %d flags registered", n)
	}
}
