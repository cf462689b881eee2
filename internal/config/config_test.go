package config

import (
	"flag"
	"io"
	"os"
	"path/filepath"
	"testing"
)

func parse(t *testing.T, args []string, env map[string]string) Config {
	t.Helper()
	c := Default()
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	if err := c.Parse(fs, args, func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	return c
}

// A secret on the command line is visible to every user of the machine; the
// configuration records where it came from so that strand serve can warn.
func TestSecretSource(t *testing.T) {
	c := parse(t, []string{"--access-key-id", "AKID", "--secret-access-key", "s3cret"}, nil)
	if !c.SecretOnCommandLine || c.SecretAccessKey != "s3cret" {
		t.Errorf("from the command line: %+v", c.SecretOnCommandLine)
	}
	c = parse(t, []string{"--access-key-id", "AKID"}, map[string]string{"STRAND_SECRET_ACCESS_KEY": "s3cret"})
	if c.SecretOnCommandLine || c.SecretAccessKey != "s3cret" {
		t.Errorf("from the environment: %v %q", c.SecretOnCommandLine, c.SecretAccessKey)
	}
	file := filepath.Join(t.TempDir(), "creds")
	if err := os.WriteFile(file, []byte("# keys\nAKID s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c = parse(t, []string{"--credentials-file", file, "--data-dir", t.TempDir()}, nil)
	if err := c.Validate(); err != nil || c.SecretOnCommandLine || c.Credentials["AKID"] != "s3cret" {
		t.Errorf("from a file: %v %v %v", err, c.SecretOnCommandLine, c.Credentials)
	}
}

func TestIntakeLimitsValidated(t *testing.T) {
	for _, args := range [][]string{
		{"--body-read-timeout", "0s"},
		{"--response-write-timeout", "0s"},
		{"--read-header-timeout", "-1s"},
		{"--idle-timeout", "0s"},
		{"--max-inflight-body-bytes", "1000"},
	} {
		c := parse(t, args, nil)
		if err := c.Validate(); err == nil {
			t.Errorf("%v accepted", args)
		}
	}
}
