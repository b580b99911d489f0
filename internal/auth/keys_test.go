package auth

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/apierror"
	"github.com/switchyard/switchyard/internal/config"
)

func TestAuthenticate(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ks, err := New([]config.Key{
		{Name: "a", Key: "sk-a", Models: []string{"m1"}},
		{Name: "old", Key: "sk-old", ExpiresAt: now},
		{Name: "net", Key: "sk-net", IPAllow: []string{"10.0.0.0/8", "192.168.1.5"}},
	}, nil, func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	local := netip.MustParseAddr("127.0.0.1")
	cases := []struct {
		name, header, value string
		ip                  netip.Addr
		code                string
	}{
		{"bearer", "Authorization", "Bearer sk-a", local, ""},
		{"x-api-key", "x-api-key", "sk-a", local, ""},
		{"missing", "", "", local, apierror.CodeInvalidAPIKey},
		{"unknown", "Authorization", "Bearer sk-b", local, apierror.CodeInvalidAPIKey},
		{"expired", "Authorization", "Bearer sk-old", local, apierror.CodeInvalidAPIKey},
		{"ip outside", "Authorization", "Bearer sk-net", local, apierror.CodeIPNotAllowed},
		{"ip inside", "Authorization", "Bearer sk-net", netip.MustParseAddr("10.1.2.3"), ""},
		{"single ip", "Authorization", "Bearer sk-net", netip.MustParseAddr("::ffff:192.168.1.5"), ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, _ := http.NewRequest(http.MethodPost, "/", nil)
			if c.header != "" {
				r.Header.Set(c.header, c.value)
			}
			k, err := ks.Authenticate(r, c.ip)
			var ae *apierror.Error
			switch {
			case c.code == "" && err != nil:
				t.Fatalf("unexpected %v", err)
			case c.code == "" && k == nil:
				t.Fatal("no key")
			case c.code != "" && (!errors.As(err, &ae) || ae.Code != c.code):
				t.Fatalf("got %v, want %s", err, c.code)
			}
		})
	}
	r, _ := http.NewRequest(http.MethodPost, "/", nil)
	r.Header.Set("x-api-key", "sk-a")
	k, _ := ks.Authenticate(r, local)
	if k.AllowModel("m1") != nil || apierror.As(k.AllowModel("m2")).Code != apierror.CodeModelNotAllowed {
		t.Fatal("model allowlist")
	}
	if _, err := New([]config.Key{{Name: "x", Key: "d"}, {Name: "y", Key: "d"}}, nil, nil); err == nil {
		t.Fatal("duplicate key accepted")
	}
}

func TestRoute(t *testing.T) {
	ks, err := New([]config.Key{
		{Name: "admin", User: "ops@example.com", Key: "sk-admin", Admin: true},
		{Name: "user", User: "u@example.com", Key: "sk-user"},
	}, []config.User{{Email: "ops@example.com", Group: "staff"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	key := func(v string) *Key {
		r := httptest.NewRequest("POST", "/", nil)
		r.Header.Set("Authorization", "Bearer "+v)
		k, err := ks.Authenticate(r, netip.MustParseAddr("127.0.0.1"))
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	admin, user := key("sk-admin"), key("sk-user")
	cases := []struct {
		k             *Key
		ch, cred      string
		group, wantCh string
		wantCred      int64
		wantStatus    int
	}{
		{admin, "", "", "staff", "", 0, 0},
		{user, "", "", config.DefaultGroup, "", 0, 0},
		{admin, "main", "", "staff", "main", 0, 0},
		{admin, "", "17", "staff", "", 17, 0},
		{admin, "main", "x", "", "", 0, 400},
		{admin, "", "-3", "", "", 0, 400},
		{user, "main", "", "", "", 0, 403},
		{user, "", "4", "", "", 0, 403},
	}
	for _, c := range cases {
		r := httptest.NewRequest("POST", "/", nil)
		if c.ch != "" {
			r.Header.Set(ChannelHeader, c.ch)
		}
		if c.cred != "" {
			r.Header.Set(CredentialHeader, c.cred)
		}
		g, ch, cred, err := c.k.Route(r)
		if c.wantStatus != 0 {
			if err == nil || apierror.As(err).Status != c.wantStatus {
				t.Errorf("%s %q %q: err %v, want status %d", c.k.Name, c.ch, c.cred, err, c.wantStatus)
			}
			continue
		}
		if err != nil || g != c.group || ch != c.wantCh || cred != c.wantCred {
			t.Errorf("%s %q %q: got %q %q %d %v", c.k.Name, c.ch, c.cred, g, ch, cred, err)
		}
	}
}
