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
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/switchyard/switchyard/internal/netguard"
)

// Scope is the OAuth scope Vertex AI calls need.
const Scope = "https://www.googleapis.com/auth/cloud-platform"

// DefaultTokenURI is Google's token endpoint, for a key file without token_uri.
const DefaultTokenURI = "https://oauth2.googleapis.com/token"

// jwtBearer is the RFC 7523 grant type.
const jwtBearer = "urn:ietf:params:oauth:grant-type:jwt-bearer"

// assertionLifetime is the longest Google accepts.
const assertionLifetime = time.Hour

// maxTokenAnswer caps what is read from a token endpoint.
const maxTokenAnswer = 64 << 10

// ServiceAccount is a parsed service-account key file.
type ServiceAccount struct {
	ClientEmail  string
	PrivateKeyID string
	TokenURI     string
	Key          *rsa.PrivateKey
}

// keyFile is the JSON key file as Google issues it (the fields used).
type keyFile struct {
	Type         string `json:"type"`
	ClientEmail  string `json:"client_email"`
	PrivateKeyID string `json:"private_key_id"`
	PrivateKey   string `json:"private_key"`
	TokenURI     string `json:"token_uri"`
}

// ParseServiceAccount reads a JSON key file. Errors never quote the file.
func ParseServiceAccount(data []byte) (*ServiceAccount, error) {
	var kf keyFile
	if err := json.Unmarshal(data, &kf); err != nil {
		return nil, errors.New("parse service account: not a JSON key file")
	}
	if kf.Type != "service_account" {
		return nil, fmt.Errorf("parse service account: type %q, want service_account", kf.Type)
	}
	if kf.ClientEmail == "" {
		return nil, errors.New("parse service account: no client_email")
	}
	key, err := parseRSAKey(kf.PrivateKey)
	if err != nil {
		return nil, fmt.Errorf("parse service account %s: %w", kf.ClientEmail, err)
	}
	sa := &ServiceAccount{ClientEmail: kf.ClientEmail, PrivateKeyID: kf.PrivateKeyID, TokenURI: kf.TokenURI, Key: key}
	if sa.TokenURI == "" {
		sa.TokenURI = DefaultTokenURI
	}
	return sa, nil
}

// parseRSAKey accepts PKCS#8 (what Google issues) and PKCS#1 PEM keys.
func parseRSAKey(p string) (*rsa.PrivateKey, error) {
	block, _ := pem.Decode([]byte(p))
	if block == nil {
		return nil, errors.New("private_key is not PEM")
	}
	if k, err := x509.ParsePKCS8PrivateKey(block.Bytes); err == nil {
		rk, ok := k.(*rsa.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("private_key is %T, want RSA", k)
		}
		return rk, nil
	}
	k, err := x509.ParsePKCS1PrivateKey(block.Bytes)
	if err != nil {
		return nil, errors.New("private_key is neither PKCS#8 nor PKCS#1 RSA")
	}
	return k, nil
}

// SignJWT returns the RS256-signed assertion for the JWT bearer grant at
// aud (the token endpoint), valid from now for an hour.
func (sa *ServiceAccount) SignJWT(aud string, now time.Time) (string, error) {
	header := map[string]string{"alg": "RS256", "typ": "JWT"}
	if sa.PrivateKeyID != "" {
		header["kid"] = sa.PrivateKeyID
	}
	claims := map[string]any{
		"iss":   sa.ClientEmail,
		"scope": Scope,
		"aud":   aud,
		"iat":   now.Unix(),
		"exp":   now.Add(assertionLifetime).Unix(),
	}
	h, err := json.Marshal(header)
	if err != nil {
		return "", fmt.Errorf("encode jwt header: %w", err)
	}
	c, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("encode jwt claims: %w", err)
	}
	enc := base64.RawURLEncoding
	signing := enc.EncodeToString(h) + "." + enc.EncodeToString(c)
	sum := sha256.Sum256([]byte(signing))
	sig, err := rsa.SignPKCS1v15(rand.Reader, sa.Key, crypto.SHA256, sum[:])
	if err != nil {
		return "", fmt.Errorf("sign jwt: %w", err)
	}
	return signing + "." + enc.EncodeToString(sig), nil
}

// Token is an access token and when it expires.
type Token struct {
	AccessToken string
	ExpiresAt   time.Time
}

// RefusedError is a token endpoint's verdict on the service account
// (revoked or deleted key, disabled account): only the operator can fix it.
type RefusedError struct {
	Status      int
	Code        string
	Description string
}

func (e *RefusedError) Error() string {
	msg := "token endpoint refused the service account: " + strconv.Itoa(e.Status) + " " + e.Code
	if e.Description != "" {
		msg += ": " + e.Description
	}
	return msg
}

// CheckTokenURL refuses a key file's token_uri that is not https on a
// Google host: the key file is user input and the gateway would send a
// signed assertion there. override (the channel's token_url) is the
// operator's own choice and is not restricted.
func CheckTokenURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("token_uri: %w", netguard.ErrInvalidURL)
	}
	if err := (&netguard.Guard{}).CheckURL(u); err != nil {
		return fmt.Errorf("token_uri: %w", err)
	}
	host := strings.ToLower(u.Hostname())
	if u.Scheme != "https" || (host != "googleapis.com" && !strings.HasSuffix(host, ".googleapis.com")) {
		return fmt.Errorf("token_uri %s://%s is not an https Google endpoint; set the channel's token_url to use another", u.Scheme, u.Host)
	}
	return nil
}

// tokenAnswer is RFC 6749 §5.1 and §5.2 together.
type tokenAnswer struct {
	AccessToken      string          `json:"access_token"`
	ExpiresIn        json.RawMessage `json:"expires_in"`
	Error            string          `json:"error"`
	ErrorDescription string          `json:"error_description"`
}

// Exchange obtains an access token for the service account in keyJSON:
// a signed JWT redeemed at tokenURL (the channel's token_url) or, when
// that is empty, at the key file's token_uri, which must be Google's.
func Exchange(ctx context.Context, client *http.Client, keyJSON []byte, tokenURL string, now time.Time) (Token, error) {
	sa, err := ParseServiceAccount(keyJSON)
	if err != nil {
		return Token{}, err
	}
	if tokenURL == "" {
		if err := CheckTokenURL(sa.TokenURI); err != nil {
			return Token{}, fmt.Errorf("service account %s: %w", sa.ClientEmail, err)
		}
		tokenURL = sa.TokenURI
	}
	// Google checks aud against its own endpoint; the key's token_uri is
	// what it expects even when the request goes to an override.
	assertion, err := sa.SignJWT(sa.TokenURI, now)
	if err != nil {
		return Token{}, err
	}
	return redeem(ctx, client, tokenURL, assertion, sa.ClientEmail, now)
}

func redeem(ctx context.Context, client *http.Client, tokenURL, assertion, email string, now time.Time) (Token, error) {
	if client == nil {
		client = http.DefaultClient
	}
	form := url.Values{"grant_type": {jwtBearer}, "assertion": {assertion}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, tokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return Token{}, fmt.Errorf("token exchange for %s: build request: %w", email, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return Token{}, fmt.Errorf("token exchange for %s: %w", email, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxTokenAnswer+1))
	if err != nil {
		return Token{}, fmt.Errorf("token exchange for %s: read answer: %w", email, err)
	}
	if len(body) > maxTokenAnswer {
		return Token{}, fmt.Errorf("token exchange for %s: answer larger than %d bytes", email, maxTokenAnswer)
	}
	var ans tokenAnswer
	jsonErr := json.Unmarshal(body, &ans)
	st := resp.StatusCode
	if st < 200 || st > 299 {
		// 408 and 429 say "not now"; other 4xx with an OAuth code are a
		// verdict on the key that retrying cannot change.
		if jsonErr == nil && ans.Error != "" && st >= 400 && st < 500 && st != http.StatusRequestTimeout && st != http.StatusTooManyRequests {
			return Token{}, &RefusedError{Status: st, Code: clip(ans.Error, assertion), Description: clip(ans.ErrorDescription, assertion)}
		}
		return Token{}, fmt.Errorf("token exchange for %s: token endpoint answered status %d %s", email, st, clip(ans.Error, assertion))
	}
	if jsonErr != nil || ans.AccessToken == "" {
		return Token{}, fmt.Errorf("token exchange for %s: status %d answer has no access_token", email, st)
	}
	tok := Token{AccessToken: ans.AccessToken}
	if secs, err := strconv.ParseFloat(strings.Trim(string(ans.ExpiresIn), `" `), 64); err == nil && secs > 0 && secs < 1e8 {
		tok.ExpiresAt = now.Add(time.Duration(secs) * time.Second)
	} else {
		// Google's tokens last an hour; an answer that does not say is
		// treated as shorter so the token is renewed in time.
		tok.ExpiresAt = now.Add(30 * time.Minute)
	}
	return tok, nil
}

// clip makes endpoint text safe for an error message.
func clip(s, secret string) string {
	s = strings.ReplaceAll(s, secret, "[redacted]")
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	if len(s) > 200 {
		s = strings.ToValidUTF8(s[:200], "") + "…"
	}
	return strings.TrimSpace(s)
}
