package compat

import (
	"net/http/httptest"
	"testing"

	"github.com/switchyard/switchyard/internal/app/apptest"
	"github.com/switchyard/switchyard/internal/config"
	"github.com/switchyard/switchyard/internal/mock"
)

// gatewayUnserved is what the relay does not serve yet; each entry's tests
// skip on the gateway target. Add an entry (surface → tests it skips) when
// a script tests a surface ahead of the relay, and remove it when the relay
// serves it. Empty: the relay serves every surface the scripts test.
var gatewayUnserved = map[string]int{}

// gatewayTarget runs a real gateway (app.New, as `switchyard demo` builds
// it) in front of a mock upstream, with one channel of each upstream type
// and two credentials each. The chat model goes through the openai channel;
// the 429 tests use their own channel so a gateway that rests rate-limited
// credentials cannot starve the other tests.
func gatewayTarget(t *testing.T) target {
	up := httptest.NewServer(mock.New(mock.Options{}))
	t.Cleanup(up.Close)

	const key = "sk-sy-compat0123456789abcdefghijklmnopqrstuvwxyzABCD"
	cfg := apptest.Config(t)
	creds := func(prefix string) []config.Credential {
		return []config.Credential{{Key: config.Secret(prefix + "-1"), Weight: 1}, {Key: config.Secret(prefix + "-2"), Weight: 1}}
	}
	ch := func(name, typ string, models ...string) config.Channel {
		c := config.Channel{Name: name, Type: typ, BaseURL: up.URL, Models: models, Weight: 1,
			Groups: []string{config.DefaultGroup}, Credentials: creds("compat-" + name)}
		if typ == "azure" {
			c.APIVersion = config.DefaultAzureAPIVersion
		}
		return c
	}
	cfg.Channels = []config.Channel{
		ch("openai", "openai", "gpt-4o-mini", "text-embedding-3-small", "gpt-image-1"),
		ch("azure", "azure", "gpt-4o"),
		ch("anthropic", "anthropic", "claude-haiku-4-5"),
		ch("gemini", "gemini", "gemini-2.5-flash"),
		ch("ratelimited", "openai", "compat-rate-limited"),
	}
	cfg.Keys = []config.Key{{Name: "compat", Key: key}}

	a := apptest.Start(t, cfg)

	unserved, skipped := []string{}, 2 // the two "429 once" tests need the mock's control API
	for s, n := range gatewayUnserved {
		unserved = append(unserved, s)
		skipped += n
	}
	return target{
		name:               "gateway",
		baseURL:            "http://" + a.Addr(),
		apiKey:             key,
		invalidKey:         "sk-sy-not-a-configured-key-0000000000000000000000",
		upstreamControlURL: up.URL + "/_mock",
		mockReplies:        true,
		gateway:            true,
		unserved:           unserved,
		chatModel:          "gpt-4o-mini",
		embedModel:         "text-embedding-3-small",
		imageModel:         "gpt-image-1",
		claudeModel:        "claude-haiku-4-5",
		rateLimitModel:     "compat-rate-limited",
		skipped:            skipped,
	}
}
