package server_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/strand-db/strand/internal/config"
	"github.com/strand-db/strand/internal/server/servertest"
)

// TestPprofOnlyWhenAsked: the metrics listener serves Go's runtime profiles
// with --pprof, and not without it.
func TestPprofOnlyWhenAsked(t *testing.T) {
	for _, on := range []bool{false, true} {
		n := servertest.Start(t, func(c *config.Config) {
			c.MetricsListen, c.Pprof = "127.0.0.1:0", on
		})
		base := strings.TrimSuffix(n.MetricsURL(), "/metrics")
		resp, err := http.Get(base + "/debug/pprof/goroutine?debug=1")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		served := resp.StatusCode == 200 && strings.Contains(string(body), "goroutine profile")
		if served != on {
			t.Errorf("--pprof=%v: /debug/pprof/goroutine answered %d (%d bytes)", on, resp.StatusCode, len(body))
		}
		n.Stop()
	}
}
