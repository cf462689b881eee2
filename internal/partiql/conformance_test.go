package partiql

import (
	"errors"
	"path/filepath"
	"testing"

	"github.com/strand-db/strand/internal/ionvalue"
	"github.com/strand-db/strand/internal/partiql/partiqltest"
)

// TestConformance runs the conformance table (testdata/conformance, see
// package partiqltest) against the evaluator over an in-memory ledger, one
// fresh ledger per file. internal/e2e runs the same table through the QLDB
// Go driver against a real node.
func TestConformance(t *testing.T) {
	files, err := partiqltest.Files(filepath.Join("testdata", "conformance"))
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, path := range files {
		cases, err := partiqltest.Read(path)
		if err != nil {
			t.Fatal(err)
		}
		t.Run(filepath.Base(path), func(t *testing.T) {
			tx := newMemTx()
			for _, c := range cases {
				if c.Seed != "" {
					if _, ok := tx.Table(c.Seed); !ok {
						if _, err := tryExec(tx, "CREATE TABLE "+c.Seed); err != nil {
							t.Fatalf("%s: %v", c.Pos, err)
						}
					}
					for _, d := range c.Docs {
						if _, err := tryExec(tx, "INSERT INTO "+c.Seed+" ?", d); err != nil {
							t.Fatalf("%s: %v", c.Pos, err)
						}
					}
					continue
				}
				total++
				res, err := tryExec(tx, c.Stmt)
				var code, msg string
				var pe *Error
				if errors.As(err, &pe) {
					code, msg, err = pe.Code, pe.Message, nil
				}
				var rows []*ionvalue.Value
				if res != nil {
					rows = res.Rows
				}
				if d := partiqltest.Check(c, rows, code, msg, err); d != "" {
					t.Error(d)
				}
			}
		})
	}
	t.Logf("%d conformance cases", total)
}
