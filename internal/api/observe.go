package api

import (
	"net/http"
	"time"

	"github.com/strand-db/strand/internal/api/sessionwire"
)

// Observer is told about every request the handler served, for metrics:
// its operation (one of Operations), the AWS error type it was answered
// with ("" for success) and how long it took. It must not block.
type Observer func(operation, errorType string, elapsed time.Duration)

// Operation names of requests that are not a QLDB operation.
const (
	OpUnknown = "Unknown" // no operation matched (or the request was refused before it could be told)
	OpBackup  = "Backup"  // strand backup (POST BackupPath)
)

// controlOperations names the control-plane operations by route pattern
// and method; TestOperationsCoverRoutes checks it against controlRoutes.
var controlOperations = map[string]map[string]string{
	"ledgers":                             {http.MethodPost: "CreateLedger", http.MethodGet: "ListLedgers"},
	"ledgers/*":                           {http.MethodGet: "DescribeLedger", http.MethodPatch: "UpdateLedger", http.MethodDelete: "DeleteLedger"},
	"ledgers/*/permissions-mode":          {http.MethodPatch: "UpdateLedgerPermissionsMode"},
	"ledgers/*/digest":                    {http.MethodPost: "GetDigest"},
	"ledgers/*/block":                     {http.MethodPost: "GetBlock"},
	"ledgers/*/revision":                  {http.MethodPost: "GetRevision"},
	"ledgers/*/journal-kinesis-streams":   {http.MethodPost: "StreamJournalToKinesis", http.MethodGet: "ListJournalKinesisStreamsForLedger"},
	"ledgers/*/journal-kinesis-streams/*": {http.MethodGet: "DescribeJournalKinesisStream", http.MethodDelete: "CancelJournalKinesisStream"},
	"tags/*":                              {http.MethodGet: "ListTagsForResource", http.MethodPost: "TagResource", http.MethodDelete: "UntagResource"},
	"ledgers/*/journal-s3-exports":        {http.MethodPost: "ExportJournalToS3", http.MethodGet: "ListJournalS3ExportsForLedger"},
	"ledgers/*/journal-s3-exports/*":      {http.MethodGet: "DescribeJournalS3Export"},
	"journal-s3-exports":                  {http.MethodGet: "ListJournalS3Exports"},
}

// sessionCommands are the commands of QLDBSession.SendCommand, each an
// operation of its own.
var sessionCommands = []string{"StartSession", "StartTransaction", "ExecuteStatement", "FetchPage",
	"CommitTransaction", "AbortTransaction", "EndSession"}

// Operations lists every operation name an Observer can be given, so that
// metrics can create their series before the first request.
func Operations() []string {
	ops := []string{OpUnknown, OpBackup}
	for _, methods := range controlOperations {
		for _, op := range methods {
			ops = append(ops, op)
		}
	}
	return append(ops, sessionCommands...)
}

// controlOperation names the control-plane operation of a request whose
// path matched pattern.
func controlOperation(pattern []string, method string) string {
	key := ""
	for i, p := range pattern {
		if i > 0 {
			key += "/"
		}
		key += p
	}
	if op, ok := controlOperations[key][method]; ok {
		return op
	}
	return OpUnknown
}

// commandOf names the one command a SendCommand request sets (OpUnknown
// when it sets none or several).
func commandOf(in *sessionwire.Request) string {
	name, n := OpUnknown, 0
	for i, set := range []bool{in.StartSession != nil, in.StartTransaction != nil, in.ExecuteStatement != nil,
		in.FetchPage != nil, in.CommitTransaction != nil, in.AbortTransaction != nil, in.EndSession != nil} {
		if set {
			name = sessionCommands[i]
			n++
		}
	}
	if n != 1 {
		return OpUnknown
	}
	return name
}

// observedWriter is the ResponseWriter of an observed request: it keeps the
// operation the handler named (setOperation) and the error type of the
// answer (the X-Amzn-ErrorType header when the status is written).
type observedWriter struct {
	http.ResponseWriter
	op        string
	errorType string
	wrote     bool
}

func (w *observedWriter) WriteHeader(status int) {
	if !w.wrote {
		w.wrote = true
		w.errorType = w.Header().Get("X-Amzn-ErrorType")
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *observedWriter) Write(b []byte) (int, error) {
	if !w.wrote {
		w.wrote = true
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection.
func (w *observedWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// setOperation names the operation of the request w answers.
func setOperation(w http.ResponseWriter, op string) {
	if ow, ok := w.(*observedWriter); ok {
		ow.op = op
	}
}

// observe wraps w for the Observer; call the returned func when the
// request is done.
func (s *Handler) observe(w http.ResponseWriter) (http.ResponseWriter, func()) {
	if s.opts.Observer == nil {
		return w, func() {}
	}
	started := time.Now()
	ow := &observedWriter{ResponseWriter: w, op: OpUnknown}
	return ow, func() { s.opts.Observer(ow.op, ow.errorType, time.Since(started)) }
}
