package config

import (
	"encoding/json"
	"regexp"
	"strings"
)

// VertexBaseURL is the regional Vertex AI endpoint of location; the
// "global" location has no regional host.
func VertexBaseURL(location string) string {
	if location == "" || location == "global" {
		return "https://aiplatform.googleapis.com"
	}
	return "https://" + location + "-aiplatform.googleapis.com"
}

// vertexLocation is a region name as Google spells them; it becomes part
// of a host name, so nothing else may pass.
var vertexLocation = regexp.MustCompile(`^[a-z][a-z0-9-]{1,62}$`)

func (v *validator) vertexChannel(p string, ch Channel) {
	if strings.TrimSpace(ch.Project) == "" {
		v.add(p+".project", "required for vertex channels: the Google Cloud project id")
	} else if strings.ContainsAny(ch.Project, "/?#% ") {
		v.add(p+".project", "%q is not a project id", ch.Project)
	}
	if ch.Location == "" {
		v.add(p+".location", "required for vertex channels, e.g. us-central1 or global")
	} else if !vertexLocation.MatchString(ch.Location) {
		v.add(p+".location", "%q is not a Vertex AI location (us-central1, europe-west4, global, …)", ch.Location)
	}
}

// serviceAccountKey is the part of a key file the validator looks at; the
// provider parses the private key itself.
type serviceAccountKey struct {
	Type        string `json:"type"`
	ClientEmail string `json:"client_email"`
	PrivateKey  string `json:"private_key"`
	TokenURI    string `json:"token_uri"`
}

// vertexCredential checks a credential of a vertex channel: a
// service-account key file and nothing else to authenticate with.
func (v *validator) vertexCredential(p string, ch Channel, cr Credential) {
	if ch.Type != "vertex" {
		v.add(p+".service_account", "only vertex channels take a service account; this channel is %s", ch.Type)
		return
	}
	if cr.Key != "" || cr.AccessToken != "" || cr.RefreshToken != "" {
		v.add(p+".key", "vertex credentials are service accounts: set service_account only")
	}
	if cr.ServiceAccount == "" {
		v.add(p+".service_account", "empty; paste the service account's JSON key file, e.g. service_account: ${VERTEX_SA_JSON}")
		return
	}
	var k serviceAccountKey
	if err := json.Unmarshal([]byte(cr.ServiceAccount), &k); err != nil {
		// The decoder's message could quote the key; say only what is wrong.
		v.add(p+".service_account", "not a JSON service-account key file")
		return
	}
	switch {
	case k.Type != "service_account":
		v.add(p+".service_account", "type is %q, want \"service_account\" (a key file of a service account)", k.Type)
	case !validEmail(k.ClientEmail):
		v.add(p+".service_account", "client_email is missing or not an email address")
	case !strings.Contains(k.PrivateKey, "PRIVATE KEY-----"):
		v.add(p+".service_account", "private_key is missing or not a PEM private key")
	}
	if k.TokenURI != "" && ch.TokenURL == "" {
		v.httpURL(p+".service_account.token_uri", k.TokenURI)
	}
}
