package web_test

import (
	"testing"

	"github.com/switchyard/switchyard/web/browsertest"
)

// A real node (SQLite, the file's administrator, a mock channel) serves the
// console, and the administrator signs in through chromium.
func TestBrowserRealNode(t *testing.T) {
	browsertest.Tools(t)
	n := browsertest.Start(t, nil)
	t.Setenv("SY_ADMIN_EMAIL", browsertest.Admin.Email)
	t.Setenv("SY_ADMIN_PASSWORD", browsertest.Admin.Password)
	browsertest.Run(t, "smoke.mjs", "--base", n.Base)
}
