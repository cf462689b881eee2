package e2e

import (
	"context"
	"testing"

	"github.com/amzn/ion-go/ion"
	"github.com/awslabs/amazon-qldb-driver-go/v3/qldbdriver"

	"github.com/strand-db/strand/internal/server/servertest"
)

var bg = context.Background()

func TestDriverSmoke(t *testing.T) {
	n := servertest.Start(t, nil)
	n.CreateLedger("smoke")
	drv := n.Driver("smoke")
	_, err := drv.Execute(bg, func(tx qldbdriver.Transaction) (any, error) {
		return tx.Execute("CREATE TABLE Person")
	})
	if err != nil {
		t.Fatal(err)
	}
	type person struct {
		Name string `ion:"Name"`
		Age  int    `ion:"Age"`
	}
	_, err = drv.Execute(bg, func(tx qldbdriver.Transaction) (any, error) {
		return tx.Execute("INSERT INTO Person ?", person{"Ann", 31})
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := drv.Execute(bg, func(tx qldbdriver.Transaction) (any, error) {
		r, err := tx.Execute("SELECT * FROM Person WHERE Name = ?", "Ann")
		if err != nil {
			return nil, err
		}
		var out []person
		for r.Next(tx) {
			var p person
			if err := ion.Unmarshal(r.GetCurrentData(), &p); err != nil {
				return nil, err
			}
			out = append(out, p)
		}
		return out, r.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	if ps := got.([]person); len(ps) != 1 || ps[0].Age != 31 {
		t.Fatalf("got %+v", ps)
	}
}
