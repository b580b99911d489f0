package auth

import (
	"errors"
	"net/http"
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
	}, func() time.Time { return now })
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
	if _, err := New([]config.Key{{Name: "x", Key: "d"}, {Name: "y", Key: "d"}}, nil); err == nil {
		t.Fatal("duplicate key accepted")
	}
}
