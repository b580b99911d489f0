package web_test

import (
	"testing"

	"github.com/switchyard/switchyard/internal/config"
	"github.com/switchyard/switchyard/web/browsertest"
)

// TestBrowserFlow is the operator's first hour on a clean node: no
// administrator and no channel in the file, everything done in the console
// (e2e/flow.mjs), starting from the one-time setup link serve prints.
func TestBrowserFlow(t *testing.T) {
	browsertest.Tools(t)
	var upstream string
	n := browsertest.Start(t, func(c *config.Config) {
		upstream = c.Channels[len(c.Channels)-1].BaseURL
		c.Admin = config.Admin{}
		c.Channels = nil
	})
	tok, err := n.Accounts().SetupToken(t.Context())
	if err != nil {
		t.Fatalf("setup token: %v", err)
	}
	browsertest.Run(t, "flow.mjs", "--base", n.Base, "--upstream", upstream, "--setup-token", tok)
}
