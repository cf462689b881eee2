package qldbhash

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/strand-db/strand/internal/ionvalue"
	"github.com/strand-db/strand/internal/testenv"
)

// benchDocText is the ~1 KB document of benchDoc, as Ion text.
var benchDocText = func() string {
	var sb strings.Builder
	sb.WriteString(`{VIN:"1N4AL11D75C109151",LicensePlateNumber:"LEWISR261LL",State:"WA",City:"Everett",` +
		`PendingPenaltyTicketAmount:90.25,ValidFromDate:2017-08-21,ValidToDate:2020-05-11,` +
		`Owners:{PrimaryOwner:{PersonId:"BFJKdXhnLRT27sXBnojNGW"},SecondaryOwners:[`)
	for i := 0; i < 12; i++ {
		if i > 0 {
			sb.WriteString(",")
		}
		fmt.Fprintf(&sb, `{PersonId:"CMVdR77XP8zAglmmFDGT%02d",Since:2019-09-16T19:37:05.344Z,Share:%d}`, i, i)
	}
	sb.WriteString(`]},Notes:"` + strings.Repeat("x", 200) + `"}`)
	return sb.String()
}()

// benchMetadata is a revision metadata struct {id, version, txTime, txId}.
func benchMetadata() *ionvalue.Value {
	return ionvalue.Struct(
		field("id", ionvalue.String("JUJgkIcNbhS2goq8RqLuZ4")),
		field("version", ionvalue.Int(3)),
		field("txTime", ionvalue.TimeMillis(time.Date(2019, 9, 16, 19, 37, 5, 344000000, time.UTC))),
		field("txId", ionvalue.String("FnQeJBAicTX0Ah32ZnVtSX")),
	)
}

// benchTxInfo is a transactionInfo struct with three statements touching
// four documents.
func benchTxInfo() *ionvalue.Value {
	var stmts []*ionvalue.Value
	for i := range 3 {
		stmts = append(stmts, ionvalue.Struct(
			field("statement", ionvalue.String(fmt.Sprintf("UPDATE VehicleRegistration AS r SET r.Owners.PrimaryOwner.PersonId = ? WHERE r.VIN = '1N4AL11D75C10915%d'", i))),
			field("startTime", ionvalue.TimeMillis(time.Date(2019, 9, 16, 19, 37, 5, int(302+i)*1e6, time.UTC))),
			field("statementDigest", ionvalue.Blob(HashString(fmt.Sprint("digest", i)))),
		))
	}
	var docs []ionvalue.Field
	for i := range 4 {
		docs = append(docs, field(fmt.Sprintf("JUJgkIcNbhS2goq8RqLu%02d", i), ionvalue.Struct(
			field("tableName", ionvalue.String("VehicleRegistration")),
			field("tableId", ionvalue.String("BFJKdXgzt9oF4wjMbuxy4G")),
			field("statements", ionvalue.List(ionvalue.Int(int64(i%3)))),
		)))
	}
	return ionvalue.Struct(field("statements", ionvalue.List(stmts...)), field("documents", ionvalue.Struct(docs...)))
}

// BenchmarkHashPaths compares the fast path with the ion-hash-go reference on
// the values a commit hashes.
func BenchmarkHashPaths(b *testing.B) {
	long := strings.Repeat("SELECT * FROM t WHERE a = ? ", 100000/28+1)[:100000]
	values := []struct {
		name string
		v    *ionvalue.Value
	}{
		{"doc1KB", testenv.Ion(b, benchDocText)},
		{"metadata", benchMetadata()},
		{"txInfo", benchTxInfo()},
		{"string100k", ionvalue.String(long)},
	}
	for _, c := range values {
		bin, err := ionvalue.MarshalBinary(c.v)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(c.name+"/fast", func(b *testing.B) {
			b.SetBytes(int64(len(bin)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := HashValue(c.v); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(c.name+"/reference", func(b *testing.B) {
			b.SetBytes(int64(len(bin)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := hashReference(c.v); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("string100k/HashString", func(b *testing.B) {
		b.SetBytes(int64(len(long)))
		b.ReportAllocs()
		for b.Loop() {
			HashString(long)
		}
	})
}

// BenchmarkHashIonPaths compares HashIon (ionvalue decode + fast path) with
// ion-hash-go's HashReader on driver-style binary parameters.
func BenchmarkHashIonPaths(b *testing.B) {
	for _, c := range []struct {
		name string
		v    *ionvalue.Value
	}{
		{"doc1KB", testenv.Ion(b, benchDocText)},
		{"string", ionvalue.String("TOYENC486FH")},
	} {
		bin, err := ionvalue.MarshalBinary(c.v)
		if err != nil {
			b.Fatal(err)
		}
		for _, p := range []struct {
			name string
			f    func([]byte) ([]byte, error)
		}{{"fast", HashIon}, {"reference", hashIonReference}} {
			b.Run(c.name+"/"+p.name, func(b *testing.B) {
				b.SetBytes(int64(len(bin)))
				b.ReportAllocs()
				for b.Loop() {
					if _, err := p.f(bin); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkStatementHash is the per-statement hash with two parameters.
func BenchmarkStatementHash(b *testing.B) {
	params := []*ionvalue.Value{ionvalue.String("TOYENC486FH"), ionvalue.Int(42)}
	b.ReportAllocs()
	for b.Loop() {
		StatementHash("SELECT * FROM Person WHERE GovId = ? AND n = ?", params)
	}
}
