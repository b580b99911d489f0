package vertex

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/config"
	"github.com/switchyard/switchyard/internal/mock"
)

func TestSignJWTVerifiesWithPublicKey(t *testing.T) {
	sa, err := ParseServiceAccount(mock.VertexServiceAccount("sa@p.iam.gserviceaccount.com", "https://oauth2.googleapis.com/token"))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_800_000_000, 0)
	jwt, err := sa.SignJWT(sa.TokenURI, now)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		t.Fatalf("jwt has %d parts", len(parts))
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if err := rsa.VerifyPKCS1v15(mock.VertexPublicKey(), crypto.SHA256, sum[:], sig); err != nil {
		t.Fatalf("signature does not verify: %v", err)
	}
	var hdr map[string]string
	var cl map[string]any
	hb, _ := base64.RawURLEncoding.DecodeString(parts[0])
	cb, _ := base64.RawURLEncoding.DecodeString(parts[1])
	if err := json.Unmarshal(hb, &hdr); err != nil || hdr["alg"] != "RS256" || hdr["typ"] != "JWT" || hdr["kid"] != "mock-key-1" {
		t.Fatalf("header %s", hb)
	}
	if err := json.Unmarshal(cb, &cl); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"iss": "sa@p.iam.gserviceaccount.com", "scope": Scope, "aud": "https://oauth2.googleapis.com/token",
		"iat": float64(now.Unix()), "exp": float64(now.Unix() + 3600)}
	for k, v := range want {
		if cl[k] != v {
			t.Errorf("claim %s = %v, want %v", k, cl[k], v)
		}
	}
}

func TestParseServiceAccountPKCS1(t *testing.T) {
	k8 := mock.VertexServiceAccount("a@b.c", "")
	var kf map[string]string
	_ = json.Unmarshal(k8, &kf)
	block, _ := pem.Decode([]byte(kf["private_key"]))
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	kf["private_key"] = string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key.(*rsa.PrivateKey))}))
	b, _ := json.Marshal(kf)
	sa, err := ParseServiceAccount(b)
	if err != nil {
		t.Fatal(err)
	}
	if sa.TokenURI != DefaultTokenURI || !sa.Key.Equal(key) {
		t.Fatalf("parsed %q", sa.TokenURI)
	}
	for _, bad := range []string{`{}`, `not json`, `{"type":"service_account","client_email":"a@b.c","private_key":"x"}`} {
		if _, err := ParseServiceAccount([]byte(bad)); err == nil {
			t.Errorf("%s: parsed", bad)
		}
	}
}

func TestCheckTokenURL(t *testing.T) {
	for raw, ok := range map[string]bool{
		"https://oauth2.googleapis.com/token":  true,
		"https://www.googleapis.com/oauth2/v4": true,
		"http://oauth2.googleapis.com/token":   false,
		"https://evil.example/token":           false,
		"https://googleapis.com.evil.example/": false,
		"https://169.254.169.254/token":        false,
		"https://127.0.0.1/token":              false,
	} {
		if err := CheckTokenURL(raw); (err == nil) != ok {
			t.Errorf("%s: err %v, want ok=%v", raw, err, ok)
		}
	}
}

func TestExchangeAgainstMock(t *testing.T) {
	m := mock.New(mock.Options{})
	ts := httptest.NewServer(m)
	defer ts.Close()
	ctx := context.Background()
	now := time.Now()
	key := mock.VertexServiceAccount("one@p.iam.gserviceaccount.com", "https://oauth2.googleapis.com/token")

	// The key's own token_uri is not the mock: without an override the
	// exchange goes nowhere near it, and a non-Google one is refused.
	bad := mock.VertexServiceAccount("one@p.iam.gserviceaccount.com", ts.URL+mock.VertexTokenPath)
	if _, err := Exchange(ctx, ts.Client(), bad, "", now); err == nil || !strings.Contains(err.Error(), "token_uri") {
		t.Fatalf("non-Google token_uri: %v", err)
	}
	tok, err := Exchange(ctx, ts.Client(), key, ts.URL+mock.VertexTokenPath+"?expires_in=600", now)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(tok.AccessToken, "ya29.mock-") || tok.ExpiresAt.Sub(now) != 600*time.Second {
		t.Fatalf("token %q expires %v", tok.AccessToken, tok.ExpiresAt)
	}
	// The mock refuses a key it did not issue, as Google does a deleted one.
	other := strings.Replace(string(key), "mock-key-1", "k", 1)
	var kf map[string]string
	_ = json.Unmarshal([]byte(other), &kf)
	kf["private_key"] = otherKeyPEM(t)
	b, _ := json.Marshal(kf)
	_, err = Exchange(ctx, ts.Client(), b, ts.URL+mock.VertexTokenPath, now)
	if re, ok := errors.AsType[*RefusedError](err); !ok || re.Code != "invalid_grant" {
		t.Fatalf("foreign key: %v", err)
	}
}

func otherKeyPEM(t *testing.T) string {
	t.Helper()
	// A 1024-bit key is enough to be a different key, and quick to make.
	k, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := x509.MarshalPKCS8PrivateKey(k)
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: b}))
}

func TestURLs(t *testing.T) {
	ch := &config.Channel{Project: "proj", Location: "us-east5", BaseURL: config.VertexBaseURL("us-east5")}
	for _, c := range []struct{ got, want string }{
		{GenerateURL(ch, "gemini-2.5-flash", false), "https://us-east5-aiplatform.googleapis.com/v1/projects/proj/locations/us-east5/publishers/google/models/gemini-2.5-flash:generateContent"},
		{GenerateURL(ch, "gemini-2.5-flash", true), "https://us-east5-aiplatform.googleapis.com/v1/projects/proj/locations/us-east5/publishers/google/models/gemini-2.5-flash:streamGenerateContent?alt=sse"},
		{PredictURL(ch, "claude-sonnet-4-5@20250929", false), "https://us-east5-aiplatform.googleapis.com/v1/projects/proj/locations/us-east5/publishers/anthropic/models/claude-sonnet-4-5@20250929:rawPredict"},
		{PredictURL(ch, "claude-sonnet-4-5@20250929", true), "https://us-east5-aiplatform.googleapis.com/v1/projects/proj/locations/us-east5/publishers/anthropic/models/claude-sonnet-4-5@20250929:streamRawPredict"},
		{config.VertexBaseURL("global"), "https://aiplatform.googleapis.com"},
	} {
		if c.got != c.want {
			t.Errorf("got  %s\nwant %s", c.got, c.want)
		}
	}
}
