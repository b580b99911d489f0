package mock

import (
	"crypto/rand"
	"encoding/hex"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"sync"
)

// POST /oauth/token is an OAuth2 token endpoint that knows only the
// refresh_token grant (RFC 6749 §6), so the gateway's refresh of OAuth
// credentials can be tested end to end. It rotates on every refresh: the
// refresh token used becomes invalid, as with providers that rotate, which
// is the case where a gateway that loses a new refresh token locks the
// account out. A token never seen before is accepted once, so tests seed any
// string they like. The credential, for counters, records and per-credential
// faults, is the refresh_token form value.

const (
	defaultTokenLifetime = 3600     // seconds, when the token URL has no ?expires_in=
	maxTokenFormBytes    = 64 << 10 // a refresh form is a few hundred bytes
)

// oauthState remembers the refresh tokens already redeemed. A mutex is
// enough: refreshes are rare next to model requests.
type oauthState struct {
	mu   sync.Mutex
	used map[string]struct{}
}

// redeem marks rt used and reports whether it was still unused. Checking and
// marking under one lock means two concurrent refreshes with the same token
// cannot both succeed — as on a real rotating server, which the gateway's
// one-refresh-at-a-time locking has to cope with.
func (o *oauthState) redeem(rt string) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if _, ok := o.used[rt]; ok {
		return false
	}
	if o.used == nil {
		o.used = make(map[string]struct{})
	}
	o.used[rt] = struct{}{}
	return true
}

func (o *oauthState) reset() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.used = nil
}

type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	RefreshToken string `json:"refresh_token"`
}

type oauthErrBody struct {
	Error       string `json:"error"`
	Description string `json:"error_description,omitempty"`
}

func (s *Server) oauthToken(w http.ResponseWriter, r *http.Request) {
	c := &call{s: s, r: r, prov: provOAuth}
	c.w = &respWriter{ResponseWriter: w, c: c}
	// The credential is inside the body, so the body is read before the
	// request is counted.
	form, readErr := c.readTokenForm()
	c.cred = form.Get("refresh_token")
	s.counters.begin(c.cred, r.URL.Path)
	defer c.finish()
	// RFC 6749 §5.1: token answers must not be cached. Set before any
	// answer, errors included.
	c.w.Header().Set("Cache-Control", "no-store")
	c.w.Header().Set("Pragma", "no-cache")

	if readErr != "" {
		writeOAuthError(c.w, http.StatusBadRequest, "invalid_request", readErr)
		return
	}
	switch gt := form.Get("grant_type"); gt {
	case "refresh_token":
	case "":
		writeOAuthError(c.w, http.StatusBadRequest, "invalid_request", "grant_type is required")
		return
	default:
		writeOAuthError(c.w, http.StatusBadRequest, "unsupported_grant_type", "the mock supports only grant_type=refresh_token")
		return
	}
	if c.cred == "" {
		writeOAuthError(c.w, http.StatusBadRequest, "invalid_request", "refresh_token is required")
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
	// Client authentication (client_id/client_secret in the form, or HTTP
	// Basic) is accepted and ignored: the mock has no registered clients.

	f, err := s.resolveFault(c)
	if err != nil {
		writeOAuthError(c.w, http.StatusBadRequest, "invalid_request", err.Error())
		return
	}
	c.fault = f
	// A faulted request is refused before the token is looked at, so the
	// token stays valid — a test can fail one refresh and retry it.
	if !c.applyFault() {
		return
	}
	if !s.oauth.redeem(c.cred) {
		writeOAuthError(c.w, http.StatusBadRequest, "invalid_grant", "refresh token already used")
		return
	}
	c.reply(tokenResponse{
		AccessToken:  "mock-at-" + randomHex(),
		TokenType:    "Bearer",
		ExpiresIn:    expiresIn,
		RefreshToken: "mock-rt-" + randomHex(),
	})
}

// readTokenForm reads the form-encoded body (keeping it for the request
// record); a non-empty string is what was wrong with it.
func (c *call) readTokenForm() (url.Values, string) {
	if c.r.Body == nil {
		return url.Values{}, "request body is empty"
	}
	b, err := io.ReadAll(io.LimitReader(c.r.Body, maxTokenFormBytes+1))
	if err != nil {
		return url.Values{}, "read body: " + err.Error()
	}
	if len(b) > maxTokenFormBytes {
		return url.Values{}, "request body too large"
	}
	c.body = b
	form, err := url.ParseQuery(string(b))
	if err != nil {
		return url.Values{}, "body is not form-encoded: " + err.Error()
	}
	if mt, _, _ := mime.ParseMediaType(c.r.Header.Get("Content-Type")); mt != "application/x-www-form-urlencoded" {
		// Parsed anyway so the request is counted under its credential.
		return form, "Content-Type must be application/x-www-form-urlencoded"
	}
	return form, ""
}

// oauthFaultCode is the RFC 6749 §5.2 error code that best fits a fault's
// status; 400 is invalid_grant, the answer for a revoked refresh token.
func oauthFaultCode(status int) string {
	switch {
	case status == http.StatusBadRequest:
		return "invalid_grant"
	case status == http.StatusUnauthorized:
		return "invalid_client"
	case status == http.StatusForbidden:
		return "unauthorized_client"
	case status == http.StatusTooManyRequests, status == http.StatusServiceUnavailable:
		return "temporarily_unavailable"
	case status >= 500:
		return "server_error"
	default:
		return "invalid_request"
	}
}

func writeOAuthError(w http.ResponseWriter, status int, code, desc string) {
	writeJSON(w, status, oauthErrBody{Error: code, Description: desc})
}

func randomHex() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
