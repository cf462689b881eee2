package e2e

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/qldbsession/types"

	"github.com/strand-db/strand/internal/ionvalue"
	"github.com/strand-db/strand/internal/partiql/partiqltest"
	"github.com/strand-db/strand/internal/server/servertest"
)

// TestConformanceDriver runs the PartiQL conformance table
// (internal/partiql/testdata/conformance, see package partiqltest) through
// the official QLDB Go driver against a real node: every statement in its
// own driver transaction, each file on its own ledger (files in parallel). Results are compared
// as bags; statement errors by their BadRequestException Code and Message.
func TestConformanceDriver(t *testing.T) {
	files, err := partiqltest.Files(filepath.Join("..", "partiql", "testdata", "conformance"))
	if err != nil {
		t.Fatal(err)
	}
	n := servertest.Start(t, nil)
	var total atomic.Int64
	t.Cleanup(func() { t.Logf("%d conformance statements through the driver", total.Load()) })
	for i, path := range files {
		cases, err := partiqltest.Read(path)
		if err != nil {
			t.Fatal(err)
		}
		ledger := fmt.Sprintf("conformance-%d", i)
		n.CreateLedger(ledger)
		drv := n.Driver(ledger)
		t.Run(filepath.Base(path), func(t *testing.T) {
			t.Parallel() // each file has its own ledger
			tables := map[string]bool{}
			for _, c := range cases {
				if c.Seed != "" {
					if !tables[c.Seed] {
						servertest.MustQuery(t, drv, "CREATE TABLE "+c.Seed)
						tables[c.Seed] = true
					}
					docs := make([]string, len(c.Docs))
					for i, d := range c.Docs {
						docs[i] = "`" + ionvalue.MarshalText(d) + "`"
					}
					servertest.MustQuery(t, drv, "INSERT INTO "+c.Seed+" << "+strings.Join(docs, ", ")+" >>")
					continue
				}
				total.Add(1)
				rows, err := servertest.Query(drv, c.Stmt)
				var code, msg string
				var bre *types.BadRequestException
				if errors.As(err, &bre) {
					code, msg, err = aws.ToString(bre.Code), bre.ErrorMessage(), nil
				}
				if d := partiqltest.Check(c, rows, code, msg, err); d != "" {
					t.Error(d)
				}
			}
		})
	}
}
