// Package e2e holds Strand's end-to-end suite: tests and benchmarks that
// start real nodes (internal/server/servertest) and drive them over HTTP
// with the AWS SDK for Go v2, the official QLDB Go driver, the AWS CLI,
// boto3 and real Kinesis emulators (internal/testenv/kinesisemu), as a
// user's application would. It has no code of its own: unit tests live
// beside the package they test, and the helpers these tests share live in
// servertest (nodes, clients, drivers, statements, Ion literals, waiting)
// and internal/stream/streamtest (reading a Kinesis stream as a consumer).
package e2e
