package config

import (
	"errors"
	"strings"
	"testing"
)

// saJSON is a key file shape; the PEM body is not parsed by the config.
const saJSON = `{"type":"service_account","client_email":"sa@p.iam.gserviceaccount.com",` +
	`"private_key":"-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n","token_uri":"https://oauth2.googleapis.com/token"}`

func vertexDoc(channel string) string {
	return "channels:\n  - name: vx\n    type: vertex\n    models: [gemini-2.5-flash]\n" + channel
}

func TestVertexChannel(t *testing.T) {
	c := mustLoad(t, vertexDoc("    project: proj\n    location: us-east5\n    credentials:\n      - service_account: ${SA}\n"),
		map[string]string{"SA": saJSON}, nil)
	ch := c.Channels[0]
	if ch.BaseURL != "https://us-east5-aiplatform.googleapis.com" || ch.Project != "proj" {
		t.Errorf("base_url %q project %q", ch.BaseURL, ch.Project)
	}
	if ch.Credentials[0].ServiceAccount.Value() != saJSON {
		t.Error("service_account not kept whole")
	}
	c = mustLoad(t, vertexDoc("    project: proj\n    location: global\n    credentials:\n      - service_account: ${SA}\n"),
		map[string]string{"SA": saJSON}, nil)
	if c.Channels[0].BaseURL != "https://aiplatform.googleapis.com" {
		t.Errorf("global base_url %q", c.Channels[0].BaseURL)
	}
}

func TestVertexChannelErrors(t *testing.T) {
	notSA := strings.Replace(saJSON, `"service_account"`, `"authorized_user"`, 1)
	for _, tc := range []struct {
		name, channel, sa, path, phrase string
	}{
		{"no project", "    location: us-east5\n    credentials:\n      - service_account: ${SA}\n", saJSON, "channels[0].project", "required"},
		{"no location", "    project: p\n    credentials:\n      - service_account: ${SA}\n", saJSON, "channels[0].location", "required"},
		{"bad location", "    project: p\n    location: us/evil\n    credentials:\n      - service_account: ${SA}\n", saJSON, "channels[0].location", "not a Vertex AI location"},
		{"key instead", "    project: p\n    location: l1\n    credentials:\n      - key: sk-0000000000000000\n", saJSON, "channels[0].credentials[0].key", "service_account only"},
		{"not JSON", "    project: p\n    location: l1\n    credentials:\n      - service_account: ${SA}\n", "nope", "channels[0].credentials[0].service_account", "not a JSON"},
		{"not a service account", "    project: p\n    location: l1\n    credentials:\n      - service_account: ${SA}\n", notSA, "channels[0].credentials[0].service_account", `want "service_account"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := loadYAML(t, vertexDoc(tc.channel), map[string]string{"SA": tc.sa}, nil)
			var errs Errors
			if !errors.As(err, &errs) {
				t.Fatalf("Load error = %v, want Errors", err)
			}
			for _, e := range errs {
				if e.Path == tc.path && strings.Contains(e.Message, tc.phrase) {
					if strings.Contains(e.Message, "PRIVATE KEY") {
						t.Errorf("message quotes the key: %s", e.Message)
					}
					return
				}
			}
			t.Fatalf("no error at %s containing %q in %v", tc.path, tc.phrase, err)
		})
	}
	// A service account on another channel type is refused.
	_, err := loadYAML(t, "channels:\n  - name: o\n    type: openai\n    base_url: https://x.example\n    models: [m]\n    credentials:\n      - service_account: ${SA}\n",
		map[string]string{"SA": saJSON}, nil)
	if err == nil || !strings.Contains(err.Error(), "only vertex channels take a service account") {
		t.Fatalf("service account on openai: %v", err)
	}
}
