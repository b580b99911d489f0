package mock

import (
	"bytes"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Vertex AI: POST /vertex/token is a Google token endpoint for the JWT
// bearer grant (RFC 7523) that accepts only assertions signed with the
// mock's test key (VertexServiceAccount hands out key files holding it),
// and the publisher routes under /v1/projects/… answer with the Gemini
// and Anthropic mocks (generateContent with image output included), and
// :predict with Imagen's or a text embedding model's answer. Access
// tokens are random and remembered with their service account, whose
// client_email is the credential of a model call (counters, records,
// SetFault); a token call's credential is "token:" + client_email, so a
// test can fail exchanges and calls apart.

//go:embed vertex_test_key.pem
var vertexTestKeyPEM []byte

// vertexTestKey is the test key, parsed once. It is public: it only ever
// signs assertions for this mock.
var vertexTestKey = sync.OnceValue(func() *rsa.PrivateKey {
	block, _ := pem.Decode(vertexTestKeyPEM)
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		panic("mock: vertex test key: " + err.Error())
	}
	return k.(*rsa.PrivateKey)
})

// VertexTokenPath is the mock's token endpoint for service accounts.
const VertexTokenPath = "/vertex/token"

// VertexServiceAccount is a service-account key file for email holding the
// mock's test key, with tokenURI as its token_uri.
func VertexServiceAccount(email, tokenURI string) []byte {
	b, _ := json.Marshal(map[string]string{
		"type":           "service_account",
		"project_id":     "mock-project",
		"private_key_id": "mock-key-1",
		"private_key":    string(vertexTestKeyPEM),
		"client_email":   email,
		"client_id":      "1",
		"token_uri":      tokenURI,
	})
	return b
}

// VertexPublicKey is the public half of the test key, to verify signatures.
func VertexPublicKey() *rsa.PublicKey { return &vertexTestKey().PublicKey }

// vertexState maps issued access tokens to their service account.
type vertexState struct {
	mu     sync.Mutex
	tokens map[string]vertexGrant
}

type vertexGrant struct {
	email   string
	expires time.Time
}

func (v *vertexState) issue(tok, email string, exp time.Time) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.tokens == nil {
		v.tokens = map[string]vertexGrant{}
	}
	v.tokens[tok] = vertexGrant{email: email, expires: exp}
}

// email is the service account tok was issued to; "" when tok is unknown
// or expired.
func (v *vertexState) email(tok string, now time.Time) string {
	v.mu.Lock()
	defer v.mu.Unlock()
	g, ok := v.tokens[tok]
	if !ok || now.After(g.expires) {
		return ""
	}
	return g.email
}

func (v *vertexState) reset() {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.tokens = nil
}

// Exchanges is how many access tokens the token endpoint has issued.
func (v *vertexState) issued() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return len(v.tokens)
}

// VertexTokensIssued is how many access tokens /vertex/token has issued
// since the last reset.
func (s *Server) VertexTokensIssued() int { return s.vertex.issued() }

type jwtClaims struct {
	Iss   string `json:"iss"`
	Scope string `json:"scope"`
	Aud   string `json:"aud"`
	Iat   int64  `json:"iat"`
	Exp   int64  `json:"exp"`
}

// verifyAssertion checks an RS256 JWT against the test key and returns its
// claims; a non-empty string says what is wrong.
func (s *Server) verifyAssertion(jwt string) (jwtClaims, string) {
	var cl jwtClaims
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		return cl, "assertion is not a JWT"
	}
	dec := base64.RawURLEncoding
	hb, err1 := dec.DecodeString(parts[0])
	cb, err2 := dec.DecodeString(parts[1])
	sig, err3 := dec.DecodeString(parts[2])
	if err1 != nil || err2 != nil || err3 != nil {
		return cl, "assertion is not base64url"
	}
	var hdr struct {
		Alg string `json:"alg"`
	}
	if json.Unmarshal(hb, &hdr) != nil || hdr.Alg != "RS256" {
		return cl, "assertion header alg must be RS256"
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if rsa.VerifyPKCS1v15(VertexPublicKey(), crypto.SHA256, sum[:], sig) != nil {
		return cl, "Invalid JWT Signature."
	}
	if json.Unmarshal(cb, &cl) != nil {
		return cl, "assertion claims are not JSON"
	}
	now := s.now().Unix()
	switch {
	case cl.Iss == "":
		return cl, "assertion has no iss"
	case !strings.Contains(cl.Scope, "https://www.googleapis.com/auth/cloud-platform"):
		return cl, "assertion scope lacks cloud-platform"
	case cl.Aud == "":
		return cl, "assertion has no aud"
	case cl.Exp <= now || cl.Iat > now+300 || cl.Exp-cl.Iat > 3600:
		return cl, "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe."
	}
	return cl, ""
}

func (s *Server) vertexToken(w http.ResponseWriter, r *http.Request) {
	c := &call{s: s, r: r, prov: provOAuth}
	c.w = &respWriter{ResponseWriter: w, c: c}
	form, readErr := c.readTokenForm()
	cl, bad := s.verifyAssertion(form.Get("assertion"))
	if cl.Iss != "" {
		c.cred = "token:" + cl.Iss
	}
	s.counters.begin(c.cred, r.URL.Path)
	defer c.finish()
	c.w.Header().Set("Cache-Control", "no-store")
	switch {
	case readErr != "":
		writeOAuthError(c.w, http.StatusBadRequest, "invalid_request", readErr)
		return
	case form.Get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer":
		writeOAuthError(c.w, http.StatusBadRequest, "unsupported_grant_type", "the mock's /vertex/token takes only the jwt-bearer grant")
		return
	case bad != "":
		writeOAuthError(c.w, http.StatusBadRequest, "invalid_grant", bad)
		return
	}
	expiresIn := int64(defaultTokenLifetime)
	if v := r.URL.Query().Get("expires_in"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			writeOAuthError(c.w, http.StatusBadRequest, "invalid_request", "expires_in query parameter wants a non-negative integer")
			return
		}
		expiresIn = n
	}
	f, err := s.resolveFault(c)
	if err != nil {
		writeOAuthError(c.w, http.StatusBadRequest, "invalid_request", err.Error())
		return
	}
	c.fault = f
	if !c.applyFault() {
		return
	}
	tok := "ya29.mock-" + randomHex()
	s.vertex.issue(tok, cl.Iss, s.now().Add(time.Duration(expiresIn)*time.Second))
	c.reply(map[string]any{"access_token": tok, "expires_in": expiresIn, "token_type": "Bearer"})
}

// vertexModel serves POST /v1/projects/{p}/locations/{l}/publishers/{pub}/models/{target}.
func (s *Server) vertexModel(c *call) {
	model, action, ok := strings.Cut(c.r.PathValue("target"), ":")
	if !ok {
		c.fail(http.StatusNotFound, "unknown method: expected models/{model}:{action}")
		return
	}
	switch pub := c.r.PathValue("publisher"); {
	case pub == "google" && action == "generateContent":
		s.geminiGenerate(c, model, false)
	case pub == "google" && action == "streamGenerateContent":
		if c.r.URL.Query().Get("alt") != "sse" {
			c.fail(http.StatusBadRequest, "the mock streams only with alt=sse")
			return
		}
		s.geminiGenerate(c, model, true)
	case pub == "google" && action == "predict" && strings.HasPrefix(model, "imagen"):
		s.imagenPredict(c, model)
	case pub == "google" && action == "predict":
		s.vertexEmbed(c, model)
	case pub == "anthropic" && (action == "rawPredict" || action == "streamRawPredict"):
		var probe struct {
			Version string          `json:"anthropic_version"`
			Model   json.RawMessage `json:"model"`
			Stream  bool            `json:"stream"`
		}
		if !c.decode(&probe) {
			return
		}
		switch {
		case probe.Version != "vertex-2023-10-16":
			c.fail(http.StatusBadRequest, "anthropic_version: must be vertex-2023-10-16")
			return
		case len(probe.Model) > 0 && !bytes.Equal(probe.Model, []byte("null")):
			c.fail(http.StatusBadRequest, "model: Extra inputs are not permitted")
			return
		case probe.Stream != (action == "streamRawPredict"):
			c.fail(http.StatusBadRequest, "stream must be true for streamRawPredict and false for rawPredict")
			return
		}
		// Model errors and stream events in Anthropic's shape from here on.
		c.prov, c.model = provAnthropic, model
		s.anthropicMessages(c)
	default:
		c.fail(http.StatusNotFound, "unknown publisher method "+pub+":"+action)
	}
}

// vertexEmbed answers a text embedding model's :predict as Vertex does:
// one prediction per instance with its values and token count; a
// gemini-embedding model takes one instance per request, as on Vertex.
func (s *Server) vertexEmbed(c *call, model string) {
	var req struct {
		Instances []struct {
			Content *string `json:"content"`
		} `json:"instances"`
		Parameters struct {
			OutputDimensionality int `json:"outputDimensionality"`
		} `json:"parameters"`
	}
	if !c.decode(&req) {
		return
	}
	switch {
	case !strings.Contains(model, "embedding"):
		c.fail(http.StatusBadRequest, "Publisher model "+model+" does not support predict.")
		return
	case len(req.Instances) == 0:
		c.fail(http.StatusBadRequest, "instances: at least one instance is required")
		return
	case len(req.Instances) > 1 && strings.HasPrefix(model, "gemini-embedding"):
		c.fail(http.StatusBadRequest, "Unable to submit request because the model supports only 1 instance per request.")
		return
	}
	dims := 768
	if strings.HasPrefix(model, "gemini-embedding") {
		dims = 3072
	}
	if d := req.Parameters.OutputDimensionality; d > 0 {
		dims = min(d, dims)
	}
	preds := make([]map[string]any, len(req.Instances))
	for i, in := range req.Instances {
		if in.Content == nil {
			c.fail(http.StatusBadRequest, "instances["+strconv.Itoa(i)+"].content is required")
			return
		}
		preds[i] = map[string]any{"embeddings": map[string]any{
			"values":     embedVector([]byte(*in.Content), dims),
			"statistics": map[string]any{"truncated": false, "token_count": max(1, len(*in.Content)/4)},
		}}
	}
	c.reply(map[string]any{"predictions": preds})
}

// handleVertexKey serves GET /_mock/vertex-key?email=…: a key file the
// token endpoint accepts, for trying a vertex channel by hand (its
// token_url set to this mock's /vertex/token).
func (s *Server) handleVertexKey(w http.ResponseWriter, r *http.Request) {
	email := r.URL.Query().Get("email")
	if email == "" {
		email = "mock@mock-project.iam.gserviceaccount.com"
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(VertexServiceAccount(email, "https://oauth2.googleapis.com/token"))
}
