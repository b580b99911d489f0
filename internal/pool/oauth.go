package pool

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Token is what a refresh yields. Its String, GoString and LogValue hide
// both tokens, so printing or logging one by mistake leaks nothing.
type Token struct {
	AccessToken  string
	RefreshToken string
	ExpiresAt    time.Time // zero when the token endpoint did not say
}

var (
	_ fmt.Stringer   = Token{}
	_ fmt.GoStringer = Token{}
	_ slog.LogValuer = Token{}
)

func (t Token) String() string {
	if t.ExpiresAt.IsZero() {
		return "oauth token [redacted], expiry unknown"
	}
	return "oauth token [redacted], expires " + t.ExpiresAt.UTC().Format(time.RFC3339)
}

func (t Token) GoString() string { return "pool.Token{" + t.String() + "}" }

func (t Token) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("access_token", "[redacted]"),
		slog.String("refresh_token", "[redacted]"),
		slog.Time("expires_at", t.ExpiresAt),
	)
}

// RefreshError is a refresh the token endpoint refused (4xx with an OAuth
// error code, e.g. invalid_grant): retrying will not help; the credential
// needs the operator. Description has the refresh token blanked out in case
// the endpoint echoed it.
type RefreshError struct {
	Status      int
	Code        string
	Description string
}

func (e *RefreshError) Error() string {
	msg := "token endpoint refused the refresh: " + strconv.Itoa(e.Status) + " " + e.Code
	if e.Description != "" {
		msg += ": " + e.Description
	}
	return msg
}

// maxTokenResponse caps what is read from a token endpoint: a token answer
// is well under a kilobyte, and the endpoint is not trusted to be sane.
const maxTokenResponse = 64 << 10

// maxErrorDescription keeps an endpoint's error_description from flooding
// logs and the credential's stored reason.
const maxErrorDescription = 200

// tokenAnswer is the union of RFC 6749 §5.1 (success) and §5.2 (error).
type tokenAnswer struct {
	AccessToken      string          `json:"access_token"`
	ExpiresIn        json.RawMessage `json:"expires_in"`
	RefreshToken     string          `json:"refresh_token"`
	Error            string          `json:"error"`
	ErrorDescription string          `json:"error_description"`
}

// Refresh redeems refreshToken at tokenURL with the OAuth2 refresh_token
// grant (RFC 6749 §6). A refusal by the endpoint is a *RefreshError; a
// transport failure, a 5xx or a garbled answer is a plain error worth
// retrying later. No error message carries either token. The answer's
// refresh token replaces the old one; an endpoint that does not rotate
// (allowed by §6) leaves the old one in the result. now anchors expires_in.
func Refresh(ctx context.Context, client *http.Client, tokenURL, refreshToken string, now time.Time) (Token, error) {
	if client == nil {
		client = http.DefaultClient
	}
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refreshToken}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, tokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return Token{}, fmt.Errorf("oauth refresh: build request: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		// *url.Error names the token URL, never the form body.
		return Token{}, fmt.Errorf("oauth refresh: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxTokenResponse+1))
	if err != nil {
		return Token{}, fmt.Errorf("oauth refresh: read answer (status %d): %w", resp.StatusCode, err)
	}
	if len(body) > maxTokenResponse {
		return Token{}, fmt.Errorf("oauth refresh: answer (status %d) larger than %d bytes", resp.StatusCode, maxTokenResponse)
	}
	var ans tokenAnswer
	jsonErr := json.Unmarshal(body, &ans)

	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return Token{}, answerError(resp, ans, jsonErr, refreshToken)
	}
	if jsonErr != nil {
		// The decoder's message quotes no input, but a token answer is
		// never worth echoing: say only what kind of body it was.
		return Token{}, fmt.Errorf("oauth refresh: status %d answer (%s) is not a token JSON object", resp.StatusCode, mediaType(resp))
	}
	if ans.AccessToken == "" {
		if ans.Error != "" {
			// A few endpoints report errors with 200.
			return Token{}, &RefreshError{Status: resp.StatusCode,
				Code:        clean(ans.Error, refreshToken, ans.RefreshToken),
				Description: clean(ans.ErrorDescription, refreshToken, ans.RefreshToken)}
		}
		return Token{}, fmt.Errorf("oauth refresh: status %d answer has no access_token", resp.StatusCode)
	}
	// From here on the endpoint has most likely rotated the refresh token
	// already, so nothing that is merely odd (an unusual token_type, a
	// garbled expires_in) may fail the refresh: failing would drop the new
	// refresh token and lock the account out.
	tok := Token{AccessToken: ans.AccessToken, RefreshToken: ans.RefreshToken}
	if tok.RefreshToken == "" {
		tok.RefreshToken = refreshToken
	}
	if secs, ok := expiresIn(ans.ExpiresIn); ok {
		tok.ExpiresAt = now.Add(time.Duration(secs) * time.Second)
	}
	return tok, nil
}

// answerError classifies a non-2xx answer. A 4xx carrying an OAuth error
// code is the endpoint's verdict on the refresh token or the client, which
// a retry cannot change — except 408 and 429, which say "not now".
func answerError(resp *http.Response, ans tokenAnswer, jsonErr error, refreshToken string) error {
	st := resp.StatusCode
	code := clean(ans.Error, refreshToken, ans.AccessToken, ans.RefreshToken)
	if jsonErr == nil && code != "" && st >= 400 && st < 500 &&
		st != http.StatusRequestTimeout && st != http.StatusTooManyRequests {
		return &RefreshError{Status: st, Code: code, Description: clean(ans.ErrorDescription, refreshToken, ans.AccessToken, ans.RefreshToken)}
	}
	msg := fmt.Sprintf("oauth refresh: token endpoint answered status %d", st)
	if jsonErr == nil && code != "" {
		msg += " " + code
		if d := clean(ans.ErrorDescription, refreshToken, ans.AccessToken, ans.RefreshToken); d != "" {
			msg += ": " + d
		}
	} else {
		msg += " (" + mediaType(resp) + ")"
	}
	return errors.New(msg)
}

// expiresIn reads expires_in, a number of seconds; some endpoints send it
// as a string. ok is false when it is absent or implausible, which leaves
// the expiry unknown.
func expiresIn(raw json.RawMessage) (secs int64, ok bool) {
	s := strings.Trim(strings.TrimSpace(string(raw)), `"`)
	if s == "" || s == "null" {
		return 0, false
	}
	f, err := strconv.ParseFloat(s, 64)
	// Beyond ten years is nonsense, and would overflow time.Duration soon after.
	if err != nil || f < 0 || f > 10*365*24*3600 {
		return 0, false
	}
	return int64(f), true
}

// clean makes endpoint-supplied text safe for an error message: the
// tokens blanked out should the endpoint echo them, control
// characters dropped and the length capped.
func clean(s string, secrets ...string) string {
	for _, sec := range secrets {
		if sec != "" {
			s = strings.ReplaceAll(s, sec, "[redacted]")
		}
	}
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	if len(s) > maxErrorDescription {
		s = strings.ToValidUTF8(s[:maxErrorDescription], "") + "…"
	}
	return strings.TrimSpace(s)
}

func mediaType(resp *http.Response) string {
	mt, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if err != nil || mt == "" {
		return "no content type"
	}
	return mt
}
