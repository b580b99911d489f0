package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// fakeEnv is the environment tests pass to Load instead of the process's.
func fakeEnv(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

// loadYAML writes doc to a real file and loads it as the CLI would.
func loadYAML(t *testing.T, doc string, env, set map[string]string) (*Config, error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "switchyard.yaml")
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	return Load(LoadOptions{Path: path, LookupEnv: fakeEnv(env), Set: set})
}

func mustLoad(t *testing.T, doc string, env, set map[string]string) *Config {
	t.Helper()
	cfg, err := loadYAML(t, doc, env, set)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return cfg
}

const testSecretKey = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// fullEnv supplies the ${…} references of testdata/full.yaml. The values are
// distinctive so the redaction tests can search for them.
var fullEnv = map[string]string{
	"SWITCHYARD_SECRET_KEY":     testSecretKey,
	"SWITCHYARD_ADMIN_PASSWORD": "admin-pw-S3CRET-value",
	"OPENAI_KEY_1":              "sk-openai-one-S3CRET-aaaa",
	"OPENAI_KEY_2":              "sk-openai-two-S3CRET-bbbb",
	"AT":                        "access-token-S3CRET",
	"RT":                        "refresh-token-S3CRET",
	"ALICE_KEY":                 "sk-alice-S3CRET-cccccccccc",
}

// defaultImages is the images section of Default, written out in full so
// that a changed default is a deliberate edit here too.
var defaultImages = Images{
	Storage: "file://./data/images", URLTTL: 24 * time.Hour, Retention: 168 * time.Hour,
	Workers: 4, TaskTimeout: 10 * time.Minute,
	MaxInputPixels: 50_000_000, MaxInputBytes: 50 << 20, MaxDecodeBytes: 160 << 20, MaxInputs: 16, FetchMaxBytes: 64 << 20,
	ResponseFormat: "", WebhookAllowPrivate: false, WebhookAttempts: 8, WebhookTimeout: 10 * time.Second,
}

func TestDefault(t *testing.T) {
	c := Default()
	tests := []struct {
		name      string
		got, want any
	}{
		{"server.listen", c.Server.Listen, "127.0.0.1:8080"},
		{"server.public_url", c.Server.PublicURL, "http://127.0.0.1:8080"},
		{"server.data_dir", c.Server.DataDir, "./data"},
		{"server.read_header_timeout", c.Server.ReadHeaderTimeout, 10 * time.Second},
		{"server.idle_timeout", c.Server.IdleTimeout, 120 * time.Second},
		{"server.shutdown_timeout", c.Server.ShutdownTimeout, 30 * time.Second},
		{"server.max_body_bytes", c.Server.MaxBodyBytes, int64(32 << 20)},
		{"server.max_upload_bytes", c.Server.MaxUploadBytes, int64(64 << 20)},
		{"log", c.Log, Log{Level: "info", Format: "text"}},
		{"database.url", c.Database.URL.Value(), "sqlite://./data/switchyard.db"},
		{"redis.url", c.Redis.URL.Value(), ""},
		{"scheduler", c.Scheduler, Scheduler{
			Strategy: "round_robin", Cooldown429: 300 * time.Second, DailyUsageRatio: 0.8, MaxAttempts: 3,
			ChannelTestInterval: 10 * time.Minute, CircuitFailures: 5, CircuitPause: 30 * time.Second,
		}},
		{"upstream", c.Upstream, Upstream{ConnectTimeout: 10 * time.Second, FirstByteTimeout: 120 * time.Second, StreamIdle: 300 * time.Second, MaxIdleConns: 256}},
		{"groups", c.Groups, []Group{{Name: "default", Ratio: 1}}},
		{"billing", c.Billing, Billing{DefaultMaxTokens: 4096}},
		{"images", c.Images, defaultImages},
		{"dialect", c.DatabaseDialect(), "sqlite"},
		{"multi-node", c.MultiNode(), false},
		{"sqlite path", c.Database.SQLitePath(), "./data/switchyard.db"},
	}
	for _, tt := range tests {
		if !reflect.DeepEqual(tt.got, tt.want) {
			t.Errorf("%s = %#v, want %#v", tt.name, tt.got, tt.want)
		}
	}
	if err := c.Validate(); err != nil {
		t.Errorf("Default().Validate() = %v", err)
	}
	// Load with nothing at all must equal Default.
	loaded, err := Load(LoadOptions{LookupEnv: fakeEnv(nil)})
	if err != nil {
		t.Fatalf("Load(no file): %v", err)
	}
	if !reflect.DeepEqual(loaded, c) {
		t.Errorf("Load(no file) differs from Default():\n%+v\n%+v", loaded, c)
	}
}

func TestLoadFullExample(t *testing.T) {
	c, err := Load(LoadOptions{Path: "testdata/full.yaml", LookupEnv: fakeEnv(fullEnv)})
	if err != nil {
		t.Fatalf("Load(testdata/full.yaml): %v", err)
	}
	quota := 5.0
	tests := []struct {
		name      string
		got, want any
	}{
		{"server", c.Server, Server{Listen: "127.0.0.1:8080", PublicURL: "http://127.0.0.1:8080", DataDir: "./data",
			ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 120 * time.Second, ShutdownTimeout: 30 * time.Second,
			MaxBodyBytes: 32 << 20, MaxUploadBytes: 64 << 20, BodyIdleTimeout: 10 * time.Second, BodyMinRate: 500,
			BodyTimeout: 10 * time.Minute, UnauthenticatedConnsPerIP: 64}},
		{"metrics", c.Metrics, Metrics{}},
		{"console", c.Console, Console{SessionIdle: 24 * time.Hour, SessionMax: 720 * time.Hour}},
		{"database.url", c.Database.URL.Value(), "sqlite://./data/switchyard.db"},
		{"redis.url", c.Redis.URL.Value(), ""},
		{"secret_key", c.SecretKey.Value(), testSecretKey},
		{"admin", c.Admin, Admin{Email: "admin@example.com", Password: Secret(fullEnv["SWITCHYARD_ADMIN_PASSWORD"])}},
		{"scheduler", c.Scheduler, Scheduler{Strategy: "round_robin", Cooldown429: 300 * time.Second, DailyUsageRatio: 0.8,
			MaxAttempts: 3, ChannelTestInterval: 10 * time.Minute, CircuitFailures: 5, CircuitPause: 30 * time.Second}},
		{"groups", c.Groups, []Group{{Name: "default", Ratio: 1}}},
		{"channels[0]", c.Channels[0], Channel{
			Name: "main", Type: "openai", BaseURL: "https://api.openai.com",
			Models:   []string{"gpt-4o-mini", "gpt-image-1"},
			ModelMap: map[string]string{"gpt-3.5-turbo": "gpt-4o-mini"},
			Groups:   []string{"default"}, Priority: 0, Weight: 1, Proxy: "",
			Credentials: []Credential{
				{Key: Secret(fullEnv["OPENAI_KEY_1"]), Weight: 1},
				{Key: Secret(fullEnv["OPENAI_KEY_2"]), DailyLimit: 1000, Proxy: "socks5://127.0.0.1:1080", Weight: 1},
			},
		}},
		{"channels[1]", c.Channels[1], Channel{
			Name: "oauth-upstream", Type: "openai", BaseURL: "https://llm.example.com",
			TokenURL: "https://auth.example.com/oauth/token", Models: []string{"some-model"},
			Groups: []string{"default"}, Weight: 1,
			Credentials: []Credential{{
				AccessToken: Secret(fullEnv["AT"]), RefreshToken: Secret(fullEnv["RT"]),
				ExpiresAt: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), Weight: 1,
			}},
		}},
		{"users", c.Users, []User{{Email: "alice@example.com", Group: "default", Role: "user", Credit: 10}}},
		{"keys", c.Keys, []Key{{
			Name: "alice-app", User: "alice@example.com", Key: Secret(fullEnv["ALICE_KEY"]),
			Models: []string{"gpt-4o-mini"}, Quota: &quota, RPM: 60, DailyRequests: 1000,
			IPAllow: []string{"127.0.0.1/32"}, ExpiresAt: time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC),
		}}},
		{"billing", c.Billing, Billing{NewUserCredit: 0, DefaultMaxTokens: 4096}},
		{"pricing", c.Pricing, map[string]Price{
			"gpt-4o-mini": {Input: 0.15, Output: 0.60, CachedInput: 0.075},
			"gpt-image-1": {PerImage: map[string]float64{"1024x1024": 0.042, "default": 0.063}},
		}},
		{"images", c.Images, defaultImages},
	}
	for _, tt := range tests {
		if !reflect.DeepEqual(tt.got, tt.want) {
			t.Errorf("%s:\n got %+v\nwant %+v", tt.name, tt.got, tt.want)
		}
	}
}

func TestEnvExpansion(t *testing.T) {
	const ch = `
channels:
  - name: c
    type: openai
    base_url: https://api.example.com
    models: [m]
    credentials: [{key: k}]
`
	tests := []struct {
		name  string
		doc   string
		env   map[string]string
		check func(*Config) (got, want any)
	}{
		{"inside a string", "server: {listen: \"127.0.0.1:${PORT}\"}", map[string]string{"PORT": "9000"},
			func(c *Config) (any, any) { return c.Server.Listen, "127.0.0.1:9000" }},
		{"int field", "upstream:\n  max_idle_conns_per_host: ${CONNS}", map[string]string{"CONNS": "64"},
			func(c *Config) (any, any) { return c.Upstream.MaxIdleConns, 64 }},
		{"duration field", "scheduler:\n  cooldown_429: ${COOL}", map[string]string{"COOL": "45s"},
			func(c *Config) (any, any) { return c.Scheduler.Cooldown429, 45 * time.Second }},
		{"float field", "billing:\n  new_user_credit: ${CREDIT}", map[string]string{"CREDIT": "2.5"},
			func(c *Config) (any, any) { return c.Billing.NewUserCredit, 2.5 }},
		{"bool field", ch + "    disabled: ${OFF}", map[string]string{"OFF": "true"},
			func(c *Config) (any, any) { return c.Channels[0].Disabled, true }},
		{"default when unset", "scheduler:\n  max_attempts: ${TRIES:-5}", nil,
			func(c *Config) (any, any) { return c.Scheduler.MaxAttempts, 5 }},
		{"default when empty", "scheduler:\n  max_attempts: ${TRIES:-5}", map[string]string{"TRIES": ""},
			func(c *Config) (any, any) { return c.Scheduler.MaxAttempts, 5 }},
		{"value beats default", "scheduler:\n  max_attempts: ${TRIES:-5}", map[string]string{"TRIES": "7"},
			func(c *Config) (any, any) { return c.Scheduler.MaxAttempts, 7 }},
		{"empty default keeps built-in default", "scheduler:\n  max_attempts: ${TRIES:-}", nil,
			func(c *Config) (any, any) { return c.Scheduler.MaxAttempts, 3 }},
		{"$$ escapes", "admin: {email: a@example.com, password: 'pa$$word-is-long'}", nil,
			func(c *Config) (any, any) { return c.Admin.Password.Value(), "pa$word-is-long" }},
		{"$${ is literal", "admin: {email: a@example.com, password: 'x$${NOT_A_VAR}yz'}", nil,
			func(c *Config) (any, any) { return c.Admin.Password.Value(), "x${NOT_A_VAR}yz" }},
		{"lone $ kept", "admin: {email: a@example.com, password: 'pa$word-is-long'}", nil,
			func(c *Config) (any, any) { return c.Admin.Password.Value(), "pa$word-is-long" }},
		{"several in one value", "server: {listen: '${HOST}:${PORT}'}", map[string]string{"HOST": "0.0.0.0", "PORT": "81"},
			func(c *Config) (any, any) { return c.Server.Listen, "0.0.0.0:81" }},
		{"flow mapping unquoted", ch[:len(ch)-len("    credentials: [{key: k}]\n")] + "    credentials: [{key: ${K}, daily_limit: ${L:-9}}]\n",
			map[string]string{"K": "sk-from-env"},
			func(c *Config) (any, any) {
				cr := c.Channels[0].Credentials[0]
				return []any{cr.Key.Value(), cr.DailyLimit}, []any{"sk-from-env", int64(9)}
			}},
		{"optional float set", "users: [{email: a@example.com}]\nkeys: [{name: k, user: a@example.com, key: 01234567890123456789, quota: ${Q}}]",
			map[string]string{"Q": "2.5"},
			func(c *Config) (any, any) { return *c.Keys[0].Quota, 2.5 }},
		{"optional float unset", "users: [{email: a@example.com}]\nkeys: [{name: k, user: a@example.com, key: 01234567890123456789, quota: ${Q:-}}]",
			nil,
			func(c *Config) (any, any) { return c.Keys[0].Quota == nil, true }},
		{"optional float explicit zero", "users: [{email: a@example.com}]\nkeys: [{name: k, user: a@example.com, key: 01234567890123456789, quota: 0}]",
			nil,
			func(c *Config) (any, any) { return c.Keys[0].Quota != nil && *c.Keys[0].Quota == 0, true }},
		{"map keys are not expanded", ch + "    model_map: {'${X}': m}", nil,
			func(c *Config) (any, any) { return c.Channels[0].ModelMap["${X}"], "m" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := mustLoad(t, tt.doc, tt.env, nil)
			if got, want := tt.check(c); !reflect.DeepEqual(got, want) {
				t.Errorf("got %#v, want %#v", got, want)
			}
		})
	}
}

func TestEnvOverrides(t *testing.T) {
	tests := []struct {
		name  string
		env   map[string]string
		check func(*Config) (got, want any)
	}{
		{"listen moves derived public_url", map[string]string{"SWITCHYARD_SERVER_LISTEN": "0.0.0.0:9999"},
			func(c *Config) (any, any) {
				return []string{c.Server.Listen, c.Server.PublicURL}, []string{"0.0.0.0:9999", "http://127.0.0.1:9999"}
			}},
		{"ipv6 listen", map[string]string{"SWITCHYARD_SERVER_LISTEN": "[::1]:9000"},
			func(c *Config) (any, any) { return c.Server.PublicURL, "http://[::1]:9000" }},
		{"data_dir moves database and images", map[string]string{"SWITCHYARD_SERVER_DATA_DIR": "/srv/sy/"},
			func(c *Config) (any, any) {
				return []string{c.Database.URL.Value(), c.Images.Storage, c.Database.SQLitePath()},
					[]string{"sqlite:///srv/sy/switchyard.db", "file:///srv/sy/images", "/srv/sy/switchyard.db"}
			}},
		{"database and redis make it multi-node", map[string]string{
			"SWITCHYARD_DATABASE_URL": "postgres://u:p@db:5432/x", "SWITCHYARD_REDIS_URL": "redis://r:6379/0",
			"SWITCHYARD_SECRET_KEY": testSecretKey,
		}, func(c *Config) (any, any) {
			return []any{c.DatabaseDialect(), c.MultiNode(), c.Redis.URL.Value(), c.SecretKey.Value()},
				[]any{"postgres", true, "redis://r:6379/0", testSecretKey}
		}},
		{"duration", map[string]string{"SWITCHYARD_SCHEDULER_COOLDOWN_429": "90s"},
			func(c *Config) (any, any) { return c.Scheduler.Cooldown429, 90 * time.Second }},
		{"float", map[string]string{"SWITCHYARD_SCHEDULER_DAILY_USAGE_RATIO": "0.5"},
			func(c *Config) (any, any) { return c.Scheduler.DailyUsageRatio, 0.5 }},
		{"enum", map[string]string{"SWITCHYARD_LOG_LEVEL": "debug", "SWITCHYARD_LOG_FORMAT": "json"},
			func(c *Config) (any, any) { return c.Log, Log{Level: "debug", Format: "json"} }},
		{"admin", map[string]string{"SWITCHYARD_ADMIN_EMAIL": "root@example.com", "SWITCHYARD_ADMIN_PASSWORD": "twelve-chars-or-more"},
			func(c *Config) (any, any) {
				return []string{c.Admin.Email, c.Admin.Password.Value()}, []string{"root@example.com", "twelve-chars-or-more"}
			}},
		{"string list is comma-separated", map[string]string{"SWITCHYARD_SERVER_TRUSTED_PROXIES": "10.0.0.0/8, 192.168.1.1,"},
			func(c *Config) (any, any) { return c.Server.TrustedProxies, []string{"10.0.0.0/8", "192.168.1.1"} }},
		{"field name with underscores", map[string]string{"SWITCHYARD_UPSTREAM_STREAM_IDLE_TIMEOUT": "1m", "SWITCHYARD_UPSTREAM_MAX_IDLE_CONNS_PER_HOST": "8"},
			func(c *Config) (any, any) {
				return []any{c.Upstream.StreamIdle, c.Upstream.MaxIdleConns}, []any{time.Minute, 8}
			}},
		{"billing", map[string]string{"SWITCHYARD_BILLING_OVERDRAFT": "0.25", "SWITCHYARD_BILLING_DEFAULT_MAX_TOKENS": "1024"},
			func(c *Config) (any, any) {
				return []any{c.Billing.Overdraft, c.Billing.DefaultMaxTokens}, []any{0.25, int64(1024)}
			}},
		{"empty value is ignored", map[string]string{"SWITCHYARD_LOG_LEVEL": "", "SWITCHYARD_ADMIN_PASSWORD": ""},
			func(c *Config) (any, any) { return []any{c.Log.Level, c.Admin.Password.IsSet()}, []any{"info", false} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(LoadOptions{LookupEnv: fakeEnv(tt.env)})
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if got, want := tt.check(c); !reflect.DeepEqual(got, want) {
				t.Errorf("got %#v, want %#v", got, want)
			}
		})
	}
}

func TestEnvOverridesList(t *testing.T) {
	vars := EnvOverrides()
	byName := map[string]string{}
	for _, v := range vars {
		if _, dup := byName[v.Name]; dup {
			t.Errorf("two settings share %s", v.Name)
		}
		byName[v.Name] = v.Path
		// Every listed variable must be settable on a real Config.
		elems, err := parsePath(v.Path)
		if err != nil {
			t.Errorf("%s: path %q: %v", v.Name, v.Path, err)
			continue
		}
		if err := setPath(reflect.ValueOf(Default()).Elem(), elems, ""); err != nil {
			t.Errorf("%s: setting %s: %v", v.Name, v.Path, err)
		}
	}
	for name, path := range map[string]string{
		"SWITCHYARD_SERVER_LISTEN":              "server.listen",
		"SWITCHYARD_DATABASE_URL":               "database.url",
		"SWITCHYARD_REDIS_URL":                  "redis.url",
		"SWITCHYARD_SECRET_KEY":                 "secret_key",
		"SWITCHYARD_SCHEDULER_COOLDOWN_429":     "scheduler.cooldown_429",
		"SWITCHYARD_LOG_LEVEL":                  "log.level",
		"SWITCHYARD_ADMIN_PASSWORD":             "admin.password",
		"SWITCHYARD_BILLING_NEW_USER_CREDIT":    "billing.new_user_credit",
		"SWITCHYARD_BILLING_OVERDRAFT":          "billing.overdraft",
		"SWITCHYARD_BILLING_DEFAULT_MAX_TOKENS": "billing.default_max_tokens",
		"SWITCHYARD_IMAGES_URL_TTL":             "images.url_ttl",
	} {
		if byName[name] != path {
			t.Errorf("%s → %q, want %q", name, byName[name], path)
		}
	}
	for _, resource := range []string{"groups", "channels", "users", "keys", "pricing"} {
		for _, v := range vars {
			if v.Path == resource || strings.HasPrefix(v.Path, resource+".") {
				t.Errorf("resource list %s must not have an override, got %s", resource, v.Name)
			}
		}
	}
}

const setBase = `
channels:
  - name: c
    type: openai
    base_url: https://api.example.com
    models: [m]
    credentials: [{key: k}]
users: [{email: a@example.com}]
keys: [{name: k, user: a@example.com, key: 01234567890123456789}]
pricing:
  gpt-4o: {input: 1}
`

func TestSetOverrides(t *testing.T) {
	tests := []struct {
		name  string
		set   map[string]string
		check func(*Config) (got, want any)
	}{
		{"section field", map[string]string{"server.listen": "127.0.0.1:7000"},
			func(c *Config) (any, any) { return c.Server.Listen, "127.0.0.1:7000" }},
		{"top-level", map[string]string{"secret_key": testSecretKey},
			func(c *Config) (any, any) { return c.SecretKey.Value(), testSecretKey }},
		{"list element", map[string]string{"channels[0].weight": "5", "channels[0].credentials[0].daily_limit": "10"},
			func(c *Config) (any, any) {
				return []any{c.Channels[0].Weight, c.Channels[0].Credentials[0].DailyLimit}, []any{5, int64(10)}
			}},
		{"string list", map[string]string{"channels[0].models": "a, b"},
			func(c *Config) (any, any) { return c.Channels[0].Models, []string{"a", "b"} }},
		{"existing map entry keeps other fields", map[string]string{"pricing.gpt-4o.output": "4"},
			func(c *Config) (any, any) { return c.Pricing["gpt-4o"], Price{Input: 1, Output: 4} }},
		{"quoted key with dots creates entry", map[string]string{`pricing["gpt-3.5-turbo"].input`: "0.5"},
			func(c *Config) (any, any) { return c.Pricing["gpt-3.5-turbo"].Input, 0.5 }},
		{"nested map", map[string]string{"pricing.img.per_image.1024x1024": "0.04"},
			func(c *Config) (any, any) { return c.Pricing["img"].PerImage, map[string]float64{"1024x1024": 0.04} }},
		{"optional float", map[string]string{"keys[0].quota": "3"},
			func(c *Config) (any, any) { return *c.Keys[0].Quota, 3.0 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := mustLoad(t, setBase, nil, tt.set)
			if got, want := tt.check(c); !reflect.DeepEqual(got, want) {
				t.Errorf("got %#v, want %#v", got, want)
			}
		})
	}
}

func TestPrecedence(t *testing.T) {
	const file = `
server: {listen: "127.0.0.1:1001"}
log: {level: warn}
scheduler: {cooldown_429: 7s}
`
	env := map[string]string{"SWITCHYARD_SERVER_LISTEN": "127.0.0.1:1002", "SWITCHYARD_LOG_LEVEL": "error"}
	set := map[string]string{"server.listen": "127.0.0.1:1003"}
	tests := []struct {
		name     string
		file     string
		env, set map[string]string
		listen   string
		level    string
		cooldown time.Duration
		attempts int
	}{
		{"defaults", "", nil, nil, "127.0.0.1:8080", "info", 300 * time.Second, 3},
		{"file over defaults", file, nil, nil, "127.0.0.1:1001", "warn", 7 * time.Second, 3},
		{"env over file", file, env, nil, "127.0.0.1:1002", "error", 7 * time.Second, 3},
		{"set over env", file, env, set, "127.0.0.1:1003", "error", 7 * time.Second, 3},
		{"set over defaults", "", nil, set, "127.0.0.1:1003", "info", 300 * time.Second, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := mustLoad(t, tt.file, tt.env, tt.set)
			got := []any{c.Server.Listen, c.Log.Level, c.Scheduler.Cooldown429, c.Scheduler.MaxAttempts}
			want := []any{tt.listen, tt.level, tt.cooldown, tt.attempts}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got %v, want %v", got, want)
			}
		})
	}
}

func TestDerivedAndElementDefaults(t *testing.T) {
	c := mustLoad(t, `
server: {data_dir: /var/lib/sy, listen: ":9090"}
groups: [{name: default}, {name: vip, ratio: 0.5}]
channels:
  - {name: az, type: azure, base_url: https://x.openai.azure.com, models: [m], credentials: [{key: k}]}
  - {name: oa, type: openai, base_url: https://y.example.com, models: [m], groups: [vip], credentials: [{key: k}], weight: 3}
users: [{email: a@example.com}]
`, nil, nil)
	tests := []struct {
		name      string
		got, want any
	}{
		{"db under data_dir", c.Database.URL.Value(), "sqlite:///var/lib/sy/switchyard.db"},
		{"images under data_dir", c.Images.Storage, "file:///var/lib/sy/images"},
		{"public_url from :port", c.Server.PublicURL, "http://127.0.0.1:9090"},
		{"group ratio default 1", c.Groups[0].Ratio, 1.0},
		{"group ratio given", c.Groups[1].Ratio, 0.5},
		{"azure api_version", c.Channels[0].APIVersion, DefaultAzureAPIVersion},
		{"openai has no api_version", c.Channels[1].APIVersion, ""},
		{"channel groups default", c.Channels[0].Groups, []string{"default"}},
		{"channel weight default", c.Channels[0].Weight, 1},
		{"channel weight given", c.Channels[1].Weight, 3},
		{"credential weight default", c.Channels[0].Credentials[0].Weight, 1},
		{"user group and role", []string{c.Users[0].Group, c.Users[0].Role}, []string{"default", "user"}},
	}
	for _, tt := range tests {
		if !reflect.DeepEqual(tt.got, tt.want) {
			t.Errorf("%s = %#v, want %#v", tt.name, tt.got, tt.want)
		}
	}
	// Explicit settings are never replaced by derived ones.
	c = mustLoad(t, `
server: {data_dir: /x, public_url: https://gw.example.com}
database: {url: "sqlite:///elsewhere.db"}
images: {storage: "s3://bucket/img?region=eu-west-1"}
`, nil, nil)
	if c.Server.PublicURL != "https://gw.example.com" || c.Database.URL.Value() != "sqlite:///elsewhere.db" || c.Images.Storage != "s3://bucket/img?region=eu-west-1" {
		t.Errorf("explicit values replaced: %q %q %q", c.Server.PublicURL, c.Database.URL.Value(), c.Images.Storage)
	}
}

func TestYAMLFeatures(t *testing.T) {
	// Anchors and merge keys let channels share settings; own keys win.
	c := mustLoad(t, `
x-common: &common
  type: openai
  models: [m1, m2]
  weight: 2
channels:
  - <<: *common
    name: a
    base_url: https://a.example.com
    credentials: [{key: ka}]
  - <<: *common
    name: b
    weight: 5
    base_url: https://b.example.com
    credentials: [{key: kb}]
`[1:], nil, nil)
	tests := []struct {
		name      string
		got, want any
	}{
		{"merged type", []string{c.Channels[0].Type, c.Channels[1].Type}, []string{"openai", "openai"}},
		{"merged list", c.Channels[1].Models, []string{"m1", "m2"}},
		{"merged scalar", c.Channels[0].Weight, 2},
		{"own key beats merge", c.Channels[1].Weight, 5},
		{"own keys kept", []string{c.Channels[0].Name, c.Channels[1].BaseURL}, []string{"a", "https://b.example.com"}},
	}
	for _, tt := range tests {
		if !reflect.DeepEqual(tt.got, tt.want) {
			t.Errorf("%s = %#v, want %#v", tt.name, tt.got, tt.want)
		}
	}
	// Decoding one merged mapping twice must not share list storage.
	c.Channels[0].Models[0] = "changed"
	if c.Channels[1].Models[0] != "m1" {
		t.Errorf("merged lists share storage")
	}
}

func TestFileErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name    string
		path    string
		wantErr string // "" = loads
	}{
		{"missing explicit file", filepath.Join(dir, "nope.yaml"), "read config file"},
		{"empty file", write("empty.yaml", ""), ""},
		{"only comments", write("comments.yaml", "# nothing yet\n"), ""},
		{"trailing document marker", write("trail.yaml", "log: {level: info}\n---\n"), ""},
		{"syntax error", write("bad.yaml", "server:\n  listen: [\n"), "invalid YAML"},
		{"list at top", write("list.yaml", "- a\n- b\n"), "must be a mapping of sections"},
		{"two documents", write("two.yaml", "log: {level: info}\n---\nlog: {level: warn}\n"), "exactly one YAML document"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(LoadOptions{Path: tt.path, LookupEnv: fakeEnv(nil)})
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("Load: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("Load error = %v, want it to contain %q", err, tt.wantErr)
			}
			var fe Errors
			if tt.wantErr != "" && errors.As(err, &fe) {
				t.Errorf("file-level problem should be a plain error, got Errors %v", fe)
			}
		})
	}
}

func TestMultiNodeAndDialect(t *testing.T) {
	tests := []struct {
		db, redis string
		dialect   string
		multi     bool
	}{
		{"sqlite://./data/x.db", "", "sqlite", false},
		{"sqlite://./data/x.db", "redis://127.0.0.1:6379/0", "sqlite", true},
		{"postgres://u@h/db", "", "postgres", true},
		{"postgresql://u@h/db", "", "postgres", true},
		{"mysql://u@tcp(h:3306)/db", "", "mysql", true},
		{"oracle://h", "", "", true},
	}
	for _, tt := range tests {
		c := Default()
		c.Database.URL, c.Redis.URL = Secret(tt.db), Secret(tt.redis)
		if got := c.DatabaseDialect(); got != tt.dialect {
			t.Errorf("DatabaseDialect(%s) = %q, want %q", tt.db, got, tt.dialect)
		}
		if got := c.MultiNode(); got != tt.multi {
			t.Errorf("MultiNode(%s, %q) = %v, want %v", tt.db, tt.redis, got, tt.multi)
		}
	}
}

func BenchmarkLoadFullExample(b *testing.B) {
	data, err := os.ReadFile("testdata/full.yaml")
	if err != nil {
		b.Fatal(err)
	}
	opts := LoadOptions{LookupEnv: fakeEnv(fullEnv)}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := load(data, opts); err != nil {
			b.Fatal(err)
		}
	}
}
