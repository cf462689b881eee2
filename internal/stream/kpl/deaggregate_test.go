package kpl

import (
	"bytes"
	"testing"
)

// TestDeaggregateRoundTrip: the user records the Aggregator packs come back
// from Deaggregate with their partition keys and data, in order; a raw
// record comes back as itself; a damaged aggregate is an error.
func TestDeaggregateRoundTrip(t *testing.T) {
	a := newAgg(t, mustMap(t, evenShards(1)), Config{})
	var in []UserRecord
	for i := 0; i < 50; i++ {
		in = append(in, UserRecord{PartitionKey: key(i % 7), Data: bytes.Repeat([]byte{byte(i)}, i+1), Seq: uint64(i)})
	}
	var got []UserRecord
	for _, r := range run(t, a, in) {
		users, err := Deaggregate(r.Data, r.PartitionKey)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, users...)
	}
	if len(got) != len(in) {
		t.Fatalf("%d user records, want %d", len(got), len(in))
	}
	for i := range in {
		if got[i].PartitionKey != in[i].PartitionKey || !bytes.Equal(got[i].Data, in[i].Data) {
			t.Fatalf("user record %d differs", i)
		}
	}
	raw, err := Deaggregate([]byte("plain"), "pk")
	if err != nil || len(raw) != 1 || string(raw[0].Data) != "plain" || raw[0].PartitionKey != "pk" {
		t.Fatalf("raw record: %v %v", raw, err)
	}
	agg := run(t, newAgg(t, mustMap(t, evenShards(1)), Config{}), in[:3])[0].Data
	bad := append([]byte(nil), agg...)
	bad[len(bad)-1] ^= 1
	if _, err := Deaggregate(bad, "a"); err == nil {
		t.Fatal("an aggregate with a wrong MD5 deaggregated")
	}
}
