package main

import (
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"
)

// healthCmd runs `strand health`: it asks a running server's /health (or,
// with --ready, /ready) and prints the answer. Exit status 0 when the
// server answered 200, 1 otherwise (not ready, unreachable), 2 for bad
// usage. It needs nothing but the binary, so container images without
// curl can use it as their health check.
func healthCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("strand health", flag.ContinueOnError)
	fs.SetOutput(stderr)
	def := "http://127.0.0.1:8410"
	if v := os.Getenv("STRAND_HEALTH_ENDPOINT"); v != "" {
		def = v
	}
	endpoint := fs.String("endpoint", def, "URL of the running strand server (or STRAND_HEALTH_ENDPOINT)")
	ready := fs.Bool("ready", false, "ask /ready (store open and accepting writes, ledgers healthy) instead of /health (the process serves)")
	insecure := fs.Bool("insecure", false, "with https, do not verify the server's certificate (a self-signed one on loopback)")
	timeout := fs.Duration("timeout", 5*time.Second, "give up after this long")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintln(stderr, "strand health: unexpected arguments (strand health -h)")
		return 2
	}
	path := "/health"
	if *ready {
		path = "/ready"
	}
	client := &http.Client{Timeout: *timeout}
	if *insecure {
		client.Transport = &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}} //nolint:gosec // asked for
	}
	resp, err := client.Get(strings.TrimSuffix(*endpoint, "/") + path)
	if err != nil {
		fmt.Fprintln(stderr, "strand health:", err)
		return 1
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	fmt.Fprint(stdout, string(body))
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintf(stderr, "strand health: %s%s answered %s\n", *endpoint, path, resp.Status)
		return 1
	}
	return 0
}
