package store_test

import (
	"bytes"
	"encoding/json"
	"io"
	"os/exec"
	"strings"
	"testing"
)

// TestOnlyStoreImportsPebble enforces that the storage engine stays behind
// the store.Store interface: no package of the module outside
// internal/store imports Pebble, in its code or its tests, so another
// implementation can replace it without touching the engine.
func TestOnlyStoreImportsPebble(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list over the module")
	}
	out, err := exec.Command("go", "list", "-json=ImportPath,Imports,TestImports,XTestImports", "github.com/strand-db/strand/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	const storeTree = "github.com/strand-db/strand/internal/store"
	dec := json.NewDecoder(bytes.NewReader(out))
	n := 0
	for {
		var p struct {
			ImportPath                         string
			Imports, TestImports, XTestImports []string
		}
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		n++
		if p.ImportPath == storeTree || strings.HasPrefix(p.ImportPath, storeTree+"/") {
			continue
		}
		for _, imp := range append(append(p.Imports, p.TestImports...), p.XTestImports...) {
			if imp == "github.com/cockroachdb/pebble" || strings.HasPrefix(imp, "github.com/cockroachdb/pebble/") {
				t.Errorf("%s imports %s: only packages under internal/store may use Pebble", p.ImportPath, imp)
			}
		}
	}
	if n < 10 {
		t.Fatalf("go list found only %d packages", n)
	}
}
