package config

import (
	"encoding/hex"
	"regexp"

	"fmt"
	"github.com/switchyard/switchyard/internal/sigv4"
	"math"
	"net"
	"net/mail"
	"net/netip"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Enumerations accepted by Validate; other packages may use them for their
// own checks and help text.
var (
	Strategies   = []string{"round_robin", "random", "weighted", "least_used", "least_latency"}
	ChannelTypes = []string{"openai", "azure", "anthropic", "gemini", "vertex", "bedrock"}
	LogLevels    = []string{"debug", "info", "warn", "error"}
	LogFormats   = []string{"text", "json"}
	Roles        = []string{"user", "admin"}
	// ImageResponseFormats are the values of images.response_format and of
	// groups' and keys' image_response_format; "" defers to the next level
	// (key → group → images → the model's own default).
	ImageResponseFormats = []string{"", "url", "b64_json"}
)

const (
	minAdminPassword = 12
	minKeyLength     = 20
	maxAttempts      = 10
	// MaxChannelImages is the most channels[].max_images may be: OpenAI's
	// own limit of images per call.
	MaxChannelImages = 10
	// MinWebhookSecret is the shortest keys[].webhook_secret accepted.
	MinWebhookSecret = 16
	// MaxWebhookURL is the longest keys[].webhook_url (its column's size).
	MaxWebhookURL = 2048
)

// Validate checks every setting and reports all problems at once as Errors.
// Each message names what is wrong and how to fix it, and never contains a
// secret: database and Redis URLs are not echoed because they carry
// passwords, and proxy or upstream URLs are echoed without user info or query.
func (c *Config) Validate() error { return c.validate().orNil() }

// MultiNode reports whether other gateway nodes may share this node's state:
// Redis is configured, or the database is a server rather than a local file.
func (c *Config) MultiNode() bool {
	return c.Redis.URL != "" || c.DatabaseDialect() != "sqlite"
}

// DatabaseDialect is "sqlite", "postgres" or "mysql" from database.url's
// scheme, or "" when the scheme is none of those.
func (c *Config) DatabaseDialect() string {
	scheme, _, _ := strings.Cut(string(c.Database.URL), "://")
	switch strings.ToLower(scheme) {
	case "sqlite":
		return "sqlite"
	case "postgres", "postgresql":
		return "postgres"
	case "mysql":
		return "mysql"
	}
	return ""
}

// SQLitePath is the file path of a sqlite:// database URL without its query
// (sqlite://./data/switchyard.db → ./data/switchyard.db), or "".
func (d Database) SQLitePath() string {
	rest, ok := strings.CutPrefix(string(d.URL), "sqlite://")
	if !ok {
		return ""
	}
	p, _, _ := strings.Cut(rest, "?")
	return p
}

type validator struct{ errs Errors }

func (v *validator) add(path, format string, args ...any) {
	v.errs = append(v.errs, FieldError{Path: path, Message: fmt.Sprintf(format, args...)})
}

func (c *Config) validate() Errors {
	v := &validator{}
	v.server(c.Server)
	v.oneOf("log.level", c.Log.Level, LogLevels)
	v.oneOf("log.format", c.Log.Format, LogFormats)
	v.database(c.Database)
	v.redis(c.Redis)
	v.secretKey(c)
	v.admin(c.Admin)
	v.scheduler(c.Scheduler)
	v.upstream(c.Upstream)
	groups := v.groups(c.Groups)
	v.channels(c.Channels, groups)
	users := v.users(c.Users, groups)
	v.keys(c.Keys, users, c.Admin.Email, c.Images.WebhookAllowPrivate)
	v.billing(c.Billing)
	v.pricing(c.Pricing)
	v.images(c.Images)
	v.metrics(c.Metrics, c.Server.Listen)
	v.console(c.Console)
	v.topup(c.Topup)
	return v.errs
}

func (v *validator) server(s Server) {
	if problem := checkListen(s.Listen); problem != "" {
		v.add("server.listen", "%s", problem)
	}
	// An empty public_url means listen was unusable, already reported above.
	if s.PublicURL != "" {
		if v.httpURL("server.public_url", s.PublicURL) {
			if u, _ := url.Parse(s.PublicURL); u.RawQuery != "" || u.Fragment != "" {
				v.add("server.public_url", "must not have a query or fragment; it is the base other paths are appended to")
			}
		}
	}
	if strings.TrimSpace(s.DataDir) == "" {
		v.add("server.data_dir", "must not be empty; it holds the SQLite database, images and the generated secret key (default ./data)")
	}
	v.positiveDuration("server.read_header_timeout", s.ReadHeaderTimeout)
	v.nonNegativeDuration("server.idle_timeout", s.IdleTimeout)
	v.nonNegativeDuration("server.shutdown_timeout", s.ShutdownTimeout)
	if s.MaxBodyBytes <= 0 {
		v.add("server.max_body_bytes", "must be greater than 0 (default 33554432, 32 MiB)")
	}
	if s.MaxUploadBytes <= 0 {
		v.add("server.max_upload_bytes", "must be greater than 0 (default 67108864, 64 MiB)")
	}
	for i, p := range s.TrustedProxies {
		v.ipOrCIDR(fmt.Sprintf("server.trusted_proxies[%d]", i), p)
	}
	v.positiveDuration("server.body_idle_timeout", s.BodyIdleTimeout)
	if s.BodyMinRate < 0 {
		v.add("server.body_min_rate", "must be ≥ 0 bytes per second (0: no minimum; default 500)")
	}
	v.nonNegativeDuration("server.body_timeout", s.BodyTimeout)
	if s.UnauthenticatedConnsPerIP < 0 {
		v.add("server.unauthenticated_conns_per_ip", "must be ≥ 0 (0: no cap; default 64)")
	}
}

func (v *validator) console(c Console) {
	if c.SessionIdle < time.Minute {
		v.add("console.session_idle", "must be at least 1m (default 24h)")
	}
	if c.SessionMax < time.Minute {
		v.add("console.session_max", "must be at least 1m (default 720h, 30 days)")
	} else if c.SessionMax < c.SessionIdle {
		v.add("console.session_max", "must not be shorter than console.session_idle (%s)", c.SessionIdle)
	}
}

func (v *validator) metrics(m Metrics, serverListen string) {
	if m.Listen != "" {
		if problem := checkListen(m.Listen); problem != "" {
			v.add("metrics.listen", "%s", problem)
		} else if m.Listen == serverListen {
			v.add("metrics.listen", "%q is server.listen; give /metrics its own port, or leave metrics.listen empty", m.Listen)
		}
	}
	if m.Token != "" && len(m.Token) < 16 {
		v.add("metrics.token", "must be at least 16 characters; a short token can be guessed")
	}
}

func checkListen(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return fmt.Sprintf("%q is not host:port; write it like 127.0.0.1:8080, [::1]:8080 or :8080", listen)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Sprintf("port %q must be a number from 0 to 65535", port)
	}
	if strings.ContainsAny(host, " /\t") {
		return fmt.Sprintf("host %q is not a host name or IP address", host)
	}
	return ""
}

func (v *validator) database(d Database) {
	raw := string(d.URL)
	scheme, rest, ok := strings.Cut(raw, "://")
	switch {
	case raw == "":
		v.add("database.url", "must not be empty; the default is sqlite://<data_dir>/switchyard.db")
	case !ok || (scheme != "sqlite" && scheme != "postgres" && scheme != "postgresql" && scheme != "mysql"):
		v.add("database.url", "scheme must be sqlite://, postgres:// or mysql:// (value not shown: it may contain a password)")
	case scheme == "sqlite" && d.SQLitePath() == "":
		v.add("database.url", "sqlite:// needs a file path, e.g. sqlite://./data/switchyard.db")
	case scheme != "sqlite" && rest == "":
		v.add("database.url", "%s:// needs a host and database, e.g. %s", scheme, exampleDB[scheme])
	case scheme == "postgres" || scheme == "postgresql":
		if u, err := url.Parse(raw); err != nil || u.Host == "" {
			v.add("database.url", "is not a valid PostgreSQL URL; write it like %s (value not shown: it may contain a password)", exampleDB[scheme])
		}
	}
	if d.MaxOpenConns < 0 {
		v.add("database.max_open_conns", "must be 0 (driver default) or more")
	}
	v.nonNegativeDuration("database.conn_max_idle", d.ConnMaxIdle)
}

var exampleDB = map[string]string{
	"postgres":   "postgres://user:password@host:5432/db",
	"postgresql": "postgresql://user:password@host:5432/db",
	"mysql":      "mysql://user:password@tcp(host:3306)/db",
}

func (v *validator) redis(r Redis) {
	if r.Prefix == "" || len(r.Prefix) > 64 || strings.ContainsFunc(r.Prefix, func(c rune) bool { return c <= ' ' || c > '~' }) {
		v.add("redis.prefix", "%q must be 1 to 64 printable ASCII characters without spaces (default \"sy:\")", r.Prefix)
	}
	if r.URL == "" {
		return
	}
	scheme, rest, ok := strings.Cut(string(r.URL), "://")
	if !ok || (scheme != "redis" && scheme != "rediss") {
		v.add("redis.url", "scheme must be redis:// or rediss:// (value not shown: it may contain a password)")
		return
	}
	if u, err := url.Parse(string(r.URL)); rest == "" || err != nil || u.Host == "" {
		v.add("redis.url", "needs a host, e.g. redis://127.0.0.1:6379/0 (value not shown: it may contain a password)")
	}
}

func (v *validator) secretKey(c *Config) {
	k := string(c.SecretKey)
	if k == "" {
		// An unknown scheme is reported on database.url; no second error.
		if c.Redis.URL != "" || (c.MultiNode() && c.DatabaseDialect() != "") {
			// Each node would generate its own key, and image URLs signed by
			// one node would fail on the others.
			v.add("secret_key", "required when nodes share a database server or Redis, so every node signs and seals alike; generate one with `openssl rand -hex 32`")
		}
		return
	}
	if _, err := hex.DecodeString(k); len(k) != 64 || err != nil {
		v.add("secret_key", "must be exactly 64 hexadecimal characters (32 bytes); generate one with `openssl rand -hex 32` (value not shown)")
	}
}

func (v *validator) admin(a Admin) {
	if a.Email != "" && !validEmail(a.Email) {
		v.add("admin.email", "%q is not an email address (name@example.com)", a.Email)
	}
	if a.Password != "" {
		if utf8.RuneCountInString(string(a.Password)) < minAdminPassword {
			v.add("admin.password", "too short: use at least %d characters (value not shown)", minAdminPassword)
		}
		if a.Email == "" {
			v.add("admin.email", "required when admin.password is set: it is the administrator's login")
		}
	}
}

func (v *validator) scheduler(s Scheduler) {
	v.oneOf("scheduler.strategy", s.Strategy, Strategies)
	v.nonNegativeDuration("scheduler.min_interval", s.MinInterval)
	v.nonNegativeDuration("scheduler.cooldown_429", s.Cooldown429)
	v.nonNegativeDuration("scheduler.channel_test_interval", s.ChannelTestInterval)
	v.nonNegativeDuration("scheduler.circuit_pause", s.CircuitPause)
	if !(s.DailyUsageRatio > 0 && s.DailyUsageRatio <= 1) {
		v.add("scheduler.daily_usage_ratio", "%v must be greater than 0 and at most 1 (default 0.8)", s.DailyUsageRatio)
	}
	if s.MaxAttempts < 1 || s.MaxAttempts > maxAttempts {
		v.add("scheduler.max_attempts", "%d must be from 1 to %d (default 3)", s.MaxAttempts, maxAttempts)
	}
	if s.CircuitFailures < 0 {
		v.add("scheduler.circuit_failures", "%d must be 0 (never open the circuit) or more", s.CircuitFailures)
	}
}

func (v *validator) upstream(u Upstream) {
	v.positiveDuration("upstream.connect_timeout", u.ConnectTimeout)
	v.positiveDuration("upstream.first_byte_timeout", u.FirstByteTimeout)
	v.positiveDuration("upstream.stream_idle_timeout", u.StreamIdle)
	if u.MaxIdleConns < 0 {
		v.add("upstream.max_idle_conns_per_host", "%d must be 0 or more", u.MaxIdleConns)
	}
}

// groups returns the set of declared group names.
func (v *validator) groups(groups []Group) map[string]bool {
	names := map[string]bool{}
	first := map[string]int{}
	for i, g := range groups {
		p := fmt.Sprintf("groups[%d]", i)
		if strings.TrimSpace(g.Name) == "" {
			v.add(p+".name", "must not be empty")
		} else if j, dup := first[g.Name]; dup {
			v.add(p+".name", "group %q is already declared at groups[%d]; names must be unique", g.Name, j)
		} else {
			first[g.Name] = i
		}
		names[g.Name] = true
		v.nonNegative(p+".ratio", g.Ratio)
		v.limits(p, g.RPM, g.TPM, g.DailyRequests)
		v.oneOf(p+".image_response_format", g.ImageResponseFormat, ImageResponseFormats)
	}
	return names
}

func (v *validator) channels(chs []Channel, groups map[string]bool) {
	first := map[string]int{}
	for i, ch := range chs {
		p := fmt.Sprintf("channels[%d]", i)
		if j, dup := first[ch.Name]; dup && strings.TrimSpace(ch.Name) != "" {
			v.add(p+".name", "channel %q is already declared at channels[%d]; names must be unique", ch.Name, j)
		} else {
			first[ch.Name] = i
		}
		v.channel(p, ch, groups)
		if len(ch.Credentials) == 0 {
			v.add(p+".credentials", "no credentials; add at least one (key: or access_token:)")
		}
		v.credentials(p, ch)
	}
}

// channel checks one channel's own settings (not its credentials) at path p.
func (v *validator) channel(p string, ch Channel, groups map[string]bool) {
	if strings.TrimSpace(ch.Name) == "" {
		v.add(p+".name", "must not be empty; every channel needs a unique name")
	}
	v.oneOf(p+".type", ch.Type, ChannelTypes)
	if ch.Type == "vertex" {
		// First: a bad location is why its default base_url is missing.
		v.vertexChannel(p, ch)
	}
	switch {
	case ch.Type == "bedrock" && !awsRegion.MatchString(ch.Region):
		v.add(p+".region", "%q is not an AWS region; bedrock channels need one, e.g. us-east-1", ch.Region)
	case ch.Type != "bedrock" && ch.Region != "":
		v.add(p+".region", "only bedrock channels have a region")
	default:
		v.httpURL(p+".base_url", ch.BaseURL)
	}
	if ch.Type == "azure" && ch.APIVersion == "" {
		v.add(p+".api_version", "required for azure channels, e.g. %s", DefaultAzureAPIVersion)
	}
	v.oneOf(p+".hosted_tools", ch.HostedTools, []string{"", HostedToolsDrop, HostedToolsRefuse})
	if ch.Flavor != "" || len(ch.Quirks) > 0 {
		v.flavor(p, ch)
	}
	if ch.TokenURL != "" {
		v.httpURL(p+".token_url", ch.TokenURL)
	}
	v.names(p+".models", ch.Models, "model", true)
	for _, from := range sortedKeys(ch.ModelMap) {
		mp := mapKeyPath(p+".model_map", from)
		if strings.TrimSpace(from) == "" {
			v.add(mp, "model name to map from must not be empty")
		}
		if strings.TrimSpace(ch.ModelMap[from]) == "" {
			v.add(mp, "upstream model name must not be empty")
		} else if IsModelPattern(ch.ModelMap[from]) {
			v.add(mp, "upstream model name %q must be a name, not a pattern", ch.ModelMap[from])
		}
	}
	if IsModelPattern(ch.TestModel) {
		v.add(p+".test_model", "%q must be a model name, not a pattern", ch.TestModel)
	} else if ch.TestModel == "" && len(ch.Models) > 0 && ch.ProbeModel() == "" {
		v.add(p+".test_model", "required when every entry of models is a pattern: name a model the periodic credential test may ask for")
	}
	for j, g := range ch.Groups {
		if !groups[g] {
			v.add(fmt.Sprintf("%s.groups[%d]", p, j), "group %q is not declared; add it under groups: or use one of %s", g, quoteList(sortedKeys(groups)))
		}
	}
	if ch.Weight < 1 {
		v.add(p+".weight", "%d must be 1 or more (default 1)", ch.Weight)
	}
	if ch.Proxy != "" {
		v.proxy(p+".proxy", ch.Proxy)
	}
	if ch.Strategy != "" {
		v.oneOf(p+".strategy", ch.Strategy, Strategies)
	}
	if ch.MaxImages < 0 || ch.MaxImages > MaxChannelImages {
		v.add(p+".max_images", "%d must be from 0 (the upstream model's default) to %d", ch.MaxImages, MaxChannelImages)
	}
}

// flavor checks an openai channel's flavor and quirks.
func (v *validator) flavor(p string, ch Channel) {
	if ch.Type != "openai" {
		v.add(p+".flavor", "flavor and quirks apply to openai channels only; this one is %s", ch.Type)
		return
	}
	if _, ok := Flavors[ch.Flavor]; ch.Flavor != "" && !ok {
		v.add(p+".flavor", "%q is not a known flavor; use one of %s", ch.Flavor, quoteList(sortedKeys(Flavors)))
	}
	for i, q := range ch.Quirks {
		v.oneOf(fmt.Sprintf("%s.quirks[%d]", p, i), q, Quirks)
	}
}

func (v *validator) credentials(chPath string, ch Channel) {
	seen := map[Secret]int{}
	for i, cr := range ch.Credentials {
		p := fmt.Sprintf("%s.credentials[%d]", chPath, i)
		if cr.Key != "" && cr.AccessToken == "" {
			if j, dup := seen[cr.Key]; dup {
				v.add(p+".key", "same key as credentials[%d] of this channel; remove the duplicate", j)
			} else {
				seen[cr.Key] = i
			}
		}
		v.credential(p, ch, cr)
	}
}

// awsRegion is the shape of an AWS region name (us-east-1, us-gov-west-1).
var awsRegion = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]+$`)

// awsCredential checks a bedrock channel's credential: an access key, given
// as its fields or already packed as key.
func (v *validator) awsCredential(p string, ch Channel, cr Credential) {
	if ch.Type != "bedrock" {
		if cr.AccessKeyID != "" || cr.SecretAccessKey != "" || cr.SessionToken != "" {
			v.add(p+".access_key_id", "only bedrock channels take AWS access keys; use key")
		}
		return
	}
	switch {
	case cr.AccessToken != "":
		v.add(p+".access_token", "bedrock channels take access_key_id and secret_access_key, not OAuth tokens")
	case cr.AccessKeyID != "" && cr.SecretAccessKey == "":
		v.add(p+".secret_access_key", "empty; an access key needs its secret")
	case cr.AccessKeyID == "" && (cr.SecretAccessKey != "" || cr.SessionToken != ""):
		v.add(p+".access_key_id", "empty; set it with secret_access_key")
	case cr.AccessKeyID != "" && cr.Key != cr.awsKey():
		v.add(p+".key", "set either key or access_key_id, not both")
	case cr.Key == "":
		v.add(p+".access_key_id", "empty; set access_key_id and secret_access_key (and session_token for temporary credentials)")
	default:
		if _, err := sigv4.ParseKey(cr.Key.Value()); err != nil {
			v.add(p+".key", "a bedrock key must be ACCESS_KEY_ID:SECRET_ACCESS_KEY[:SESSION_TOKEN]; or use access_key_id and secret_access_key")
		}
	}
}

// credential checks one credential of ch at path p.
func (v *validator) credential(p string, ch Channel, cr Credential) {
	v.awsCredential(p, ch, cr)
	switch {
	case ch.Type == "vertex" || cr.ServiceAccount != "":
		v.vertexCredential(p, ch, cr)
	case ch.Type == "bedrock": // awsCredential said it all
	case cr.Key == "" && cr.AccessToken == "" && !ch.HasQuirk(QuirkKeyless):
		v.add(p+".key", "empty; set key (an API key) or access_token (an OAuth token)")
	case cr.Key != "" && cr.AccessToken != "":
		v.add(p+".access_token", "set either key or access_token, not both")
	}
	if cr.RefreshToken != "" {
		if cr.AccessToken == "" {
			v.add(p+".refresh_token", "goes with access_token; an API key (key:) is never refreshed")
		}
		if ch.TokenURL == "" {
			v.add(p+".refresh_token", "needs token_url on the channel to refresh against")
		}
	}
	if cr.Email != "" && !validEmail(cr.Email) {
		v.add(p+".email", "%q is not an email address", cr.Email)
	}
	if cr.DailyLimit < 0 {
		v.add(p+".daily_limit", "%d must be 0 (no limit) or more", cr.DailyLimit)
	}
	if cr.DailyTokens < 0 {
		v.add(p+".daily_tokens", "%d must be 0 (no limit) or more", cr.DailyTokens)
	}
	v.nonNegative(p+".daily_spend", cr.DailySpend)
	if cr.Proxy != "" {
		v.proxy(p+".proxy", cr.Proxy)
	}
	if cr.Weight < 1 {
		v.add(p+".weight", "%d must be 1 or more (default 1)", cr.Weight)
	}
}

// ValidateChannel checks a channel made outside the file (the console) by
// the rules of channels[] in the file, given the declared group names. Its
// credentials are not checked: they are added one by one. Paths are
// relative to the channel: "base_url", "model_map.gpt-4o", "groups[0]".
func ValidateChannel(ch Channel, groups []string) error {
	v := &validator{}
	known := make(map[string]bool, len(groups))
	for _, g := range groups {
		known[g] = true
	}
	v.channel("", ch, known)
	return v.relative()
}

// ValidateCredential checks one credential of ch by the rules of
// channels[].credentials[] in the file. Paths are relative to the
// credential: "key", "weight".
func ValidateCredential(ch Channel, cr Credential) error {
	v := &validator{}
	v.credential("", ch, cr)
	return v.relative()
}

// relative strips the leading dot an empty path prefix leaves.
func (v *validator) relative() error {
	for i := range v.errs {
		v.errs[i].Path = strings.TrimPrefix(v.errs[i].Path, ".")
	}
	return v.errs.orNil()
}

// users returns the declared emails, lower-cased.
func (v *validator) users(users []User, groups map[string]bool) map[string]bool {
	emails := map[string]bool{}
	first := map[string]int{}
	for i, u := range users {
		p := fmt.Sprintf("users[%d]", i)
		low := strings.ToLower(u.Email)
		switch {
		case u.Email == "":
			v.add(p+".email", "must not be empty; users are identified by email")
		case !validEmail(u.Email):
			v.add(p+".email", "%q is not an email address (name@example.com)", u.Email)
		default:
			if j, dup := first[low]; dup {
				v.add(p+".email", "%q is already declared at users[%d]", u.Email, j)
			} else {
				first[low] = i
			}
		}
		emails[low] = true
		if !groups[u.Group] {
			v.add(p+".group", "group %q is not declared; add it under groups: or use one of %s", u.Group, quoteList(sortedKeys(groups)))
		}
		v.oneOf(p+".role", u.Role, Roles)
		v.nonNegative(p+".credit", u.Credit)
	}
	return emails
}

func (v *validator) keys(keys []Key, users map[string]bool, adminEmail string, webhookAllowPrivate bool) {
	names := map[string]int{}
	values := map[Secret]int{}
	for i, k := range keys {
		p := fmt.Sprintf("keys[%d]", i)
		if strings.TrimSpace(k.Name) == "" {
			v.add(p+".name", "must not be empty; every key needs a unique name")
		} else if j, dup := names[k.Name]; dup {
			v.add(p+".name", "key %q is already declared at keys[%d]; names must be unique", k.Name, j)
		} else {
			names[k.Name] = i
		}
		switch low := strings.ToLower(k.User); {
		case k.User == "":
			v.add(p+".user", "must not be empty; name a user's email from users: or admin.email")
		case !users[low] && (adminEmail == "" || low != strings.ToLower(adminEmail)):
			v.add(p+".user", "%q is not declared; add it under users: (or use admin.email)", k.User)
		}
		switch {
		case k.Key == "":
			v.add(p+".key", "empty; set the key value clients will send (at least %d characters)", minKeyLength)
		case len(k.Key) < minKeyLength:
			v.add(p+".key", "too short: use at least %d characters so it cannot be guessed (value not shown)", minKeyLength)
		default:
			if j, dup := values[k.Key]; dup {
				v.add(p+".key", "same value as keys[%d]; every key must be distinct (value not shown)", j)
			} else {
				values[k.Key] = i
			}
		}
		v.names(p+".models", k.Models, "model", false)
		if k.Quota != nil {
			v.nonNegative(p+".quota", *k.Quota)
		}
		v.limits(p, k.RPM, k.TPM, k.DailyRequests)
		for j, a := range k.IPAllow {
			v.ipOrCIDR(fmt.Sprintf("%s.ip_allow[%d]", p, j), a)
		}
		v.oneOf(p+".image_response_format", k.ImageResponseFormat, ImageResponseFormats)
		if k.WebhookURL != "" {
			if problem := CheckWebhookURL(k.WebhookURL, webhookAllowPrivate); problem != "" {
				v.add(p+".webhook_url", "%s", problem)
			}
		}
		if problem := CheckWebhookSecret(k.WebhookURL, k.WebhookSecret.Value()); problem != "" {
			v.add(p+".webhook_secret", "%s", problem)
		}
	}
}

// CheckWebhookURL returns what is wrong with a key's webhook URL, or "".
// It must be https:// with a host and no user info (a secret in the URL
// would be logged by every proxy on the way; the webhook secret signs
// deliveries instead); http:// is accepted only when allowPrivate
// (images.webhook_allow_private) is set. The URL is echoed redacted.
func CheckWebhookURL(raw string, allowPrivate bool) string {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return "is not a valid URL; write it like https://hooks.example.com/switchyard"
	case len(raw) > MaxWebhookURL:
		return fmt.Sprintf("is %d bytes long; at most %d are stored", len(raw), MaxWebhookURL)
	case u.Scheme == "http" && !allowPrivate:
		return fmt.Sprintf("%q must be https://; http:// is allowed only with images.webhook_allow_private: true", redactURL(raw))
	case u.Scheme != "https" && u.Scheme != "http":
		return fmt.Sprintf("%q is not an https URL; write it like https://hooks.example.com/switchyard", redactURL(raw))
	case u.User != nil:
		return fmt.Sprintf("%q must not carry user info (user:password@); deliveries are signed with webhook_secret instead", redactURL(raw))
	case u.Hostname() == "":
		return fmt.Sprintf("%q has no host; write it like https://hooks.example.com/switchyard", redactURL(raw))
	}
	return ""
}

// CheckWebhookSecret returns what is wrong with a key's webhook secret
// given its webhook URL, or "". The secret is never echoed.
func CheckWebhookSecret(webhookURL, secret string) string {
	switch {
	case webhookURL != "" && secret == "":
		return fmt.Sprintf("required when webhook_url is set: deliveries are signed with it; use at least %d random characters (`openssl rand -hex 32`)", MinWebhookSecret)
	case webhookURL == "" && secret != "":
		return "set without webhook_url; set webhook_url too, or remove the secret"
	case secret != "" && utf8.RuneCountInString(secret) < MinWebhookSecret:
		return fmt.Sprintf("too short: use at least %d characters, e.g. `openssl rand -hex 32` (value not shown)", MinWebhookSecret)
	}
	return ""
}

func (v *validator) billing(b Billing) {
	v.nonNegative("billing.new_user_credit", b.NewUserCredit)
	v.nonNegative("billing.invite_credit", b.InviteCredit)
	v.nonNegative("billing.inviter_bonus", b.InviterBonus)
	v.nonNegative("billing.overdraft", b.Overdraft)
	if b.DefaultMaxTokens < 0 {
		v.add("billing.default_max_tokens", "%d must be 0 or more (default 4096)", b.DefaultMaxTokens)
	}
}

func (v *validator) pricing(prices map[string]Price) {
	for _, model := range sortedKeys(prices) {
		pr := prices[model]
		p := mapKeyPath("pricing", model)
		if strings.TrimSpace(model) == "" {
			v.add(p, "model name must not be empty")
		}
		v.nonNegative(p+".input", pr.Input)
		v.nonNegative(p+".output", pr.Output)
		v.nonNegative(p+".cached_input", pr.CachedInput)
		v.nonNegative(p+".per_request", pr.PerRequest)
		v.nonNegative(p+".per_web_search", pr.PerWebSearch)
		for _, size := range sortedKeys(pr.PerImage) {
			ip := mapKeyPath(p+".per_image", size)
			if strings.TrimSpace(size) == "" {
				v.add(ip, "size must not be empty; use a size such as 1024x1024, or default")
			} else if !validImageKey(size) {
				v.add(ip, "%q is not default, WxH or WxH/quality; write it like 1024x1024 or 1024x1024/hd", size)
			}
			v.nonNegative(ip, pr.PerImage[size])
		}
	}
}

// validImageKey accepts "default", "WxH" and "WxH/quality": W and H positive
// integers without leading zeros (as clients send sizes), quality lowercase
// letters.
func validImageKey(k string) bool {
	if k == "default" {
		return true
	}
	size, quality, hasQuality := strings.Cut(k, "/")
	w, h, ok := strings.Cut(size, "x")
	if !ok || !positiveInt(w) || !positiveInt(h) {
		return false
	}
	if hasQuality {
		if quality == "" {
			return false
		}
		for _, r := range quality {
			if r < 'a' || r > 'z' {
				return false
			}
		}
	}
	return true
}

func positiveInt(s string) bool {
	return s != "" && s[0] >= '1' && s[0] <= '9' && strings.Trim(s, "0123456789") == ""
}

func (v *validator) images(im Images) {
	scheme, rest, ok := strings.Cut(im.Storage, "://")
	switch {
	case !ok || (scheme != "file" && scheme != "s3"):
		v.add("images.storage", "%q: scheme must be file:// (a directory) or s3:// (bucket/prefix?endpoint=…&region=…)", redactURL(im.Storage))
	case scheme == "file" && rest == "":
		v.add("images.storage", "file:// needs a directory, e.g. file://./data/images")
	case scheme == "s3":
		bucket, _, _ := strings.Cut(strings.SplitN(rest, "?", 2)[0], "/")
		if bucket == "" {
			v.add("images.storage", "s3:// needs a bucket, e.g. s3://my-bucket/images?region=us-east-1")
		}
	}
	v.positiveDuration("images.url_ttl", im.URLTTL)
	v.positiveDuration("images.retention", im.Retention)
	if im.Retention > 0 && im.URLTTL > im.Retention {
		v.add("images.retention", "%s is shorter than images.url_ttl (%s): signed URLs would outlive their images; raise retention or lower url_ttl", im.Retention, im.URLTTL)
	}
	if im.Workers < 1 {
		v.add("images.workers", "%d must be 1 or more (default 4)", im.Workers)
	}
	v.positiveDuration("images.task_timeout", im.TaskTimeout)
	if im.MaxInputPixels <= 0 {
		v.add("images.max_input_pixels", "%d must be greater than 0 (default 50000000)", im.MaxInputPixels)
	}
	if im.MaxInputBytes <= 0 {
		v.add("images.max_input_bytes", "%d must be greater than 0 (default 52428800, 50 MiB)", im.MaxInputBytes)
	}
	if im.MaxDecodeBytes <= 0 {
		v.add("images.max_decode_bytes", "%d must be greater than 0 (default 167772160, 160 MiB)", im.MaxDecodeBytes)
	}
	if im.MaxInputs < 1 {
		v.add("images.max_inputs", "%d must be 1 or more (default 16)", im.MaxInputs)
	}
	if im.FetchMaxBytes <= 0 {
		v.add("images.fetch_max_bytes", "%d must be greater than 0 (default 67108864, 64 MiB)", im.FetchMaxBytes)
	}
	v.oneOf("images.response_format", im.ResponseFormat, ImageResponseFormats)
	if im.WebhookAttempts < 1 {
		v.add("images.webhook_attempts", "%d must be 1 or more (default 8)", im.WebhookAttempts)
	}
	v.positiveDuration("images.webhook_timeout", im.WebhookTimeout)
}

// --- shared checks ---

func (v *validator) oneOf(path, val string, allowed []string) {
	if !slices.Contains(allowed, val) {
		v.add(path, "%q is not one of %s", val, quoteList(allowed))
	}
}

func (v *validator) nonNegative(path string, f float64) {
	if math.IsNaN(f) || math.IsInf(f, 0) || f < 0 {
		v.add(path, "%v must be 0 or more", f)
	}
}

// limits checks the rpm, tpm and daily_requests of a group or key at path.
func (v *validator) limits(path string, rpm, tpm, daily int) {
	for _, f := range []struct {
		name string
		n    int
	}{{"rpm", rpm}, {"tpm", tpm}, {"daily_requests", daily}} {
		if f.n < 0 {
			v.add(path+"."+f.name, "%d must be 0 (no limit) or more", f.n)
		}
	}
}

func (v *validator) nonNegativeDuration(path string, d time.Duration) {
	if d < 0 {
		v.add(path, "%s must not be negative", d)
	}
}

func (v *validator) positiveDuration(path string, d time.Duration) {
	if d <= 0 {
		v.add(path, "%s must be greater than 0 (e.g. 30s)", d)
	}
}

// names checks a list of names: entries non-empty and distinct, and the list
// itself non-empty when required.
func (v *validator) names(path string, list []string, what string, required bool) {
	if required && len(list) == 0 {
		v.add(path, "empty; list at least one %s this channel serves", what)
	}
	seen := map[string]int{}
	for i, n := range list {
		ip := fmt.Sprintf("%s[%d]", path, i)
		if strings.TrimSpace(n) == "" {
			v.add(ip, "%s name must not be empty", what)
			continue
		}
		if j, dup := seen[n]; dup {
			v.add(ip, "%q is already listed at [%d]", n, j)
			continue
		}
		seen[n] = i
	}
}

// httpURL reports problems with an http(s) URL and whether it was valid.
func (v *validator) httpURL(path, s string) bool {
	u, err := url.Parse(s)
	switch {
	case s == "":
		v.add(path, "must not be empty; write an http(s) URL such as https://api.openai.com")
	case err != nil || (u.Scheme != "http" && u.Scheme != "https"):
		v.add(path, "%q is not an http(s) URL; write it like https://api.example.com", redactURL(s))
	case u.Host == "":
		v.add(path, "%q has no host; write it like https://api.example.com", redactURL(s))
	default:
		return true
	}
	return false
}

func (v *validator) proxy(path, s string) {
	u, err := url.Parse(s)
	switch {
	case err != nil:
		v.add(path, "is not a valid URL; write it like http://host:3128 or socks5://host:1080")
	case !slices.Contains([]string{"http", "https", "socks5", "socks5h"}, u.Scheme):
		v.add(path, "%q: scheme must be http, https, socks5 or socks5h", redactURL(s))
	case u.Hostname() == "":
		v.add(path, "%q has no host; write it like socks5://127.0.0.1:1080", redactURL(s))
	}
}

func (v *validator) ipOrCIDR(path, s string) {
	if _, err := netip.ParsePrefix(s); err == nil {
		return
	}
	if _, err := netip.ParseAddr(s); err == nil {
		return
	}
	v.add(path, "%q is not an IP address or CIDR range (e.g. 10.0.0.0/8 or 127.0.0.1)", s)
}

func validEmail(s string) bool {
	a, err := mail.ParseAddress(s)
	return err == nil && a.Name == "" && a.Address == s
}

// redactURL makes a URL safe to print: user info and query are replaced,
// since both commonly carry credentials. Unparseable input is not echoed.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparseable URL)"
	}
	if u.User != nil {
		u.User = url.User("xxxxx")
	}
	if u.RawQuery != "" {
		u.RawQuery = "xxxxx"
	}
	u.Fragment = ""
	return u.String()
}

func quoteList(items []string) string {
	q := make([]string, len(items))
	for i, s := range items {
		q[i] = strconv.Quote(s)
	}
	return strings.Join(q, ", ")
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func (v *validator) topup(t Topup) {
	v.nonNegativeDuration("topup.order_ttl", t.OrderTTL)
	if t.NotifyRate < 0 {
		v.add("topup.notify_rate", "must be ≥ 0 (default 60 per minute per address)")
	}
	if c := t.Custom; c.Enabled {
		if len(c.Currency) != 3 {
			v.add("topup.custom.currency", "must be a three-letter ISO 4217 code such as usd or cny")
		}
		if c.PricePerUSD <= 0 {
			v.add("topup.custom.price_per_usd", "must be greater than 0 (minor units of the currency per USD of credit)")
		}
		if c.MinUSD <= 0 || c.MaxUSD < c.MinUSD {
			v.add("topup.custom.min_usd", "min_usd must be greater than 0 and max_usd not below it")
		}
	}
	if s := t.Stripe; s != nil {
		if s.SecretKey == "" {
			v.add("topup.stripe.secret_key", "must be set (the Stripe API key)")
		}
		if len(s.WebhookSecrets) == 0 {
			v.add("topup.stripe.webhook_secrets", "must list the webhook endpoint's signing secret (whsec_…)")
		}
		if s.APIBase != "" {
			v.httpURL("topup.stripe.api_base", s.APIBase)
		}
	}
	if e := t.EPay; e != nil {
		v.httpURL("topup.epay.gateway", e.Gateway)
		if e.PID == "" {
			v.add("topup.epay.pid", "must be set (the merchant id)")
		}
		if e.Key == "" {
			v.add("topup.epay.key", "must be set (the merchant key)")
		}
	}
}
