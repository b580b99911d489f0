package pool

import (
	"testing"

	"github.com/switchyard/switchyard/internal/relay"
)

func TestRefusesCredential(t *testing.T) {
	cases := []struct {
		status int
		e      relay.UpstreamError
		want   bool
	}{
		{401, relay.UpstreamError{}, true},
		{401, relay.UpstreamError{Message: "content policy"}, true}, // a 401 is always about the credential
		{403, relay.UpstreamError{Code: "account_deactivated", Message: "This account has been deactivated."}, true},
		{403, relay.UpstreamError{Type: "permission_error", Message: "Your credit balance is too low; check billing."}, true},
		{403, relay.UpstreamError{Code: "PERMISSION_DENIED", Message: "API key not valid. Please pass a valid API key."}, true},
		{403, relay.UpstreamError{Message: "Your account was suspended for policy violations."}, true},
		{403, relay.UpstreamError{Type: "permission_error", Message: "mock fault: status 403"}, true}, // unclear: probe
		{403, relay.UpstreamError{Message: "Request blocked by content policy."}, false},
		{403, relay.UpstreamError{Code: "content_filter", Message: "The response was filtered."}, false},
		{403, relay.UpstreamError{Message: "Your organization does not have access to the model gpt-5."}, false},
		{403, relay.UpstreamError{Code: "unsupported_country_region_territory", Message: "Country, region, or territory not supported"}, false},
		{400, relay.UpstreamError{Message: "invalid api key"}, false},
		{429, relay.UpstreamError{}, false},
	}
	for _, c := range cases {
		if got := refusesCredential(c.status, c.e); got != c.want {
			t.Errorf("%d %+v: %v, want %v", c.status, c.e, got, c.want)
		}
	}
}
