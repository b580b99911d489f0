package mock

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/provider/vertex"
)

func vertexPost(t *testing.T, target, token, body string) (int, string) {
	t.Helper()
	r, _ := http.NewRequest(http.MethodPost, target, strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func assertion(t *testing.T, keyFile []byte) string {
	t.Helper()
	sa, err := vertex.ParseServiceAccount(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	a, err := sa.SignJWT(sa.TokenURI, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func tokenCall(t *testing.T, base, grant, assertion string) (int, map[string]any) {
	t.Helper()
	form := url.Values{"grant_type": {grant}, "assertion": {assertion}}
	resp, err := http.PostForm(base+VertexTokenPath, form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

func TestVertexMock(t *testing.T) {
	s, ts := newServer(t, Options{})
	const email = "sa@p.iam.gserviceaccount.com"
	const jwtGrant = "urn:ietf:params:oauth:grant-type:jwt-bearer"
	good := assertion(t, VertexServiceAccount(email, ts.URL+VertexTokenPath))

	// A key the mock did not issue signs an assertion it refuses.
	other, _ := rsa.GenerateKey(rand.Reader, 1024)
	der, _ := x509.MarshalPKCS8PrivateKey(other)
	var kf map[string]string
	_ = json.Unmarshal(VertexServiceAccount(email, ""), &kf)
	kf["private_key"] = string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	foreign, _ := json.Marshal(kf)
	if st, out := tokenCall(t, ts.URL, jwtGrant, assertion(t, foreign)); st != 400 || out["error"] != "invalid_grant" {
		t.Fatalf("foreign key: %d %v", st, out)
	}
	if st, out := tokenCall(t, ts.URL, "refresh_token", good); st != 400 || out["error"] != "unsupported_grant_type" {
		t.Fatalf("wrong grant: %d %v", st, out)
	}
	if st, out := tokenCall(t, ts.URL, jwtGrant, good[:len(good)-4]+"AAAA"); st != 400 || out["error"] != "invalid_grant" {
		t.Fatalf("tampered signature: %d %v", st, out)
	}
	st, out := tokenCall(t, ts.URL, jwtGrant, good)
	tok, _ := out["access_token"].(string)
	if st != 200 || !strings.HasPrefix(tok, "ya29.mock-") || out["expires_in"] != float64(3600) {
		t.Fatalf("good assertion: %d %v", st, out)
	}

	base := ts.URL + "/v1/projects/p/locations/us-east5/publishers/"
	gem := `{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}`
	if st, body := vertexPost(t, base+"google/models/gemini-2.5-flash:generateContent", tok, gem); st != 200 || !strings.Contains(body, "Mock reply to: hi") {
		t.Fatalf("generateContent: %d %s", st, body)
	}
	if st, body := vertexPost(t, base+"google/models/gemini-2.5-flash:generateContent", "ya29.unknown", gem); st != 401 {
		t.Fatalf("unknown token: %d %s", st, body)
	}
	msg := `{"anthropic_version":"vertex-2023-10-16","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}`
	st, body := vertexPost(t, base+"anthropic/models/claude-sonnet-4-5@20250929:rawPredict", tok, msg)
	if st != 200 || !strings.Contains(body, `"model":"claude-sonnet-4-5@20250929"`) {
		t.Fatalf("rawPredict: %d %s", st, body)
	}
	for _, bad := range []string{
		`{"max_tokens":10,"messages":[{"role":"user","content":"hi"}]}`,
		`{"anthropic_version":"vertex-2023-10-16","model":"claude","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}`,
		msg[:len(msg)-1] + `,"stream":true}`,
	} {
		if st, body := vertexPost(t, base+"anthropic/models/claude-x:rawPredict", tok, bad); st != 400 {
			t.Errorf("%s: %d %s", bad, st, body)
		}
	}
	st, body = vertexPost(t, base+"anthropic/models/claude-x:streamRawPredict", tok, msg[:len(msg)-1]+`,"stream":true}`)
	if st != 200 || !strings.Contains(body, "event: message_stop") {
		t.Fatalf("streamRawPredict: %d %s", st, body)
	}

	// Faults follow the service account, in Google's error shape.
	s.SetFault(email, Fault{Status: 429})
	if st, body := vertexPost(t, base+"google/models/gemini-2.5-flash:generateContent", tok, gem); st != 429 || !strings.Contains(body, "RESOURCE_EXHAUSTED") {
		t.Fatalf("faulted call: %d %s", st, body)
	}
	s.SetFault("token:"+email, Fault{Status: 503})
	if st, _ := tokenCall(t, ts.URL, jwtGrant, good); st != 503 {
		t.Fatalf("faulted exchange: %d", st)
	}
	s.Reset()
	if st, _ := vertexPost(t, base+"google/models/gemini-2.5-flash:generateContent", tok, gem); st != 401 {
		t.Fatalf("token after Reset: %d", st)
	}
}

func TestVertexKeyEndpoint(t *testing.T) {
	_, ts := newServer(t, Options{})
	resp, err := http.Get(ts.URL + "/_mock/vertex-key?email=me@p.iam.gserviceaccount.com")
	if err != nil {
		t.Fatal(err)
	}
	key, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if st, out := tokenCall(t, ts.URL, "urn:ietf:params:oauth:grant-type:jwt-bearer", assertion(t, key)); st != 200 {
		t.Fatalf("key from /_mock/vertex-key refused: %d %v", st, out)
	}
}
