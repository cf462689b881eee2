package export

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/strand-db/strand/internal/ionvalue"
	pebblestore "github.com/strand-db/strand/internal/store/pebble"
)

// TestAppendJSON pins the Ion cookbook's down-conversion used by JSON
// exports: decimals keep their digits, floats lose nan and infinities,
// timestamps and symbols become strings, blobs base64, clobs escaped
// strings, annotations go.
func TestAppendJSON(t *testing.T) {
	for _, tc := range []struct{ ion, json string }{
		{`12.50`, `12.50`},
		{`-0.0010`, `-0.0010`},
		{`1d3`, `1e3`},
		{`-0d0`, `-0`},
		{`123456789012345678901234567890`, `123456789012345678901234567890`},
		{`2.5e0`, `2.5`},
		{`nan`, `null`},
		{`+inf`, `null`},
		{`null.int`, `null`},
		{`2020-01-02T03:04:05.678Z`, `"2020-01-02T03:04:05.678Z"`},
		{`2017-08-21`, `"2017-08-21"`},
		{`sym`, `"sym"`},
		{`{{aGVsbG8=}}`, `"aGVsbG8="`},
		{`{{"a\"\x01"}}`, `"a\"\u0001"`},
		{`ann::{a:1, 'b c':[true, (x 1)]}`, `{"a":1,"b c":[true,["x",1]]}`},
		{`"tab\tnew\nline\u0007"`, `"tab\tnew\nline\u0007"`},
	} {
		v, err := ionvalue.DecodeOne([]byte(tc.ion))
		if err != nil {
			t.Fatalf("%s: %v", tc.ion, err)
		}
		got := string(AppendJSON(nil, v))
		if got != tc.json {
			t.Errorf("%s: got %s, want %s", tc.ion, got, tc.json)
		}
		if !json.Valid([]byte(got)) {
			t.Errorf("%s: %s is not valid JSON", tc.ion, got)
		}
	}
}

// TestExpiry checks QLDB's 7-day rule: finished jobs stay listed for the
// retention period after they ended and are then forgotten, in memory and
// in the store; a job in progress never expires.
func TestExpiry(t *testing.T) {
	st, err := pebblestore.Open(t.TempDir(), pebblestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Date(2026, 1, 10, 0, 0, 0, 0, time.UTC)
	m := &Manager{opts: Options{Store: st, Now: func() time.Time { return now }}, jobs: map[string]*running{}}
	m.opts.setDefaults()
	ended := func(d time.Duration) *time.Time { t := now.Add(-d); return &t }
	for id, j := range map[string]Job{
		"old":     {Status: StatusCompleted, EndedAt: ended(7*24*time.Hour + time.Second)},
		"recent":  {Status: StatusCancelled, EndedAt: ended(7*24*time.Hour - time.Second)},
		"running": {Status: StatusInProgress, Created: now.Add(-30 * 24 * time.Hour)},
	} {
		j.ID = id
		m.jobs[id] = &running{job: j}
		if err := m.persist(id); err != nil {
			t.Fatal(err)
		}
	}
	m.expire(now)
	for id, want := range map[string]bool{"old": false, "recent": true, "running": true} {
		_, inMemory := m.jobs[id]
		_, stored, err := st.Get(jobKey(id))
		if err != nil {
			t.Fatal(err)
		}
		if inMemory != want || stored != want {
			t.Errorf("job %s: listed %v, stored %v, want %v", id, inMemory, stored, want)
		}
	}
}
