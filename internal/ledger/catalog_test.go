package ledger

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/strand-db/strand/internal/qldberr"
	"github.com/strand-db/strand/internal/store"
	"github.com/strand-db/strand/internal/store/memstore"
)

var t0 = time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)

func openCatalog(t *testing.T, st store.Store, shared bool, max int) *Catalog {
	t.Helper()
	c, err := Open(st, Options{Region: "us-east-1", AccountID: "123456789012", MaxLedgers: max, Shared: shared})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func errType(err error) string {
	if e := qldberr.As(err); e != nil {
		return e.Type
	}
	if err != nil {
		return "untyped: " + err.Error()
	}
	return ""
}

func create(c *Catalog, name string, protect bool) (Entry, error) {
	return c.Create(CreateInput{Name: name, PermissionsMode: PermissionsStandard, DeletionProtection: &protect}, t0)
}

// The catalogue's lifecycle rules, as QLDB applies them, and persistence
// across a reopen.
func TestCatalogLifecycle(t *testing.T) {
	st := memstore.New("")
	c := openCatalog(t, st, false, 3)
	e, err := create(c, "cars", true)
	if err != nil {
		t.Fatal(err)
	}
	if e.State != StateActive || e.ARN != "arn:aws:qldb:us-east-1:123456789012:ledger/cars" || !e.DeletionProtection || e.KmsKeyARN != AWSOwnedKey {
		t.Fatalf("created %+v", e)
	}
	if _, err := create(c, "cars", false); errType(err) != qldberr.ResourceAlreadyExists {
		t.Fatalf("duplicate name: %v", err)
	}
	for _, bad := range []string{"", "-x", "x-", "a--b", "123", "has space", "this-name-is-far-too-long-for-qldb-names"} {
		if _, err := create(c, bad, false); errType(err) != qldberr.InvalidParameter {
			t.Errorf("name %q: %v, want InvalidParameterException", bad, err)
		}
	}
	if _, err := c.Create(CreateInput{Name: "x"}, t0); errType(err) != qldberr.InvalidParameter {
		t.Fatalf("no permissions mode: %v", err)
	}
	if err := c.Delete("cars"); errType(err) != qldberr.PreconditionNotMet {
		t.Fatalf("delete with protection: %v", err)
	}
	off := false
	if _, err := c.Update("cars", &off, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := create(c, "boats", false); err != nil {
		t.Fatal(err)
	}
	if _, err := create(c, "planes", false); err != nil {
		t.Fatal(err)
	}
	if _, err := create(c, "trains", false); errType(err) != qldberr.LimitExceeded {
		t.Fatalf("fourth ledger over a quota of 3: %v", err)
	}

	// Paging in name order.
	page, next, err := c.List(2, "")
	if err != nil || len(page) != 2 || page[0].Name != "boats" || page[1].Name != "cars" || next == "" {
		t.Fatalf("first page %v next %q err %v", page, next, err)
	}
	page, next, err = c.List(2, next)
	if err != nil || len(page) != 1 || page[0].Name != "planes" || next != "" {
		t.Fatalf("second page %v next %q err %v", page, next, err)
	}
	if _, _, err := c.List(2, "not-a-token"); errType(err) != qldberr.InvalidParameter {
		t.Fatalf("bad token: %v", err)
	}

	// Reopened, the catalogue is the same.
	c2 := openCatalog(t, st, false, 3)
	got, err := c2.Describe("cars")
	if err != nil || got.DeletionProtection || got.ID != e.ID {
		t.Fatalf("after reopen: %+v %v", got, err)
	}
	if err := c2.Delete("cars"); err != nil {
		t.Fatal(err)
	}
	if _, err := c2.Describe("cars"); errType(err) != qldberr.ResourceNotFound {
		t.Fatalf("deleted ledger: %v", err)
	}
	// The name is free again, with a new id.
	again, err := create(c2, "cars", false)
	if err != nil || again.ID == e.ID {
		t.Fatalf("re-created: %+v %v (old id %s)", again, err, e.ID)
	}
}

// On a shared store, two catalogues (two nodes) see each other's changes at
// once, and concurrent changes of one ledger through both never lose one:
// every tag added through either node is there at the end, and of two
// concurrent creates of one name exactly one wins.
func TestSharedCatalogTwoNodes(t *testing.T) {
	st := memstore.New("")
	a, b := openCatalog(t, st, true, 100), openCatalog(t, st, true, 100)
	if _, err := create(a, "shared", false); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Describe("shared"); err != nil {
		t.Fatalf("node b does not see a ledger created on node a: %v", err)
	}
	const raw = "arn:aws:qldb:us-east-1:123456789012:ledger/shared"
	arn, err := ParseARN(raw)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		c := a
		if i%2 == 1 {
			c = b
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			v := "v"
			if err := c.Tag(arn, raw, map[string]*string{fmt.Sprintf("k%d", i): &v}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	tags, err := a.Tags(arn, raw)
	if err != nil || len(tags) != 20 {
		t.Fatalf("after 20 concurrent tags through two nodes: %d tags, %v", len(tags), err)
	}

	wins := make(chan error, 2)
	for _, c := range []*Catalog{a, b} {
		go func() { _, err := create(c, "race", false); wins <- err }()
	}
	e1, e2 := <-wins, <-wins
	if (e1 == nil) == (e2 == nil) {
		t.Fatalf("two concurrent creates of one name: %v and %v; want exactly one success", e1, e2)
	}
	if err := b.Delete("shared"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Describe("shared"); errType(err) != qldberr.ResourceNotFound {
		t.Fatalf("node a still sees a ledger deleted on node b: %v", err)
	}
}
