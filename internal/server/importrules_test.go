package server_test

import (
	"bytes"
	"encoding/json"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// TestImportRules enforces the house's ownership rules on the module's
// import graph (docs: DESIGN "Rules that keep the house simple"):
//
//   - only packages under internal/store import Pebble or pgx, in code or
//     tests, so another store implementation replaces them without
//     touching the engine;
//   - journal, stream (and its packages) and audit depend on txn neither
//     directly nor transitively: txn appends through journal, and readers
//     read through journal only;
//   - engine packages (all but api, server, cmd, testenv and bench, the
//     load generator that speaks HTTP as a client) do not import net/http:
//     the engine embeds in a Go program without a server.
func TestImportRules(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list over the module")
	}
	out, err := exec.Command("go", "list", "-json=ImportPath,Imports,Deps,TestImports,XTestImports", "github.com/strand-db/strand/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	const mod = "github.com/strand-db/strand/"
	under := func(path, dir string) bool { return path == mod+dir || strings.HasPrefix(path, mod+dir+"/") }
	dec := json.NewDecoder(bytes.NewReader(out))
	n := 0
	for {
		var p struct {
			ImportPath                               string
			Imports, Deps, TestImports, XTestImports []string
		}
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		n++
		path := p.ImportPath
		if !under(path, "internal/store") {
			for _, imp := range slices.Concat(p.Imports, p.TestImports, p.XTestImports) {
				if imp == "github.com/cockroachdb/pebble" || strings.HasPrefix(imp, "github.com/cockroachdb/pebble/") {
					t.Errorf("%s imports %s: only packages under internal/store may use Pebble", path, imp)
				}
				if strings.HasPrefix(imp, "github.com/jackc/") {
					t.Errorf("%s imports %s: only packages under internal/store may use pgx", path, imp)
				}
			}
		}
		// Test-helper packages (ledgerfill builds data directories
		// through the engine) are not readers of the journal.
		reader := under(path, "internal/journal") || under(path, "internal/stream") || under(path, "internal/audit")
		if reader && !strings.HasSuffix(path, "test") && slices.Contains(p.Deps, mod+"internal/txn") {
			t.Errorf("%s depends on internal/txn: journal, stream and audit must read the log through journal only", path)
		}
		engine := !under(path, "internal/api") && !under(path, "internal/server") && !under(path, "cmd") &&
			!under(path, "internal/testenv") && !under(path, "internal/bench")
		if engine && slices.Contains(p.Imports, "net/http") {
			t.Errorf("%s imports net/http: only api, server, cmd, testenv and bench may", path)
		}
	}
	if n < 10 {
		t.Fatalf("go list found only %d packages", n)
	}
}
