package config

import (
	"github.com/switchyard/switchyard/internal/sigv4"
	"net"
	"strings"
	"time"
)

// DefaultAzureAPIVersion is used for azure channels that do not name one.
const DefaultAzureAPIVersion = "2024-10-21"

// DefaultGroup is the group users, channels and keys belong to unless told
// otherwise.
const DefaultGroup = "default"

// Default returns the configuration of `switchyard serve` without a file:
// 127.0.0.1:8080 with SQLite and images under ./data.
func Default() *Config {
	c := base()
	c.finish()
	return c
}

// base holds the defaults that do not depend on other settings. Settings that
// do (public_url from listen; the database and image store from data_dir) are
// left empty here and filled by finish once the file, the environment and
// the flags have all been applied.
func base() *Config {
	return &Config{
		Server: Server{
			Listen:            "127.0.0.1:8080",
			DataDir:           "./data",
			ReadHeaderTimeout: 10 * time.Second,
			IdleTimeout:       120 * time.Second,
			ShutdownTimeout:   30 * time.Second,
			MaxBodyBytes:      32 << 20,
			MaxUploadBytes:    64 << 20,

			BodyIdleTimeout:           10 * time.Second,
			BodyMinRate:               500,
			BodyTimeout:               10 * time.Minute,
			UnauthenticatedConnsPerIP: 64,
		},
		Log:   Log{Level: "info", Format: "text"},
		Redis: Redis{Prefix: "sy:"},
		Scheduler: Scheduler{
			Strategy:            "round_robin",
			Cooldown429:         300 * time.Second,
			DailyUsageRatio:     0.8,
			MaxAttempts:         3,
			ChannelTestInterval: 10 * time.Minute,
			CircuitFailures:     5,
			CircuitPause:        30 * time.Second,
		},
		Upstream: Upstream{
			ConnectTimeout:   10 * time.Second,
			FirstByteTimeout: 120 * time.Second,
			StreamIdle:       300 * time.Second,
			MaxIdleConns:     256,
		},
		Billing: Billing{DefaultMaxTokens: 4096},
		Console: Console{SessionIdle: 24 * time.Hour, SessionMax: 30 * 24 * time.Hour},
		Topup:   Topup{OrderTTL: 30 * time.Minute, NotifyRate: 60},
		Images: Images{
			URLTTL:          24 * time.Hour,
			Retention:       168 * time.Hour,
			Workers:         4,
			TaskTimeout:     10 * time.Minute,
			MaxInputPixels:  50_000_000,
			MaxInputBytes:   50 << 20,
			MaxDecodeBytes:  160 << 20,
			MaxInputs:       16,
			FetchMaxBytes:   64 << 20,
			WebhookAttempts: 8,
			WebhookTimeout:  10 * time.Second,
		},
	}
}

// finish fills the defaults that depend on other settings.
func (c *Config) finish() {
	if c.Server.PublicURL == "" {
		c.Server.PublicURL = publicURLFor(c.Server.Listen)
	}
	if c.Database.URL == "" {
		c.Database.URL = Secret("sqlite://" + underDir(c.Server.DataDir, "switchyard.db"))
	}
	if c.Images.Storage == "" {
		c.Images.Storage = "file://" + underDir(c.Server.DataDir, "images")
	}
	if len(c.Groups) == 0 {
		c.Groups = []Group{{Name: DefaultGroup, Ratio: 1}}
	}
	for i := range c.Channels {
		ch := &c.Channels[i]
		if len(ch.Groups) == 0 {
			ch.Groups = []string{DefaultGroup}
		}
		ch.FillDefaults()
		if len(ch.Credentials) == 0 && ch.HasQuirk(QuirkKeyless) {
			// The pool leases credentials; a keyless server gets one
			// without a key.
			ch.Credentials = []Credential{{Weight: 1}}
		}
		if ch.Type == "bedrock" {
			for j := range ch.Credentials {
				ch.Credentials[j].PackAWSKey()
			}
		}
	}
	for i := range c.Users {
		u := &c.Users[i]
		if u.Group == "" {
			u.Group = DefaultGroup
		}
		if u.Role == "" {
			u.Role = "user"
		}
	}
}

func (g *Group) setDefaults()      { g.Ratio = 1 }
func (c *Channel) setDefaults()    { c.Weight = 1 }
func (c *Credential) setDefaults() { c.Weight = 1 }

// publicURLFor derives the base URL clients reach a node at from its listen
// address; an unspecified host (":8080", "0.0.0.0:8080") becomes 127.0.0.1,
// which is right for a laptop and wrong behind a proxy — hence public_url.
func publicURLFor(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return ""
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// underDir joins with "/" without cleaning, so ./data stays ./data (as the
// documentation shows it) rather than becoming data.
func underDir(dir, name string) string {
	if dir == "" {
		return name
	}
	return strings.TrimRight(dir, "/") + "/" + name
}

// BedrockURL is the Bedrock runtime endpoint of region.
func BedrockURL(region string) string { return "https://bedrock-runtime." + region + ".amazonaws.com" }

// awsKey is the key an AWS access key packs into.
func (c *Credential) awsKey() Secret {
	return Secret(sigv4.Credentials{AccessKeyID: c.AccessKeyID.Value(), SecretAccessKey: c.SecretAccessKey.Value(),
		SessionToken: c.SessionToken.Value()}.Key())
}

// FillDefaults sets the channel settings whose default depends on the
// others: azure's api_version, and the endpoint of a vertex location or a
// bedrock region when no base_url is given. The file's channels and the
// console's get the same.
func (ch *Channel) FillDefaults() {
	if ch.Type == "azure" && ch.APIVersion == "" {
		ch.APIVersion = DefaultAzureAPIVersion
	}
	// A location or region that is not one is left for validation to name,
	// rather than reported again as the base_url made from it.
	if ch.Type == "vertex" && ch.BaseURL == "" && (ch.Location == "" || vertexLocation.MatchString(ch.Location)) {
		ch.BaseURL = VertexBaseURL(ch.Location)
	}
	if ch.Type == "bedrock" && ch.BaseURL == "" && awsRegion.MatchString(ch.Region) {
		ch.BaseURL = BedrockURL(ch.Region)
	}
}

// PackAWSKey sets Key from a complete access key, leaving the fields for
// validation to check.
func (c *Credential) PackAWSKey() {
	if c.Key == "" && c.AccessKeyID != "" && c.SecretAccessKey != "" {
		c.Key = c.awsKey()
	}
}
