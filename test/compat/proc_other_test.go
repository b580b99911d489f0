//go:build !unix

package compat

import "os/exec"

// setProcessGroup is a no-op where process groups are not available; the
// context still kills node itself.
func setProcessGroup(cmd *exec.Cmd) {}
