package auth

import (
	"net/http/httptest"
	"net/netip"
	"testing"

	"github.com/switchyard/switchyard/internal/apierror"
	"github.com/switchyard/switchyard/internal/config"
)

func TestRoute(t *testing.T) {
	dir := fileDirectory(t, nil, []config.User{{Email: "ops@example.com", Group: "staff"}}, []config.Key{
		{Name: "admin", User: "ops@example.com", Key: "sk-admin-000000000000000000", Admin: true},
		{Name: "user", User: "u@example.com", Key: "sk-user-0000000000000000000"},
	})
	key := func(v string) *Key {
		r := httptest.NewRequest("POST", "/", nil)
		r.Header.Set("Authorization", "Bearer "+v)
		k, err := dir.Authenticate(r, netip.MustParseAddr("127.0.0.1"))
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	admin, user := key("sk-admin-000000000000000000"), key("sk-user-0000000000000000000")
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
