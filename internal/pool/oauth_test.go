package pool_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/mock"
	"github.com/switchyard/switchyard/internal/pool"
)

// t0 anchors expires_in; Refresh must use it, not the wall clock.
var t0 = time.Date(2030, 5, 6, 7, 8, 9, 0, time.UTC)

func mockTokenURL(t *testing.T) (*mock.Server, *httptest.Server, string) {
	t.Helper()
	m := mock.New(mock.Options{})
	ts := httptest.NewServer(m)
	t.Cleanup(ts.Close)
	return m, ts, ts.URL + "/oauth/token"
}

// secretToken is distinctive enough that finding it in an error message
// can only mean it leaked.
func secretToken(t *testing.T) string {
	return "rt-SECRET-" + strings.ReplaceAll(t.Name(), "/", "-") + "-q8v3k"
}

func assertNoToken(t *testing.T, err error, tokens ...string) {
	t.Helper()
	if err == nil {
		t.Fatal("want an error, got nil")
	}
	for _, tok := range tokens {
		if tok != "" && strings.Contains(err.Error(), tok) {
			t.Errorf("error message leaks a token: %q", err.Error())
		}
	}
}

func TestRefreshRotatesAgainstMock(t *testing.T) {
	m, ts, tokenURL := mockTokenURL(t)
	seed := secretToken(t)
	tok, err := pool.Refresh(t.Context(), ts.Client(), tokenURL, seed, t0)
	if err != nil {
		t.Fatalf("refresh: %v", err)
	}
	if !strings.HasPrefix(tok.AccessToken, "mock-at-") || !strings.HasPrefix(tok.RefreshToken, "mock-rt-") {
		t.Fatalf("tokens %q / %q lack the mock prefixes", tok.AccessToken, tok.RefreshToken)
	}
	if want := t0.Add(time.Hour); !tok.ExpiresAt.Equal(want) {
		t.Errorf("ExpiresAt %v, want %v (now + default 3600 s)", tok.ExpiresAt, want)
	}
	recs := m.Requests(seed)
	if len(recs) != 1 {
		t.Fatalf("mock saw %d requests for the seed, want 1", len(recs))
	}
	if ct := recs[0].Headers["content-type"]; ct != "application/x-www-form-urlencoded" {
		t.Errorf("Content-Type %q", ct)
	}
	if a := recs[0].Headers["accept"]; a != "application/json" {
		t.Errorf("Accept %q", a)
	}

	// The rotated token works once more; the seed no longer does.
	next, err := pool.Refresh(t.Context(), ts.Client(), tokenURL, tok.RefreshToken, t0)
	if err != nil {
		t.Fatalf("refresh with the rotated token: %v", err)
	}
	if next.RefreshToken == tok.RefreshToken || next.AccessToken == tok.AccessToken {
		t.Error("second refresh returned the same tokens")
	}
	_, err = pool.Refresh(t.Context(), ts.Client(), tokenURL, seed, t0)
	var re *pool.RefreshError
	if !errors.As(err, &re) {
		t.Fatalf("reusing the old refresh token: got %v (%T), want *RefreshError", err, err)
	}
	if re.Status != http.StatusBadRequest || re.Code != "invalid_grant" || re.Description != "refresh token already used" {
		t.Errorf("RefreshError %+v", *re)
	}
	assertNoToken(t, err, seed)
}

func TestRefreshHonoursExpiresIn(t *testing.T) {
	_, ts, tokenURL := mockTokenURL(t)
	for _, tc := range []struct {
		query string
		want  time.Time
	}{
		{"?expires_in=90", t0.Add(90 * time.Second)},
		{"?expires_in=0", t0},
	} {
		tok, err := pool.Refresh(t.Context(), ts.Client(), tokenURL+tc.query, secretToken(t)+tc.query, t0)
		if err != nil {
			t.Fatalf("%s: %v", tc.query, err)
		}
		if !tok.ExpiresAt.Equal(tc.want) {
			t.Errorf("%s: ExpiresAt %v, want %v", tc.query, tok.ExpiresAt, tc.want)
		}
	}
}

// RFC 6749 §6 lets a server keep the refresh token; the old one then stays.
func TestRefreshKeepsTokenWhenNotRotated(t *testing.T) {
	old := secretToken(t)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil || r.Method != http.MethodPost ||
			r.PostForm.Get("grant_type") != "refresh_token" || r.PostForm.Get("refresh_token") != old {
			http.Error(w, `{"error":"invalid_request"}`, http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"access_token":"at-new","token_type":"bearer"}`)
	}))
	t.Cleanup(ts.Close)
	tok, err := pool.Refresh(t.Context(), ts.Client(), ts.URL, old, t0)
	if err != nil {
		t.Fatalf("refresh: %v", err)
	}
	if tok.AccessToken != "at-new" || tok.RefreshToken != old {
		t.Errorf("got access %q refresh %q, want at-new and the old refresh token", tok.AccessToken, tok.RefreshToken)
	}
	if !tok.ExpiresAt.IsZero() {
		t.Errorf("ExpiresAt %v, want zero (no expires_in)", tok.ExpiresAt)
	}
}

// Faults from the mock: which failures are final (*RefreshError) and which
// are transient, and that a transient one leaves the token usable.
func TestRefreshFaults(t *testing.T) {
	m, ts, tokenURL := mockTokenURL(t)
	for _, tc := range []struct {
		name      string
		fault     mock.Fault
		final     bool
		code      string
		thenWorks bool // the fault was one-off and the token unspent
	}{
		{"500 once", mock.Fault{Status: 500, Times: 1}, false, "", true},
		{"503 once", mock.Fault{Status: 503, Times: 1}, false, "", true},
		{"429 is not final", mock.Fault{Status: 429, RetryAfter: 3, Times: 1}, false, "", true},
		{"hangup", mock.Fault{Hangup: true, Times: 1}, false, "", true},
		{"malformed 200", mock.Fault{Malformed: true, Times: 1}, false, "", false},
		{"revoked", mock.Fault{Status: 400}, true, "invalid_grant", false},
		{"bad client", mock.Fault{Status: 401}, true, "invalid_client", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rt := secretToken(t)
			m.SetFault(rt, tc.fault)
			_, err := pool.Refresh(t.Context(), ts.Client(), tokenURL, rt, t0)
			assertNoToken(t, err, rt)
			var re *pool.RefreshError
			if got := errors.As(err, &re); got != tc.final {
				t.Fatalf("final = %v, want %v: %v", got, tc.final, err)
			}
			if tc.final && re.Code != tc.code {
				t.Errorf("code %q, want %q", re.Code, tc.code)
			}
			if tc.thenWorks {
				if _, err := pool.Refresh(t.Context(), ts.Client(), tokenURL, rt, t0); err != nil {
					t.Errorf("retry after a transient failure: %v", err)
				}
			}
		})
	}
}

// An endpoint that echoes tokens back must not get them into error
// messages, whatever the shape of its answer.
func TestRefreshErrorsNeverCarryTokens(t *testing.T) {
	const newAT, newRT = "at-NEW-SECRET-m2x9", "rt-NEW-SECRET-p4w7"
	for _, tc := range []struct {
		name   string
		status int
		body   string // %[1]s is the refresh token sent
	}{
		{"400 echoing the token", 400, `{"error":"invalid_grant","error_description":"token %[1]s was revoked"}`},
		{"400 code echoing the token", 400, `{"error":"bad %[1]s"}`},
		{"500 echoing the token", 500, `{"error":"server_error","error_description":"failed on %[1]s"}`},
		{"502 HTML", 502, `<html>upstream failed for %[1]s</html>`},
		{"200 without access_token", 200, `{"refresh_token":"` + newRT + `","note":"%[1]s"}`},
		{"200 error with 200 status", 200, `{"error":"invalid_grant","error_description":"%[1]s and ` + newRT + `","refresh_token":"` + newRT + `"}`},
		{"200 not JSON", 200, `access_token=` + newAT + `&refresh_token=%[1]s`},
		{"200 truncated JSON", 200, `{"access_token":"` + newAT + `","refresh_token":"%[1]s`},
		{"429 echoing", 429, `{"error":"slow_down","error_description":"retry %[1]s later"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rt := secretToken(t)
			ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(tc.status)
				_, _ = fmt.Fprintf(w, tc.body, rt)
			}))
			defer ts.Close()
			tok, err := pool.Refresh(t.Context(), ts.Client(), ts.URL, rt, t0)
			if tok != (pool.Token{}) {
				t.Errorf("a failed refresh returned a token")
			}
			assertNoToken(t, err, rt, newAT, newRT)
		})
	}
}

func TestRefreshTooLargeAnswer(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"access_token":"`+strings.Repeat("a", 70<<10)+`"}`)
	}))
	defer ts.Close()
	_, err := pool.Refresh(t.Context(), ts.Client(), ts.URL, secretToken(t), t0)
	if err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("want a size error, got %v", err)
	}
}

func TestRefreshContextCancel(t *testing.T) {
	arrived := make(chan struct{})
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The server notices a closed connection only once the body is read.
		_, _ = io.Copy(io.Discard, r.Body)
		close(arrived)
		<-r.Context().Done() // answer only when the client has gone
	}))
	defer ts.Close()
	ctx, cancel := context.WithCancel(t.Context())
	go func() {
		<-arrived
		cancel()
	}()
	rt := secretToken(t)
	_, err := pool.Refresh(ctx, ts.Client(), ts.URL, rt, t0)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	var re *pool.RefreshError
	if errors.As(err, &re) {
		t.Error("a cancelled refresh must not look final")
	}
	assertNoToken(t, err, rt)

	// Already cancelled: no request at all.
	_, _, tokenURL := mockTokenURL(t)
	if _, err := pool.Refresh(ctx, http.DefaultClient, tokenURL, rt, t0); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled context: got %v", err)
	}
}

func TestTokenRedacts(t *testing.T) {
	tok := pool.Token{AccessToken: "at-PRINT-SECRET-z1", RefreshToken: "rt-PRINT-SECRET-z2", ExpiresAt: t0}
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("refreshed", "token", tok)
	slog.New(slog.NewTextHandler(&logged, nil)).Info("refreshed", "token", tok)
	printed := fmt.Sprintf("%v %+v %#v %s %v", tok, tok, tok, tok, &tok) + logged.String()
	for _, s := range []string{tok.AccessToken, tok.RefreshToken} {
		if strings.Contains(printed, s) {
			t.Errorf("token printed or logged: %s", printed)
		}
	}
	if !strings.Contains(printed, "2030-05-06T07:08:09Z") {
		t.Errorf("expiry missing from %s", printed)
	}
}
