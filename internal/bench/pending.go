package bench

import "context"

// notMeasured is the report of a scenario this build cannot run: it says so
// plainly instead of giving a number.
func notMeasured(scenario string, o Options, why string) (*Report, error) {
	o.defaults()
	rep := &Report{Scenario: scenario, Started: timeNow(), Machine: machine(), Options: o.public(), Notes: []string{why}}
	printRatios(o.Out, rep)
	return rep, nil
}

// Stream runs the stream scenario.
func Stream(ctx context.Context, o Options) (*Report, error) {
	return notMeasured("stream", o, "stream: not implemented yet in this build of strand bench; see BENCHMARKS.md \"Journal streams\" for the go test benchmarks")
}
