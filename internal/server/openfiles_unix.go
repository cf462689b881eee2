//go:build unix

package server

import "syscall"

// openFilesLimit is the process's limit of open file descriptors (Go
// raises the soft limit to the hard one at start-up), and whether it is
// known.
func openFilesLimit() (uint64, bool) {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return 0, false
	}
	return l.Cur, true
}
