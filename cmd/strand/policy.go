package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/strand-db/strand/internal/api"
)

// policyCmd runs `strand policy reload`: it asks a running server to load
// its --policy-file again (POST /strand/policy/reload, signed with the
// standard AWS credential chain) and prints what changed. Exit status 0
// reloaded, 1 refused or failed (the server's policies are then
// unchanged), 2 bad usage.
func policyCmd(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "reload" {
		fmt.Fprintln(stderr, "Usage: strand policy reload --endpoint URL [--region REGION]")
		return 2
	}
	fs := flag.NewFlagSet("strand policy reload", flag.ContinueOnError)
	fs.SetOutput(stderr)
	endpoint := fs.String("endpoint", "", "URL of the running strand server, e.g. http://127.0.0.1:8410")
	region := fs.String("region", "us-east-1", "region the server answers as (the SigV4 scope)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, `Usage: strand policy reload --endpoint URL [--region REGION]

Makes a running strand server load its --policy-file again, as SIGHUP does,
and prints the principals whose policies were added, removed or changed. A
file that does not parse is refused and the policies in force stay. The
request is signed with the standard AWS credentials; the server allows the
access keys of its --backup-access-key-id and principals whose policies allow
strand:ReloadPolicies. Exit status: 0 reloaded, 1 refused or failed, 2 bad usage.

`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *endpoint == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "strand policy reload: --endpoint is required (strand policy reload -h)")
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	out, err := reloadPolicies(ctx, *endpoint, *region)
	if err != nil {
		fmt.Fprintln(stderr, "strand policy reload:", err)
		return 1
	}
	fmt.Fprintf(stdout, "policies reloaded: added [%s] removed [%s] changed [%s]\n",
		strings.Join(out.Added, ", "), strings.Join(out.Removed, ", "), strings.Join(out.Changed, ", "))
	return 0
}

type reloadAnswer struct {
	Added, Removed, Changed []string
}

// reloadPolicies sends the signed reload request.
func reloadPolicies(ctx context.Context, endpoint, region string) (reloadAnswer, error) {
	resp, err := postAdmin(ctx, endpoint, api.PolicyReloadPath, region, "policy reload")
	if err != nil {
		return reloadAnswer{}, err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var out reloadAnswer
	if err := json.Unmarshal(raw, &out); err != nil {
		return reloadAnswer{}, fmt.Errorf("unexpected answer: %.200s", raw)
	}
	return out, nil
}
