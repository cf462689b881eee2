//go:build !linux

package shell

import "errors"

// IsTerminal reports whether fd is a terminal; outside Linux the shell does
// not edit lines itself and treats every input as a pipe.
func IsTerminal(fd int) bool { return false }

func makeRaw(fd int) (func(), error) {
	return nil, errors.New("raw terminal mode is only supported on Linux")
}

func termWidth(fd int) int { return 0 }
