//go:build race

package main

// raceEnabled: this test binary runs under the race detector, and so does
// the strand binary its tests build (buildStrand).
const raceEnabled = true
