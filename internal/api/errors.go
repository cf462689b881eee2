package api

import (
	"encoding/json"
	"net/http"

	"github.com/strand-db/strand/internal/api/sigv4"
	"github.com/strand-db/strand/internal/qldberr"
)

// Errors of the HTTP front itself (routing, decoding, limits).
const (
	errUnknownOperation = "UnknownOperationException"
	errMethodNotAllowed = "MethodNotAllowedException"
	errSerialization    = "SerializationException"
	errUnsupportedMedia = "UnsupportedMediaTypeException"
	errTooLarge         = "RequestEntityTooLargeException"
)

// statusOf is the HTTP status QLDB (or the AWS front end) used for each
// error type; types not listed are client errors (400).
var statusOf = map[string]int{
	qldberr.ResourceNotFound:      http.StatusNotFound,
	qldberr.ResourceAlreadyExists: http.StatusConflict,
	qldberr.ResourceInUse:         http.StatusConflict,
	qldberr.PreconditionNotMet:    http.StatusPreconditionFailed,
	qldberr.CapacityExceeded:      http.StatusServiceUnavailable,
	qldberr.InternalFailure:       http.StatusInternalServerError,
	sigv4.ErrMissingToken:         http.StatusForbidden,
	errAccessDenied:               http.StatusForbidden,
	sigv4.ErrUnrecognizedClient:   http.StatusForbidden,
	sigv4.ErrInvalidSignature:     http.StatusForbidden,
	errUnknownOperation:           http.StatusNotFound,
	errMethodNotAllowed:           http.StatusMethodNotAllowed,
	errUnsupportedMedia:           http.StatusUnsupportedMediaType,
	errTooLarge:                   http.StatusRequestEntityTooLarge,
	errThrottling:                 http.StatusServiceUnavailable,
	errRequestTimeout:             http.StatusRequestTimeout,
}

// errorBody is the JSON error document: __type names the exception, Message
// (capital M, as the QLDB drivers read it) explains it, and the modelled
// members follow when set.
type errorBody struct {
	Type          string `json:"__type"`
	Message       string `json:"Message"`
	Code          string `json:"Code,omitempty"`
	ResourceType  string `json:"ResourceType,omitempty"`
	ResourceName  string `json:"ResourceName,omitempty"`
	ParameterName string `json:"ParameterName,omitempty"`
}

// writeError sends e with its status, the X-Amzn-ErrorType header and the
// JSON body. contentType is the protocol's media type.
func writeError(w http.ResponseWriter, contentType string, e *qldberr.Error) {
	writeErrorTyped(w, contentType, e, e.Type)
}

// maxMessageBytes bounds an error's Message on the wire. The engines clip
// each echoed input (qldberr.Clip); this catches messages built otherwise,
// such as PartiQL errors quoting a statement.
const maxMessageBytes = qldberr.MaxRelayed

// writeErrorTyped is writeError with the body's __type given explicitly.
func writeErrorTyped(w http.ResponseWriter, contentType string, e *qldberr.Error, bodyType string) {
	status, ok := statusOf[e.Type]
	if !ok {
		status = http.StatusBadRequest
	}
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("X-Amzn-ErrorType", e.Type)
	w.WriteHeader(status)
	b, _ := json.Marshal(errorBody{
		Type: bodyType, Message: qldberr.ClipTo(e.Message, maxMessageBytes), Code: e.Code,
		ResourceType: e.ResourceType, ResourceName: qldberr.Clip(e.ResourceName), ParameterName: qldberr.Clip(e.ParameterName),
	})
	_, _ = w.Write(b)
}
