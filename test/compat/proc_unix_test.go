//go:build unix

package compat

import (
	"os/exec"
	"syscall"
)

// setProcessGroup puts node in its own process group so a timeout kills the
// per-file test processes node --test spawns, not only node itself.
func setProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
}
