package config

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"

	"gopkg.in/yaml.v3"
)

// This file reads the configuration file of --config (or STRAND_CONFIG):
// a YAML mapping whose keys are the names of strand serve's flags, without
// the dashes in front (listen, data-dir, max-ledgers, ...), and whose
// values are what the flag would take (durations as strings: "5s"). The
// keys are the flag set's own names, so the file cannot drift from the
// flags; an unknown key is an error. Precedence, highest first: a flag on
// the command line, its STRAND_* variable, the file, the default.

// ConfigFlag names the flag (and, through EnvName, the variable
// STRAND_CONFIG) that names the configuration file.
const ConfigFlag = "config"

// configPath returns the configuration file args or the environment name
// ("" for none): --config on the command line wins over STRAND_CONFIG.
func configPath(args []string, getenv func(string) string) string {
	scratch := flag.NewFlagSet("scan", flag.ContinueOnError)
	scratch.SetOutput(io.Discard)
	c := Default()
	c.RegisterFlags(scratch)
	_ = scratch.Parse(args) // errors are reported by the real parse
	if c.ConfigFile != "" {
		return c.ConfigFile
	}
	return getenv(EnvName(ConfigFlag))
}

// loadFile sets the flags of fs from the configuration file at path. Every
// error names the file, and the key when one is at fault.
func loadFile(fs *flag.FlagSet, path string) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config: --config: %w", err)
	}
	var doc map[string]any
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&doc); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("config: %s: %w", path, err)
	}
	keys := make([]string, 0, len(doc))
	for k := range doc {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		f := fs.Lookup(k)
		if f == nil || k == ConfigFlag {
			return fmt.Errorf("config: %s: unknown key %q (the keys are the flag names of strand serve --help, such as data-dir)", path, k)
		}
		v, err := scalar(doc[k])
		if err != nil {
			return fmt.Errorf("config: %s: key %q: %w", path, k, err)
		}
		if err := fs.Set(k, v); err != nil {
			return fmt.Errorf("config: %s: key %q: %q: %w", path, k, v, err)
		}
	}
	return nil
}

// scalar renders a YAML scalar as the flag text it stands for.
func scalar(v any) (string, error) {
	switch v := v.(type) {
	case string:
		return v, nil
	case bool, int, int64, uint64:
		return fmt.Sprint(v), nil
	case float64:
		return fmt.Sprint(v), nil
	case nil:
		return "", errors.New("no value (write \"\" for an empty one)")
	}
	return "", fmt.Errorf("want a single value, got a %T", v)
}

// PrintSettings writes every setting of fs: the flag, its default, its
// STRAND_* variable and its configuration-file key, then the precedence.
func PrintSettings(w io.Writer, fs *flag.FlagSet) {
	fs.VisitAll(func(f *flag.Flag) {
		name, usage := flag.UnquoteUsage(f)
		if name == "" {
			name = "bool"
		}
		def := f.DefValue
		if def == "" {
			def = "none"
		}
		fileKey := f.Name
		if f.Name == ConfigFlag {
			fileKey = "(none)"
		}
		fmt.Fprintf(w, "  --%s %s\n      %s\n      default: %s; env: %s; file key: %s\n", f.Name, name, usage, def, EnvName(f.Name), fileKey)
	})
	fmt.Fprintln(w, "\nPrecedence, highest first: a flag on the command line, its STRAND_* variable,")
	fmt.Fprintln(w, "the configuration file (--config or STRAND_CONFIG; YAML, keys as above), the default.")
}
