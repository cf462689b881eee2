// Package packaging_test lints the packaging files (Dockerfile, compose
// file, systemd unit, example configuration) without docker or systemd, so
// that CI checks them everywhere; scripts/test-packaging.sh also builds and
// runs them where those tools exist.
package packaging_test

import (
	"bufio"
	"flag"
	"io"
	"os"
	"regexp"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/strand-db/strand/internal/config"
)

// settingVars maps every STRAND_* variable strand serve reads to true.
func settingVars() map[string]bool {
	c := config.Default()
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	c.RegisterFlags(fs)
	vars := map[string]bool{}
	fs.VisitAll(func(f *flag.Flag) { vars[config.EnvName(f.Name)] = true })
	return vars
}

// dockerInstructions returns the Dockerfile's instructions (continuation
// lines joined, comments dropped) as [keyword, rest] pairs.
func dockerInstructions(t *testing.T, path string) [][2]string {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out [][2]string
	var cur string
	sc := bufio.NewScanner(strings.NewReader(string(raw)))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if cur == "" && (line == "" || strings.HasPrefix(line, "#")) {
			continue
		}
		if strings.HasSuffix(line, "\\") {
			cur += strings.TrimSuffix(line, "\\") + " "
			continue
		}
		cur += line
		kw, rest, _ := strings.Cut(cur, " ")
		out = append(out, [2]string{strings.ToUpper(kw), strings.TrimSpace(rest)})
		cur = ""
	}
	return out
}

// TestDockerfile: two stages, a static (CGO_ENABLED=0) build, a runtime
// stage that copies the binary from the build stage, runs as a non-root
// user, declares the data volume and checks health with strand health;
// every STRAND_* variable it sets is a real setting.
func TestDockerfile(t *testing.T) {
	vars := settingVars()
	for _, file := range []string{"Dockerfile", "kinesis.Dockerfile"} {
		if _, err := os.Stat(file); err != nil {
			t.Fatal(err)
		}
	}
	stages := map[string][][2]string{}
	var order []string
	for _, in := range dockerInstructions(t, "Dockerfile") {
		if in[0] == "FROM" {
			f := strings.Fields(in[1])
			if len(f) != 3 || !strings.EqualFold(f[1], "AS") {
				t.Fatalf("FROM %s: name every stage (FROM image AS name)", in[1])
			}
			order = append(order, f[2])
			continue
		}
		if len(order) == 0 {
			t.Fatalf("%s before the first FROM", in[0])
		}
		stages[order[len(order)-1]] = append(stages[order[len(order)-1]], in)
	}
	if len(order) < 2 {
		t.Fatalf("stages %v: want a build stage and a runtime stage", order)
	}
	build, runtime := stages[order[0]], stages[order[len(order)-1]]
	has := func(stage [][2]string, kw string, re string) bool {
		for _, in := range stage {
			if in[0] == kw && regexp.MustCompile(re).MatchString(in[1]) {
				return true
			}
		}
		return false
	}
	if !has(build, "RUN", `CGO_ENABLED=0 go build .*\./cmd/strand`) {
		t.Error("the build stage does not build ./cmd/strand with CGO_ENABLED=0")
	}
	if !has(runtime, "COPY", `--from=`+regexp.QuoteMeta(order[0])+` .*strand`) {
		t.Error("the runtime stage does not copy the binary from the build stage")
	}
	user := ""
	for _, in := range runtime {
		if in[0] == "USER" {
			user = in[1]
		}
	}
	if user == "" || strings.HasPrefix(user, "root") || strings.HasPrefix(user, "0") {
		t.Errorf("the runtime stage runs as %q; want a non-root user", user)
	}
	if !has(runtime, "VOLUME", `/var/lib/strand`) {
		t.Error("no VOLUME for the data directory")
	}
	if !has(runtime, "HEALTHCHECK", `CMD .*"strand", "health"|CMD .*strand", "health"`) {
		t.Error("no HEALTHCHECK using strand health")
	}
	if !has(runtime, "ENV", `STRAND_DATA_DIR=/var/lib/strand`) {
		t.Error("the data directory is not the volume")
	}
	for _, in := range runtime {
		if in[0] != "ENV" {
			continue
		}
		for _, m := range regexp.MustCompile(`(STRAND_[A-Z_]+)=`).FindAllStringSubmatch(in[1], -1) {
			if !vars[m[1]] {
				t.Errorf("ENV %s is no setting of strand serve", m[1])
			}
		}
	}
}

// TestCompose: Strand built from the Dockerfile with a Kinesis emulator
// sharing its network namespace, the emulator's endpoint configured, only
// real STRAND_* settings, and a health check.
func TestCompose(t *testing.T) {
	raw, err := os.ReadFile("compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Services map[string]struct {
			Build struct {
				Context    string `yaml:"context"`
				Dockerfile string `yaml:"dockerfile"`
			} `yaml:"build"`
			Environment map[string]string `yaml:"environment"`
			NetworkMode string            `yaml:"network_mode"`
			Healthcheck struct {
				Test []string `yaml:"test"`
			} `yaml:"healthcheck"`
			Volumes []string `yaml:"volumes"`
		} `yaml:"services"`
		Volumes map[string]any `yaml:"volumes"`
	}
	dec := yaml.NewDecoder(strings.NewReader(string(raw)))
	if err := dec.Decode(&doc); err != nil && err != io.EOF {
		t.Fatal(err)
	}
	s, ok := doc.Services["strand"]
	k, ok2 := doc.Services["kinesis"]
	if !ok || !ok2 {
		t.Fatalf("services %v: want strand and kinesis", doc.Services)
	}
	for _, b := range []struct{ ctx, file string }{{s.Build.Context, s.Build.Dockerfile}, {k.Build.Context, k.Build.Dockerfile}} {
		if b.ctx != ".." {
			t.Errorf("build context %q: want the repository root (..)", b.ctx)
		}
		if _, err := os.Stat("../" + b.file); err != nil {
			t.Errorf("dockerfile %q: %v", b.file, err)
		}
	}
	if k.NetworkMode != "service:strand" || s.Environment["STRAND_KINESIS_ENDPOINT"] != "http://127.0.0.1:4567" {
		t.Errorf("the emulator (listening on 127.0.0.1:4567) is not reachable by strand: network_mode %q, endpoint %q", k.NetworkMode, s.Environment["STRAND_KINESIS_ENDPOINT"])
	}
	vars := settingVars()
	for name := range s.Environment {
		if strings.HasPrefix(name, "STRAND_") && !vars[name] {
			t.Errorf("environment %s is no setting of strand serve", name)
		}
	}
	if len(s.Healthcheck.Test) < 3 || !strings.HasSuffix(s.Healthcheck.Test[1], "strand") || s.Healthcheck.Test[2] != "health" {
		t.Errorf("strand's health check %v does not use strand health", s.Healthcheck.Test)
	}
	if len(s.Volumes) == 0 || !strings.HasSuffix(s.Volumes[0], ":/var/lib/strand") {
		t.Errorf("strand's volumes %v: want the data directory in a volume", s.Volumes)
	}
}

// unitKeys are the keys the unit may use, by section: a typo in a key is
// caught here (systemd only warns about it).
var unitKeys = map[string]map[string]bool{
	"Unit": {"Description": true, "After": true, "Wants": true, "Documentation": true, "Requires": true},
	"Service": {"Type": true, "User": true, "Group": true, "ExecStart": true, "Environment": true, "EnvironmentFile": true,
		"StateDirectory": true, "StateDirectoryMode": true, "Restart": true, "RestartSec": true, "KillSignal": true,
		"TimeoutStopSec": true, "LimitNOFILE": true, "UMask": true, "NoNewPrivileges": true, "ProtectSystem": true,
		"ProtectHome": true, "PrivateTmp": true, "PrivateDevices": true, "ProtectKernelTunables": true,
		"ProtectKernelModules": true, "ProtectControlGroups": true, "RestrictAddressFamilies": true,
		"LockPersonality": true, "SystemCallArchitectures": true, "ConfigurationDirectory": true},
	"Install": {"WantedBy": true},
}

// TestSystemdUnit: known sections and keys only, a non-root user, an
// absolute ExecStart running strand serve with the example configuration
// file's path, a restart policy, a stop timeout beyond the server's 30 s
// drain, and an install target.
func TestSystemdUnit(t *testing.T) {
	raw, err := os.ReadFile("strand.service")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]map[string]string{}
	section := ""
	for i, line := range strings.Split(string(raw), "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = strings.Trim(line, "[]")
			if unitKeys[section] == nil {
				t.Errorf("line %d: unknown section [%s]", i+1, section)
			}
			got[section] = map[string]string{}
		default:
			key, value, ok := strings.Cut(line, "=")
			if !ok || section == "" {
				t.Errorf("line %d: %q is not key=value in a section", i+1, line)
				continue
			}
			if !unitKeys[section][key] {
				t.Errorf("line %d: unknown key %s in [%s]", i+1, key, section)
			}
			got[section][key] = value
		}
	}
	svc := got["Service"]
	if got["Unit"]["Description"] == "" || got["Install"]["WantedBy"] == "" {
		t.Error("no Description or WantedBy")
	}
	if u := svc["User"]; u == "" || u == "root" {
		t.Errorf("User=%q: want a non-root user", u)
	}
	exec := strings.Fields(svc["ExecStart"])
	if len(exec) < 2 || !strings.HasPrefix(exec[0], "/") || !strings.HasSuffix(exec[0], "/strand") || exec[1] != "serve" {
		t.Errorf("ExecStart=%q: want an absolute path to strand serve", svc["ExecStart"])
	}
	if !strings.Contains(svc["ExecStart"], "--config /etc/strand/strand.yaml") {
		t.Errorf("ExecStart=%q does not read /etc/strand/strand.yaml", svc["ExecStart"])
	}
	if svc["Restart"] == "" || svc["TimeoutStopSec"] != "40s" || svc["KillSignal"] != "SIGTERM" {
		t.Errorf("Restart=%q TimeoutStopSec=%q KillSignal=%q", svc["Restart"], svc["TimeoutStopSec"], svc["KillSignal"])
	}
}

// TestExampleConfig: the example configuration file parses with strand
// serve's own parser (every key a setting, every value valid for it).
func TestExampleConfig(t *testing.T) {
	c := config.Default()
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	if err := c.Parse(fs, []string{"--config", "strand.yaml"}, func(string) string { return "" }); err != nil {
		t.Fatal(err)
	}
	if c.DataDir != "/var/lib/strand" || c.CredentialsFile == "" {
		t.Errorf("example config: data-dir %q credentials-file %q", c.DataDir, c.CredentialsFile)
	}
}
