//go:build unix

package kinesisemu

import (
	"os"
	"os/exec"
	"syscall"
)

// setProcAttr puts the child in its own process group, so that stopping it
// also stops anything it started.
func setProcAttr(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	setDeathSignal(cmd.SysProcAttr)
}

// terminate sends SIGTERM to the process group of p.
func terminate(p *os.Process) {
	_ = syscall.Kill(-p.Pid, syscall.SIGTERM)
}

// kill sends SIGKILL to the process group of p.
func kill(p *os.Process) {
	_ = syscall.Kill(-p.Pid, syscall.SIGKILL)
}
