//go:build !race

package main

// raceEnabled: this test binary runs without the race detector (see
// race_on_test.go).
const raceEnabled = false
