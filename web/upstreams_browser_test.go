package web_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/switchyard/switchyard/internal/mock"
	"github.com/switchyard/switchyard/web/browsertest"
)

// TestBrowserUpstreams: an administrator makes a bedrock channel and a
// vertex channel in the console's form (e2e/upstreams.mjs), enters an AWS
// access key and loads a service account's key file as downloaded, and
// the Test button succeeds against the mock, which checks the SigV4
// signature and exchanges the account's signed assertion for a token; the
// form's and the server's field errors show in place; an openai channel
// gets a flavor.
func TestBrowserUpstreams(t *testing.T) {
	browsertest.Tools(t)
	n := browsertest.Start(t, nil)
	t.Setenv("SY_ADMIN_EMAIL", browsertest.Admin.Email)
	t.Setenv("SY_ADMIN_PASSWORD", browsertest.Admin.Password)
	// The key file as Google hands it out: indented, over several lines.
	var sa bytes.Buffer
	if err := json.Indent(&sa, mock.VertexServiceAccount("browser@proj.iam.gserviceaccount.com", "https://oauth2.googleapis.com/token"), "", "  "); err != nil {
		t.Fatal(err)
	}
	saFile := filepath.Join(t.TempDir(), "proj-0123abcd.json")
	if err := os.WriteFile(saFile, sa.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	const akid = "AKIDBROWSER000000001"
	browsertest.Run(t, "upstreams.mjs", "--base", n.Base, "--upstream", n.Upstream,
		"--sa-file", saFile, "--akid", akid, "--secret", mock.AWSSecret(akid), "--token-path", mock.VertexTokenPath)
}
