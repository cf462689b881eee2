//go:build !unix

package kinesisemu

import (
	"os"
	"os/exec"
)

// setProcAttr does nothing: process groups are a Unix feature.
func setProcAttr(*exec.Cmd) {}

// terminate kills p.
func terminate(p *os.Process) { _ = p.Kill() }

// kill kills p.
func kill(p *os.Process) { _ = p.Kill() }
