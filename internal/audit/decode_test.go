package audit

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/amzn/ion-go/ion"

	"github.com/strand-db/strand/internal/ionvalue"
	"github.com/strand-db/strand/internal/store"
	pebblestore "github.com/strand-db/strand/internal/store/pebble"
	"github.com/strand-db/strand/internal/testenv/ledgerfill"
)

// TestDecodeStoredData checks that every value Strand stores for a ledger
// (blocks, history and latest revisions) decodes to the same value through
// the pooled ionvalue.Decoder as through the ion-go based reader, and on the
// binary decoder's path: with a fraction of the reader's allocations.
func TestDecodeStoredData(t *testing.T) {
	dir := t.TempDir()
	if err := ledgerfill.Build(dir, "fast", 300, ledgerfill.Options{Sessions: 4}); err != nil {
		t.Fatal(err)
	}
	st, err := pebblestore.Open(dir, pebblestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	counts := map[byte]int{}
	err = store.Scan(st, []byte("l/"), []byte("l0"), func(k, v []byte) bool {
		i := bytes.IndexByte(k[2:], '/') + 3
		switch kind := k[i]; kind {
		case 'b', 'h', 'd':
			ref, err := decodeIonGo(v)
			if err != nil {
				t.Fatal(err)
			}
			var got *ionvalue.Value
			if err := withDecoded(v, func(d *ionvalue.Value) error {
				if !ionvalue.Equal(d, ref) || d.String() != ref.String() {
					t.Fatalf("stored %c/ value decodes differently:\n got %s\nwant %s", kind, d, ref)
				}
				got = d
				return nil
			}); err != nil || got == nil {
				t.Fatalf("stored %c/ value: %v", kind, err)
			}
			if counts[kind] < 5 {
				fast := testing.AllocsPerRun(2, func() { _ = withDecoded(v, func(*ionvalue.Value) error { return nil }) })
				slow := testing.AllocsPerRun(2, func() { _, _ = decodeIonGo(v) })
				if fast*4 > slow {
					t.Fatalf("stored %c/ value: %v allocations, the ion-go reader %v: not on the binary path", kind, fast, slow)
				}
			}
			counts[kind]++
		}
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	if counts['b'] < 300 || counts['h'] < 200 || counts['d'] < 100 {
		t.Errorf("checked %v", counts)
	}
}

// decodeIonGo decodes the one value of b with ion-go's reader (ionvalue.Read),
// the reference the pooled decoder is compared with.
func decodeIonGo(b []byte) (*ionvalue.Value, error) {
	r := ion.NewReaderBytes(b)
	if !r.Next() {
		return nil, fmt.Errorf("no value: %v", r.Err())
	}
	return ionvalue.Read(r)
}
