package partiql

import (
	"errors"
	"strings"
	"testing"

	"github.com/strand-db/strand/internal/ionvalue"
	"github.com/strand-db/strand/internal/testenv"
)

var fuzzSeeds = []string{
	"SELECT * FROM T",
	"SELECT VALUE Name FROM T WHERE Name = ?",
	"SELECT COUNT(*) FROM T AS t WHERE t.n IN (1, 2.5, 1e0) AND t.s LIKE 'a%' ESCAPE '!'",
	"SELECT t.a.b[0]['c'], t.* FROM T AS t AT i BY id, t.l AS x WHERE id = 'x' OR NOT x IS MISSING",
	"SELECT VALUE indexes[0] FROM information_schema.user_tables WHERE status = 'ACTIVE'",
	"SELECT h.data FROM history(T, `2019-01-01T`, `2030-01-01T`) AS h WHERE h.metadata.id = ?",
	"SELECT * FROM _ql_committed_T AS c WHERE c.data.Name BETWEEN 'a' AND 'z'",
	"SELECT VALUE (SELECT VALUE u.n FROM T AS u) FROM T AS t",
	"INSERT INTO T VALUE {'Name': 'x', 'n': -90.25, 'l': [1, <<2>>, `{a:1}`]}",
	"INSERT INTO T << ?, {'k': null}, {'m': missing} >>",
	"UPDATE T AS t BY id SET t.a.b = t.n * 2 + 1, t.c = 'x' || t.Name WHERE id = ?",
	"UPDATE T REMOVE T.n",
	"DELETE FROM T AS t WHERE t.n >= 1",
	"FROM T AS t WHERE t.Name = 'a' INSERT INTO t.l VALUE 5 AT 0",
	"FROM T AS t REMOVE t",
	"CREATE TABLE X", "DROP TABLE T", `UNDROP TABLE "tbl001"`, "CREATE INDEX ON T (Name)",
	`DROP INDEX "idx" ON T WITH (purge = true)`,
	"SELECT * FROM T -- c\n/* d */ WHERE \"Name\" <> 'it''s'",
	// Type predicates, CAST, EXISTS and the functions with keyword syntax.
	"SELECT VALUE [n IS INT, n IS NOT NULL, l IS LIST, <<1>> IS BAG, s IS double precision] FROM T",
	"SELECT CAST(n AS STRING), CAST('12' AS INT), CAST(null AS MISSING), CAST(l AS BAG) FROM T",
	"SELECT VALUE EXISTS(SELECT * FROM T AS u WHERE u.n > 1) FROM << 0 >>",
	"SELECT SUBSTRING(Name, 2, 3), SUBSTRING(s FROM 1 FOR 2), TRIM(BOTH 'x' FROM s), TRIM(LEADING FROM s) FROM T",
	"SELECT DATE_ADD(month, 13, `2010T`), DATE_DIFF(day, `2010T`, UTCNOW()), EXTRACT(TIMEZONE_HOUR FROM `2017-01-02T03:04:05+07:08`) FROM << 0 >>",
	"SELECT TO_STRING(`1969-07-20T20:18Z`, 'MMMM d, y h:m a XXX''T''SSS'), TO_TIMESTAMP('Feb 2016', 'MMM yyyy'), TO_TIMESTAMP('2007T') FROM << 0 >>",
	"SELECT x, i FROM `[1, {a:2}]` AS x AT i, << 1, 2 >> AS y WHERE CHARACTER_LENGTH(CAST(x AS STRING)) > 0",
	"SELECT * FROM T ORDER BY n LIMIT 1 OFFSET 2",
}

// FuzzParse checks that Parse never panics, that every error is an *Error
// with a position, and that parsed statements can be dumped.
func FuzzParse(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		st, err := Parse(text)
		if err != nil {
			var pe *Error
			if !errors.As(err, &pe) || pe.Code == "" || pe.Message == "" || pe.Line < 1 || pe.Col < 1 {
				t.Fatalf("Parse(%q) error %#v is not a positioned *Error", text, err)
			}
			return
		}
		_ = Dump(st)
		_ = st.Kind()
	})
}

// FuzzExecute runs whatever parses against a small in-memory ledger and
// checks that Execute never panics (it would report an internal error) and
// that every error it returns is a *Error with a code and a message.
func FuzzExecute(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		st, err := Parse(text)
		if err != nil {
			return
		}
		// Keep the work per input small: nested loops multiply.
		up := strings.ToUpper(text)
		if len(text) > 400 || strings.Count(up, "FROM")+strings.Count(up, "JOIN")+strings.Count(text, ",") > 6 {
			return
		}
		tx := newMemTx()
		seed(t, tx, "T", `{Name:"a",n:1,l:[1,2],a:{b:[{c:1}]}}`, `{Name:"b",n:2.5,s:"abc"}`, `{Name:null}`)
		tx.history["tbl001"] = []*ionvalue.Value{testenv.Ion(t, `{data:{Name:"a"},metadata:{id:"doc002",version:0}}`)}
		params := make([]*ionvalue.Value, st.NumParams)
		for i := range params {
			params[i] = []*ionvalue.Value{ionvalue.String("a"), testenv.Ion(t, "[1,{Name:\"p\"}]"), ionvalue.Int(1), testenv.Ion(t, "{Name:\"q\"}")}[i%4]
		}
		_, err = Execute(tx, st, params)
		if err != nil && strings.Contains(err.Error(), "internal error") {
			t.Fatalf("Execute(%q): %v", text, err)
		}
		// Every refusal is a statement error the client can read (the
		// session API sends it as BadRequestException with its Code).
		var pe *Error
		if err != nil && (!errors.As(err, &pe) || pe.Code == "" || pe.Message == "") {
			t.Fatalf("Execute(%q) error %v (%T) is not a *Error with a code", text, err, err)
		}
	})
}
