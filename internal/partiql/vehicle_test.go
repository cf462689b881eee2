package partiql

import (
	"reflect"
	"strings"
	"testing"

	"github.com/strand-db/strand/internal/ionvalue"
	"github.com/strand-db/strand/internal/testenv"
)

// The AWS vehicle-registration (DMV) sample, statement by statement, as its
// Java, Python and Node.js versions run them.

const (
	samplePeople = `[
 {FirstName:"Raul",LastName:"Lewis",DOB:1963-08-19T,GovId:"LEWISR261LL",GovIdType:"Driver License",Address:"1719 University Street, Seattle, WA, 98109"},
 {FirstName:"Brent",LastName:"Logan",DOB:1967-07-03T,GovId:"LOGANB486CG",GovIdType:"Driver License",Address:"43 Stockert Hollow Road, Everett, WA, 98203"},
 {FirstName:"Alexis",LastName:"Pena",DOB:1974-02-10T,GovId:"744 849 301",GovIdType:"SSN",Address:"4058 Melrose Street, Spokane Valley, WA, 99206"}]`
	sampleVehicles = `[
 {VIN:"1N4AL11D75C109151",Type:"Sedan",Year:2011,Make:"Audi",Model:"A5",Color:"Silver"},
 {VIN:"KM8SRDHF6EU074761",Type:"Sedan",Year:2015,Make:"Tesla",Model:"Model S",Color:"Blue"},
 {VIN:"3HGGK5G53FM761765",Type:"Motorcycle",Year:2011,Make:"Ducati",Model:"Monster 1200",Color:"Yellow"}]`
)

func sampleRegistration(t testing.TB, vin, plate, personID string, ticket string) *ionvalue.Value {
	return testenv.Ion(t, `{VIN:"`+vin+`",LicensePlateNumber:"`+plate+`",State:"WA",City:"Seattle",
		PendingPenaltyTicketAmount:`+ticket+`,ValidFromDate:2017-08-21T,ValidToDate:2020-05-11T,
		Owners:{PrimaryOwner:{PersonId:"`+personID+`"},SecondaryOwners:[]}}`)
}

func TestVehicleRegistrationSample(t *testing.T) {
	tx := newMemTx()
	// create_table / create_index
	for _, s := range []string{
		"CREATE TABLE VehicleRegistration", "CREATE TABLE Vehicle", "CREATE TABLE Person", "CREATE TABLE DriversLicense",
		"CREATE INDEX ON VehicleRegistration (VIN)", "CREATE INDEX ON VehicleRegistration (LicensePlateNumber)",
		"CREATE INDEX ON Vehicle (VIN)", "CREATE INDEX ON Person (GovId)",
		"CREATE INDEX ON DriversLicense (LicenseNumber)", "CREATE INDEX ON DriversLicense (PersonId)",
	} {
		if res := exec(t, tx, s); len(res.Rows) != 1 || res.Rows[0].Get("tableId") == nil {
			t.Fatalf("%s: rows %s", s, rowsText(res.Rows))
		}
	}
	res := exec(t, tx, "SELECT VALUE name FROM information_schema.user_tables WHERE status = 'ACTIVE'")
	if got := rowsText(res.Rows); got != "\"VehicleRegistration\"\n\"Vehicle\"\n\"Person\"\n\"DriversLicense\"" {
		t.Fatalf("list_tables = %s", got)
	}

	// insert_document: people first, then documents that refer to them.
	personIDs := docIDs(exec(t, tx, "INSERT INTO Person ?", testenv.Ion(t, samplePeople)))
	if len(personIDs) != 3 {
		t.Fatalf("person ids = %v", personIDs)
	}
	exec(t, tx, "INSERT INTO Vehicle ?", testenv.Ion(t, sampleVehicles))
	regs := ionvalue.List(
		sampleRegistration(t, "1N4AL11D75C109151", "LEWISR261LL", personIDs[0], "90.25"),
		sampleRegistration(t, "KM8SRDHF6EU074761", "CA762X", personIDs[1], "130.75"),
		sampleRegistration(t, "3HGGK5G53FM761765", "CD820Z", personIDs[2], "442.30"),
	)
	if n := len(exec(t, tx, "INSERT INTO VehicleRegistration ?", regs).Rows); n != 3 {
		t.Fatalf("inserted %d registrations", n)
	}
	exec(t, tx, "INSERT INTO DriversLicense ?", testenv.Ion(t, `{PersonId:"`+personIDs[0]+`",LicenseNumber:"LEWISR261LL",LicenseType:"Learner",ValidFromDate:2016-12-20T,ValidToDate:2020-11-15T}`))

	// get_document_ids: SELECT id FROM Person AS t BY id WHERE t.GovId = ?
	tx.calls = nil
	res = exec(t, tx, "SELECT id FROM Person AS t BY id WHERE t.GovId = ?", ionvalue.String("LOGANB486CG"))
	if got := rowsText(res.Rows); got != `{id:"`+personIDs[1]+`"}` {
		t.Fatalf("document id by GovId = %s", got)
	}
	if len(res.FullScans) != 0 || len(tx.callsWith("Lookup")) != 1 {
		t.Fatalf("GovId lookup scanned: %v", tx.calls)
	}
	res = exec(t, tx, "SELECT id FROM Person AS t BY id WHERE t.GovId = 'LEWISR261LL'")
	if got := rowsText(res.Rows); got != `{id:"`+personIDs[0]+`"}` {
		t.Fatalf("document id by literal GovId = %s", got)
	}

	// add_secondary_owner
	vin := "KM8SRDHF6EU074761"
	res = exec(t, tx, "SELECT Owners.SecondaryOwners FROM VehicleRegistration AS v WHERE v.VIN = ?", ionvalue.String(vin))
	if got := rowsText(res.Rows); got != `{SecondaryOwners:[]}` {
		t.Fatalf("secondary owners = %s", got)
	}
	tx.calls = nil
	res = exec(t, tx, "FROM VehicleRegistration AS v WHERE v.VIN = '"+vin+"' INSERT INTO v.Owners.SecondaryOwners VALUE ?",
		ionvalue.Struct(ionvalue.Field{Name: "PersonId", Value: ionvalue.String(personIDs[0])}))
	if len(res.Rows) != 1 || len(res.FullScans) != 0 {
		t.Fatalf("add secondary owner: rows %s scans %v", rowsText(res.Rows), res.FullScans)
	}
	exec(t, tx, "FROM VehicleRegistration AS r WHERE r.VIN = ? INSERT INTO r.Owners.SecondaryOwners VALUE {'PersonId': ?}",
		ionvalue.String(vin), ionvalue.String(personIDs[2]))
	res = exec(t, tx, "SELECT VALUE o.PersonId FROM VehicleRegistration AS v, v.Owners.SecondaryOwners AS o WHERE v.VIN = ?", ionvalue.String(vin))
	if got := rowsText(res.Rows); got != `"`+personIDs[0]+`"`+"\n"+`"`+personIDs[2]+`"` {
		t.Fatalf("unnested secondary owners = %s", got)
	}

	// transfer_vehicle_ownership
	res = exec(t, tx, "SELECT Owners.PrimaryOwner.PersonId FROM VehicleRegistration AS v WHERE v.VIN = ?", ionvalue.String("1N4AL11D75C109151"))
	if got := rowsText(res.Rows); got != `{PersonId:"`+personIDs[0]+`"}` {
		t.Fatalf("primary owner = %s", got)
	}
	tx.calls = nil
	res = exec(t, tx, "SELECT p.* FROM Person AS p BY pid WHERE pid = ?", ionvalue.String(personIDs[0]))
	if len(res.Rows) != 1 || res.Rows[0].Get("GovId").Text != "LEWISR261LL" || len(tx.callsWith("Get")) != 1 || len(res.FullScans) != 0 {
		t.Fatalf("person by pid: rows %s calls %v", rowsText(res.Rows), tx.calls)
	}
	res = exec(t, tx, "UPDATE VehicleRegistration AS r SET r.Owners.PrimaryOwner.PersonId = ? WHERE r.VIN = ?",
		ionvalue.String(personIDs[1]), ionvalue.String("1N4AL11D75C109151"))
	if len(res.Rows) != 1 || len(res.FullScans) != 0 {
		t.Fatalf("transfer: rows %s scans %v", rowsText(res.Rows), res.FullScans)
	}

	// Joins: registrations with their primary owner's name.
	tx.calls = nil
	res = exec(t, tx, "SELECT r.VIN, p.FirstName FROM VehicleRegistration AS r, Person AS p BY pid WHERE r.Owners.PrimaryOwner.PersonId = pid")
	want := "{VIN:\"1N4AL11D75C109151\",FirstName:\"Brent\"}\n{VIN:\"KM8SRDHF6EU074761\",FirstName:\"Brent\"}\n{VIN:\"3HGGK5G53FM761765\",FirstName:\"Alexis\"}"
	if got := rowsText(res.Rows); got != want {
		t.Fatalf("join by pid:\n%s", got)
	}
	if got := tx.callsWith("Scan"); !reflect.DeepEqual(got, []string{"Scan VehicleRegistration"}) || len(tx.callsWith("Get Person")) != 3 {
		t.Fatalf("join by pid calls %v", tx.calls)
	}
	// Person documents have no id field: p.id is MISSING, so nothing joins.
	res = exec(t, tx, "SELECT r.VIN FROM VehicleRegistration AS r, Person AS p WHERE r.Owners.PrimaryOwner.PersonId = p.id")
	if len(res.Rows) != 0 {
		t.Fatalf("p.id join = %s", rowsText(res.Rows))
	}
	res = exec(t, tx, "SELECT r.VIN FROM VehicleRegistration AS r, Person AS p BY pid WHERE r.Owners.PrimaryOwner.PersonId = pid AND p.GovId = ?", ionvalue.String("744 849 301"))
	if got := rowsText(res.Rows); got != `{VIN:"3HGGK5G53FM761765"}` {
		t.Fatalf("join with GovId = %s", got)
	}

	// find_vehicles
	tx.calls = nil
	res = exec(t, tx, "SELECT Vehicle FROM Vehicle INNER JOIN VehicleRegistration AS r ON Vehicle.VIN = r.VIN WHERE r.Owners.PrimaryOwner.PersonId = ?", ionvalue.String(personIDs[1]))
	if len(res.Rows) != 2 || res.Rows[0].Get("Vehicle").Get("Make").Text != "Audi" || res.Rows[1].Get("Vehicle").Get("Make").Text != "Tesla" {
		t.Fatalf("find_vehicles = %s", rowsText(res.Rows))
	}
	if len(tx.callsWith("Lookup VehicleRegistration.VIN")) != 3 {
		t.Fatalf("find_vehicles calls %v", tx.calls)
	}
	res = exec(t, tx, "SELECT v.* FROM Vehicle AS v INNER JOIN VehicleRegistration AS r ON v.VIN = r.VIN WHERE r.Owners.PrimaryOwner.PersonId = ?", ionvalue.String(personIDs[2]))
	if got := rowsText(res.Rows); !strings.Contains(got, `Make:"Ducati"`) || len(res.Rows) != 1 {
		t.Fatalf("find_vehicles v.* = %s", got)
	}

	// register / renew / deregister a driver's license
	res = exec(t, tx, "SELECT * FROM DriversLicense AS d WHERE d.PersonId = ?", ionvalue.String(personIDs[0]))
	if len(res.Rows) != 1 {
		t.Fatalf("license by person = %s", rowsText(res.Rows))
	}
	res = exec(t, tx, "UPDATE DriversLicense AS d SET d.ValidFromDate = ?, d.ValidToDate = ? WHERE d.LicenseNumber = ?",
		testenv.Ion(t, "2019-12-01T"), testenv.Ion(t, "2024-12-01T"), ionvalue.String("LEWISR261LL"))
	if len(res.Rows) != 1 {
		t.Fatalf("renew = %s", rowsText(res.Rows))
	}
	res = exec(t, tx, "SELECT VALUE d.ValidToDate FROM DriversLicense AS d WHERE d.LicenseNumber = 'LEWISR261LL'")
	if got := rowsText(res.Rows); got != "2024-12-01" {
		t.Fatalf("renewed to %s", got)
	}
	res = exec(t, tx, "DELETE FROM DriversLicense AS d WHERE d.LicenseNumber = ?", ionvalue.String("LEWISR261LL"))
	if len(res.Rows) != 1 || len(res.FullScans) != 0 {
		t.Fatalf("deregister: rows %s scans %v", rowsText(res.Rows), res.FullScans)
	}

	// Decimals keep their exact value and compare with other numbers.
	res = exec(t, tx, "SELECT VALUE r.PendingPenaltyTicketAmount FROM VehicleRegistration AS r WHERE r.PendingPenaltyTicketAmount > 100")
	if got := rowsText(res.Rows); got != "130.75\n442.30" {
		t.Fatalf("tickets over 100 = %s", got)
	}
	res = exec(t, tx, "SELECT VALUE r.VIN FROM VehicleRegistration AS r WHERE r.PendingPenaltyTicketAmount = 442.3")
	if got := rowsText(res.Rows); got != `"3HGGK5G53FM761765"` {
		t.Fatalf("442.3 = 442.30 gave %s", got)
	}

	// scan_table
	res = exec(t, tx, "SELECT * FROM Vehicle")
	if len(res.Rows) != 3 || len(res.FullScans) != 1 {
		t.Fatalf("scan_table: %d rows, scans %v", len(res.Rows), res.FullScans)
	}
}
