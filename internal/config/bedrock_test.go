package config

import (
	"strings"
	"testing"
)

func TestBedrockChannel(t *testing.T) {
	doc := `
channels:
  - name: br
    type: bedrock
    region: eu-west-3
    models: [claude]
    credentials:
      - {access_key_id: AKIDONE, secret_access_key: "s3cr/et+1"}
      - {access_key_id: ASIATWO, secret_access_key: s2, session_token: tok}
      - key: AKIDTHREE:s3
`
	c, err := loadYAML(t, doc, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ch := c.Channels[0]
	if ch.BaseURL != "https://bedrock-runtime.eu-west-3.amazonaws.com" {
		t.Errorf("base_url = %q", ch.BaseURL)
	}
	want := []string{"AKIDONE:s3cr/et+1", "ASIATWO:s2:tok", "AKIDTHREE:s3"}
	for i, w := range want {
		if got := ch.Credentials[i].Key.Value(); got != w {
			t.Errorf("credentials[%d] packed as %q, want %q", i, got, w)
		}
	}

	bad := []struct{ yaml, path, phrase string }{
		{"    region: nowhere\n    credentials: [{key: \"a:b\"}]", "channels[0].region", "not an AWS region"},
		{"    region: us-east-1\n    credentials: [{access_key_id: AK}]", "channels[0].credentials[0].secret_access_key", "needs its secret"},
		{"    region: us-east-1\n    credentials: [{key: sk-plain}]", "channels[0].credentials[0].key", "ACCESS_KEY_ID:SECRET_ACCESS_KEY"},
		{"    region: us-east-1\n    credentials: [{key: \"a:b\", access_key_id: c, secret_access_key: d}]", "channels[0].credentials[0].key", "not both"},
		{"    region: us-east-1\n    credentials: [{access_token: x}]", "channels[0].credentials[0].access_token", "not OAuth tokens"},
	}
	for _, b := range bad {
		doc := "\nchannels:\n  - name: br\n    type: bedrock\n    models: [m]\n" + b.yaml + "\n"
		_, err := loadYAML(t, doc, nil, nil)
		if err == nil || !strings.Contains(err.Error(), b.path) || !strings.Contains(err.Error(), b.phrase) {
			t.Errorf("%s: err = %v, want %s: …%s…", b.yaml, err, b.path, b.phrase)
		}
	}
	other := strings.Replace(goodChannel, "      - key: sk-test-000000000000000000", "      - {key: sk-x, access_key_id: A, secret_access_key: B}", 1)
	if _, err := loadYAML(t, other, nil, nil); err == nil || !strings.Contains(err.Error(), "only bedrock channels take AWS access keys") {
		t.Errorf("access key on an openai channel: %v", err)
	}
}
