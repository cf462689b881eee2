//go:build linux

package s3emu

import (
	"os/exec"
	"syscall"
)

// setProcAttr runs s3rver in its own process group, killed with the test
// binary if that dies without cleaning up.
func setProcAttr(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

func killGroup(cmd *exec.Cmd) { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
