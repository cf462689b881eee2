//go:build !race

package qldbhash

// raceEnabled reports whether the race detector is on.
const raceEnabled = false
