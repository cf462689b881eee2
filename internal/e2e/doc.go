// Package e2e holds Strand's end-to-end suite: tests and benchmarks that
// start real nodes and drive them over HTTP with the AWS SDK for Go v2, the
// official QLDB Go driver, the AWS CLI, boto3 and real Kinesis emulators,
// as a user's application would. It has no code outside its tests. Unit
// tests live beside the package they test; the helpers the suite shares
// with them live once: internal/server/servertest (nodes, clients, drivers,
// statements, journal and AWS error checks), internal/stream/streamtest
// (reading a Kinesis stream as a consumer) and internal/testenv (waiting
// with a deadline, Ion literals, emulators).
package e2e
