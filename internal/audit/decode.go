package audit

import (
	"errors"
	"fmt"
	"sync"

	"github.com/strand-db/strand/internal/ionvalue"
)

// decoders are reusing Ion decoders: they keep their memory from one
// decode to the next.
var decoders = sync.Pool{New: func() any { return new(ionvalue.Decoder) }}

// withDecoded decodes b as ionvalue.DecodeStored does and calls fn with the value, which
// is valid only during the call: the memory of its values, lists and
// fields is reused by later decodes, so fn must not keep any of them (the
// strings and byte slices in it stay valid). It returns fn's error, or the
// decoding error wrapping errNotIon.
func withDecoded(b []byte, fn func(*ionvalue.Value) error) error {
	d := decoders.Get().(*ionvalue.Decoder)
	defer decoders.Put(d)
	v, err := d.Decode(b)
	if err != nil {
		return fmt.Errorf("%w: %w", errNotIon, err)
	}
	return fn(v)
}

// errNotIon is wrapped by the errors of stored values that do not decode.
var errNotIon = errors.New("the stored value is not readable Ion")
