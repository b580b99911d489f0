package mock

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// refresh posts a refresh_token grant to path (which may carry a query).
func refresh(t *testing.T, ts *httptest.Server, path, rt string, extra url.Values) (*http.Response, []byte) {
	t.Helper()
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}
	for k, v := range extra {
		form[k] = v
	}
	return do(t, ts, req{path: path, body: form.Encode(), ctype: "application/x-www-form-urlencoded", noAuth: true})
}

func decodeToken(t *testing.T, b []byte) tokenResponse {
	t.Helper()
	var tr tokenResponse
	strictDecode(t, b, &tr)
	return tr
}

func wantOAuthError(t *testing.T, resp *http.Response, b []byte, status int, code string) oauthErrBody {
	t.Helper()
	if resp.StatusCode != status {
		t.Fatalf("status %d, want %d: %s", resp.StatusCode, status, b)
	}
	var e oauthErrBody
	strictDecode(t, b, &e)
	if e.Error != code {
		t.Fatalf("error %q, want %q: %s", e.Error, code, b)
	}
	return e
}

func TestOAuthRotates(t *testing.T) {
	_, ts := newServer(t, Options{})
	resp, b := refresh(t, ts, "/oauth/token", "seed-rt-1", nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, b)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q, want no-store", cc)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	tok := decodeToken(t, b)
	if !strings.HasPrefix(tok.AccessToken, "mock-at-") || len(tok.AccessToken) != len("mock-at-")+32 {
		t.Errorf("access_token %q", tok.AccessToken)
	}
	if !strings.HasPrefix(tok.RefreshToken, "mock-rt-") || len(tok.RefreshToken) != len("mock-rt-")+32 {
		t.Errorf("refresh_token %q", tok.RefreshToken)
	}
	if tok.TokenType != "Bearer" || tok.ExpiresIn != 3600 {
		t.Errorf("token_type %q expires_in %d, want Bearer 3600", tok.TokenType, tok.ExpiresIn)
	}

	// The seed is spent; the rotated token works exactly once.
	resp, b = refresh(t, ts, "/oauth/token", "seed-rt-1", nil)
	e := wantOAuthError(t, resp, b, http.StatusBadRequest, "invalid_grant")
	if e.Description != "refresh token already used" {
		t.Errorf("error_description %q", e.Description)
	}
	resp, b = refresh(t, ts, "/oauth/token", tok.RefreshToken, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("rotated token: status %d: %s", resp.StatusCode, b)
	}
	next := decodeToken(t, b)
	if next.RefreshToken == tok.RefreshToken || next.AccessToken == tok.AccessToken {
		t.Errorf("second refresh reissued the same tokens")
	}
	resp, b = refresh(t, ts, "/oauth/token", tok.RefreshToken, nil)
	wantOAuthError(t, resp, b, http.StatusBadRequest, "invalid_grant")
}

func TestOAuthExpiresInAndClientAuth(t *testing.T) {
	_, ts := newServer(t, Options{})
	// Client credentials in the form and in Basic auth are both ignored.
	hr := req{
		path:   "/oauth/token?expires_in=120",
		body:   "grant_type=refresh_token&refresh_token=rt-a&client_id=app&client_secret=s3cret",
		ctype:  "application/x-www-form-urlencoded; charset=utf-8",
		noAuth: true,
	}.build(t, ts.URL)
	hr.SetBasicAuth("app", "s3cret")
	resp, err := ts.Client().Do(hr)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tok tokenResponse
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d, decode: %v", resp.StatusCode, err)
	}
	if tok.ExpiresIn != 120 {
		t.Errorf("expires_in %d, want 120", tok.ExpiresIn)
	}
	resp2, b := refresh(t, ts, "/oauth/token?expires_in=0", "rt-b", nil)
	if resp2.StatusCode != http.StatusOK || decodeToken(t, b).ExpiresIn != 0 {
		t.Errorf("expires_in=0: status %d: %s", resp2.StatusCode, b)
	}
}

func TestOAuthBadRequests(t *testing.T) {
	_, ts := newServer(t, Options{})
	form := "application/x-www-form-urlencoded"
	for _, tc := range []struct {
		name, path, body, ctype, code string
	}{
		{"client_credentials grant", "/oauth/token", "grant_type=client_credentials", form, "unsupported_grant_type"},
		{"authorization_code grant", "/oauth/token", "grant_type=authorization_code&code=x&refresh_token=rt", form, "unsupported_grant_type"},
		{"no grant_type", "/oauth/token", "refresh_token=rt-1", form, "invalid_request"},
		{"no refresh_token", "/oauth/token", "grant_type=refresh_token", form, "invalid_request"},
		{"JSON body", "/oauth/token", `{"grant_type":"refresh_token","refresh_token":"rt-2"}`, "application/json", "invalid_request"},
		{"bad expires_in", "/oauth/token?expires_in=soon", "grant_type=refresh_token&refresh_token=rt-3", form, "invalid_request"},
		{"negative expires_in", "/oauth/token?expires_in=-5", "grant_type=refresh_token&refresh_token=rt-4", form, "invalid_request"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, b := do(t, ts, req{path: tc.path, body: tc.body, ctype: tc.ctype, noAuth: true})
			wantOAuthError(t, resp, b, http.StatusBadRequest, tc.code)
		})
	}
	// A refused request does not spend its token.
	resp, b := refresh(t, ts, "/oauth/token", "rt-3", nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("rt-3 after a refused request: status %d: %s", resp.StatusCode, b)
	}
}

func TestOAuthFaultsAndCounters(t *testing.T) {
	s, ts := newServer(t, Options{})
	putFault := func(cred, fault string) {
		t.Helper()
		resp, b := do(t, ts, req{method: http.MethodPut, path: "/_mock/faults", noAuth: true,
			body: `{"credential":"` + cred + `","fault":` + fault + `}`})
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("put fault: %d %s", resp.StatusCode, b)
		}
	}
	putFault("rt-flaky", `{"status":500,"times":1}`)
	resp, b := refresh(t, ts, "/oauth/token", "rt-flaky", nil)
	wantOAuthError(t, resp, b, http.StatusInternalServerError, "server_error")
	// The fault used up, the same token still works: a faulted request is
	// refused before the token is spent.
	resp, b = refresh(t, ts, "/oauth/token", "rt-flaky", nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("after the fault: status %d: %s", resp.StatusCode, b)
	}

	putFault("rt-revoked", `{"status":400}`)
	for range 2 {
		resp, b = refresh(t, ts, "/oauth/token", "rt-revoked", nil)
		wantOAuthError(t, resp, b, http.StatusBadRequest, "invalid_grant")
	}

	putFault("rt-busy", `{"status":429,"retry_after":7,"times":1}`)
	resp, b = refresh(t, ts, "/oauth/token", "rt-busy", nil)
	wantOAuthError(t, resp, b, http.StatusTooManyRequests, "temporarily_unavailable")
	if ra := resp.Header.Get("Retry-After"); ra != "7" {
		t.Errorf("Retry-After %q, want 7", ra)
	}

	// Per-request faults work here too.
	resp, b = do(t, ts, req{path: "/oauth/token", body: "grant_type=refresh_token&refresh_token=rt-hdr",
		ctype: "application/x-www-form-urlencoded", noAuth: true, header: map[string]string{"X-Mock-Fault": "status=503"}})
	wantOAuthError(t, resp, b, http.StatusServiceUnavailable, "temporarily_unavailable")

	c := s.Counters()
	for cred, want := range map[string]int64{"rt-flaky": 2, "rt-revoked": 2, "rt-busy": 1, "rt-hdr": 1} {
		if got := c.ByCredential[cred]; got != want {
			t.Errorf("by_credential[%s] = %d, want %d", cred, got, want)
		}
	}
	if got := c.ByCredentialPath["rt-flaky"]["/oauth/token"]; got != 2 {
		t.Errorf("by_credential_path[rt-flaky][/oauth/token] = %d, want 2", got)
	}
	if c.Status["500"] != 1 || c.Status["200"] != 1 || c.Status["400"] != 2 {
		t.Errorf("status counts %v", c.Status)
	}
	recs := s.Requests("rt-flaky")
	if len(recs) != 2 || recs[0].Status != 500 || recs[1].Status != 200 || recs[1].Path != "/oauth/token" {
		t.Errorf("recorded requests %+v", recs)
	}
}

func TestOAuthResetForgetsUsedTokens(t *testing.T) {
	_, ts := newServer(t, Options{})
	if resp, b := refresh(t, ts, "/oauth/token", "rt-x", nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, b)
	}
	if resp, _ := do(t, ts, req{path: "/_mock/reset", noAuth: true}); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("reset: %d", resp.StatusCode)
	}
	if resp, b := refresh(t, ts, "/oauth/token", "rt-x", nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("after reset: status %d: %s", resp.StatusCode, b)
	}
}

// Concurrent refreshes with one token: exactly one wins, as on a real
// rotating server.
func TestOAuthConcurrentRedeemOnce(t *testing.T) {
	_, ts := newServer(t, Options{})
	const n = 20
	var wg sync.WaitGroup
	statuses := make(chan int, n)
	for range n {
		wg.Go(func() {
			form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"rt-race"}}
			resp, err := ts.Client().PostForm(ts.URL+"/oauth/token", form)
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			statuses <- resp.StatusCode
		})
	}
	wg.Wait()
	close(statuses)
	counts := map[int]int{}
	for s := range statuses {
		counts[s]++
	}
	if counts[http.StatusOK] != 1 || counts[http.StatusBadRequest] != n-1 {
		t.Errorf("statuses %v, want one 200 and %d 400", counts, n-1)
	}
}
