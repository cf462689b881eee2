package api

import (
	"net/http"
	"sync"

	"github.com/strand-db/strand/internal/api/sessionwire"
	"github.com/strand-db/strand/internal/qldberr"
)

// The session API's hot path: SendCommand requests and responses are
// decoded and encoded without reflection by sessionwire. Its decoder is a
// fast path only: a body it declines goes through decodeJSON. For every
// body it accepts it produces exactly what encoding/json would, so
// behaviour, including every error, is unchanged (sessionwire's FuzzParse
// and FuzzAppend check both directions against encoding/json).

// decodeSendCommand decodes a SendCommand body into in.
func decodeSendCommand(body []byte, in *sessionwire.Request) *qldberr.Error {
	var fast sessionwire.Request
	if sessionwire.Parse(body, &fast) {
		*in = fast
		return nil
	}
	return decodeJSON(body, in)
}

// respBuffers recycles response buffers.
var respBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// writeSendCommand sends out as the 200 response, encoded exactly as
// json.Marshal would encode it.
func writeSendCommand(w http.ResponseWriter, out *sessionwire.Response) {
	bp := respBuffers.Get().(*[]byte)
	b := sessionwire.Append((*bp)[:0], out)
	w.Header().Set("Content-Type", awsJSON10)
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
	if cap(b) <= 64<<10 {
		*bp = b
		respBuffers.Put(bp)
	}
}
