//go:build linux

package kinesisemu

import "syscall"

// setDeathSignal makes the kernel kill the emulator if the test binary dies
// without running its cleanups (for example on a test timeout panic).
func setDeathSignal(attr *syscall.SysProcAttr) {
	attr.Pdeathsig = syscall.SIGKILL
}
