package config

import "time"

// Config is the whole validated configuration of a gateway node. Its YAML
// shape is the contract in DESIGN.md; every field here has a yaml tag and an
// environment override SWITCHYARD_<SECTION>_<FIELD> for scalar fields.
type Config struct {
	Server    Server           `yaml:"server"`
	Log       Log              `yaml:"log"`
	Database  Database         `yaml:"database"`
	Redis     Redis            `yaml:"redis"`
	SecretKey Secret           `yaml:"secret_key"`
	Admin     Admin            `yaml:"admin"`
	Scheduler Scheduler        `yaml:"scheduler"`
	Upstream  Upstream         `yaml:"upstream"`
	Groups    []Group          `yaml:"groups"`
	Channels  []Channel        `yaml:"channels"`
	Users     []User           `yaml:"users"`
	Keys      []Key            `yaml:"keys"`
	Billing   Billing          `yaml:"billing"`
	Pricing   map[string]Price `yaml:"pricing"`
	Images    Images           `yaml:"images"`
	Metrics   Metrics          `yaml:"metrics"`
	Console   Console          `yaml:"console"`
	Topup     Topup            `yaml:"topup"`
}

// Secret is a string that never prints: fmt, slog and error messages show
// "[redacted]" (or "" when empty) instead of the value.
type Secret string

// Server is the HTTP listener and its limits.
type Server struct {
	Listen    string `yaml:"listen"`     // host:port
	PublicURL string `yaml:"public_url"` // base of signed image URLs
	DataDir   string `yaml:"data_dir"`

	ReadHeaderTimeout time.Duration `yaml:"read_header_timeout"` // default 10s
	IdleTimeout       time.Duration `yaml:"idle_timeout"`        // default 120s
	ShutdownTimeout   time.Duration `yaml:"shutdown_timeout"`    // in-flight grace on SIGTERM, default 30s
	MaxBodyBytes      int64         `yaml:"max_body_bytes"`      // JSON bodies, default 32 MiB
	MaxUploadBytes    int64         `yaml:"max_upload_bytes"`    // multipart bodies, default 64 MiB
	TrustedProxies    []string      `yaml:"trusted_proxies"`     // CIDRs whose X-Forwarded-For is believed

	// A request body must keep coming: BodyIdleTimeout is the longest wait
	// for its next bytes, BodyMinRate (bytes/s, after a grace of one
	// BodyIdleTimeout) the slowest average accepted, BodyTimeout the whole
	// read. Unbounded, a client that declares a body and then sends nothing
	// would hold its connection forever.
	BodyIdleTimeout time.Duration `yaml:"body_idle_timeout"` // default 10s
	BodyMinRate     int64         `yaml:"body_min_rate"`     // bytes per second, default 500; 0 = none
	BodyTimeout     time.Duration `yaml:"body_timeout"`      // default 10m; 0 = none

	// UnauthenticatedConnsPerIP caps the connections one peer address may
	// hold open before any of them presented a valid API key; 0 = no cap.
	UnauthenticatedConnsPerIP int `yaml:"unauthenticated_conns_per_ip"` // default 64
}

// Metrics says where and to whom /metrics is served. With neither set it is
// served on the main listener to loopback clients only: the series name
// channels and models.
type Metrics struct {
	Listen string `yaml:"listen"` // a separate host:port for /metrics; it then leaves the main listener
	Token  Secret `yaml:"token"`  // when set, a scrape must send Authorization: Bearer <token>
}

// Console is the web console's sign-in: how long a session lives without
// activity (SessionIdle) and at most (SessionMax).
type Console struct {
	SessionIdle time.Duration `yaml:"session_idle"` // default 24h
	SessionMax  time.Duration `yaml:"session_max"`  // default 720h (30 days)
}

// Log selects the slog handler.
type Log struct {
	Level  string `yaml:"level"`  // debug | info | warn | error
	Format string `yaml:"format"` // text | json
}

// Database selects the dialect by URL scheme.
type Database struct {
	URL          Secret        `yaml:"url"` // sqlite://path | postgres://… | mysql://…
	MaxOpenConns int           `yaml:"max_open_conns"`
	ConnMaxIdle  time.Duration `yaml:"conn_max_idle"`
}

// Redis is optional; when URL is set, shared state lives there.
type Redis struct {
	URL Secret `yaml:"url"`
	// Prefix starts every key the gateway writes, so that two deployments
	// (or a deployment and its tests) can share one Redis. On Redis
	// Cluster it needs a hash tag ("{sy}:"): the scripts of the limiter,
	// billing and the pool run together, one script call per request
	// phase (luabatch), so their keys must share a slot.
	Prefix string `yaml:"prefix"`
}

// Admin bootstraps the first administrator; there is no default password.
type Admin struct {
	Email    string `yaml:"email"`
	Password Secret `yaml:"password"`
}

// Scheduler tunes how credentials are picked and rested.
type Scheduler struct {
	Strategy            string        `yaml:"strategy"` // round_robin | random | weighted | least_used | least_latency
	MinInterval         time.Duration `yaml:"min_interval"`
	Cooldown429         time.Duration `yaml:"cooldown_429"`
	DailyUsageRatio     float64       `yaml:"daily_usage_ratio"`
	MaxAttempts         int           `yaml:"max_attempts"`
	ChannelTestInterval time.Duration `yaml:"channel_test_interval"`
	CircuitFailures     int           `yaml:"circuit_failures"` // consecutive failures that open the circuit
	CircuitPause        time.Duration `yaml:"circuit_pause"`    // open time before a half-open probe
}

// Upstream holds transport timeouts shared by every channel.
type Upstream struct {
	ConnectTimeout   time.Duration `yaml:"connect_timeout"`     // default 10s
	FirstByteTimeout time.Duration `yaml:"first_byte_timeout"`  // default 120s
	StreamIdle       time.Duration `yaml:"stream_idle_timeout"` // default 300s
	MaxIdleConns     int           `yaml:"max_idle_conns_per_host"`
}

// Group is a pricing tier with limits shared by each of its users' keys.
type Group struct {
	Name          string  `yaml:"name"`
	Ratio         float64 `yaml:"ratio"`
	RPM           int     `yaml:"rpm"`            // requests per minute per key, 0 = none
	TPM           int     `yaml:"tpm"`            // tokens per minute per key, 0 = none
	DailyRequests int     `yaml:"daily_requests"` // requests per day per key, 0 = none
	// ImageResponseFormat is the group's keys' default response_format for
	// image requests that send none: "" (the model's own), "url" or "b64_json".
	ImageResponseFormat string `yaml:"image_response_format"`
}

// Channel is one upstream endpoint with its pool of credentials.
type Channel struct {
	Name       string            `yaml:"name"`
	Type       string            `yaml:"type"` // openai | azure | anthropic | gemini | bedrock
	BaseURL    string            `yaml:"base_url"`
	APIVersion string            `yaml:"api_version"` // azure
	Region     string            `yaml:"region"`      // bedrock: the AWS region, e.g. us-east-1
	TokenURL   string            `yaml:"token_url"`   // OAuth2 refresh_token grant
	Models     []string          `yaml:"models"`
	ModelMap   map[string]string `yaml:"model_map"`
	Groups     []string          `yaml:"groups"`
	Priority   int               `yaml:"priority"`
	Weight     int               `yaml:"weight"`
	Proxy      string            `yaml:"proxy"`
	Strategy   string            `yaml:"strategy"` // overrides scheduler.strategy
	Disabled   bool              `yaml:"disabled"`
	// MaxImages is how many images one upstream call may ask for (0 = the
	// default for the upstream model); larger requests are split.
	MaxImages int `yaml:"max_images"`
	// TestModel is the model the periodic test of a disabled credential
	// asks for; default: the first name in Models that is not a pattern,
	// else a model_map key.
	TestModel string `yaml:"test_model"`
	// HostedTools is what a request translated for this channel does with a
	// hosted tool the upstream cannot run (Codex's web_search on a gemini
	// channel, Anthropic's server tools on an openai one): HostedToolsDrop
	// (the default) sends the request without it and warns,
	// HostedToolsRefuse answers 400.
	HostedTools string `yaml:"hosted_tools"`
	// Flavor names the kind of OpenAI-compatible server an openai channel
	// talks to (deepseek, qwen, ollama, vllm, llamacpp, legacy), which
	// implies its Quirks; Quirks adds to them (see flavor.go).
	Flavor      string       `yaml:"flavor"`
	Quirks      []string     `yaml:"quirks"`
	Credentials []Credential `yaml:"credentials"`
	// Project and Location place a vertex channel's models under
	// projects/{project}/locations/{location}. On a vertex channel TokenURL,
	// when set, replaces the service accounts' token_uri (a private
	// endpoint, tests).
	Project  string `yaml:"project"`
	Location string `yaml:"location"` // us-central1, europe-west4, global, …
}

// The values of channels[].hosted_tools.
const (
	HostedToolsDrop   = "drop"
	HostedToolsRefuse = "refuse"
)

// DropsHostedTools reports whether the channel sends translated requests
// without the hosted tools its upstream cannot run.
func (ch *Channel) DropsHostedTools() bool { return ch.HostedTools != HostedToolsRefuse }

// Credential is an API key, an OAuth token pair, or (bedrock) an AWS
// access key.
type Credential struct {
	Key Secret `yaml:"key"`
	// AccessKeyID, SecretAccessKey and SessionToken are a bedrock
	// credential; finish packs them into Key (sigv4.Credentials.Key), the
	// one secret a credential is stored and sealed as.
	AccessKeyID     Secret    `yaml:"access_key_id"`
	SecretAccessKey Secret    `yaml:"secret_access_key"`
	SessionToken    Secret    `yaml:"session_token"`
	AccessToken     Secret    `yaml:"access_token"`
	RefreshToken    Secret    `yaml:"refresh_token"`
	ExpiresAt       time.Time `yaml:"expires_at"`
	Email           string    `yaml:"email"`
	DailyLimit      int64     `yaml:"daily_limit"`  // requests per day, 0 = none
	DailyTokens     int64     `yaml:"daily_tokens"` // tokens per day, 0 = none
	DailySpend      float64   `yaml:"daily_spend"`  // USD per day, 0 = none
	Proxy           string    `yaml:"proxy"`
	Weight          int       `yaml:"weight"`
	// ServiceAccount is a Google service-account key file (JSON), the
	// credential of vertex channels.
	ServiceAccount Secret `yaml:"service_account"`
}

// User is declared by the file and created once.
type User struct {
	Email  string  `yaml:"email"`
	Name   string  `yaml:"name"`
	Group  string  `yaml:"group"`
	Role   string  `yaml:"role"`   // user | admin
	Credit float64 `yaml:"credit"` // USD, granted once
}

// Key is an API key declared by the file; its value is stored hashed.
type Key struct {
	Name          string    `yaml:"name"`
	User          string    `yaml:"user"`
	Key           Secret    `yaml:"key"`
	Models        []string  `yaml:"models"`
	Quota         *float64  `yaml:"quota"` // USD; nil = no cap
	RPM           int       `yaml:"rpm"`
	TPM           int       `yaml:"tpm"`
	DailyRequests int       `yaml:"daily_requests"`
	IPAllow       []string  `yaml:"ip_allow"`
	ExpiresAt     time.Time `yaml:"expires_at"`
	Admin         bool      `yaml:"admin"`
	// ImageResponseFormat overrides the group's image_response_format.
	ImageResponseFormat string `yaml:"image_response_format"`
	// WebhookURL receives the key's finished async image tasks, signed with
	// WebhookSecret.
	WebhookURL    string `yaml:"webhook_url"`
	WebhookSecret Secret `yaml:"webhook_secret"`
}

// Billing holds wallet defaults and the bounds of a request's charge.
type Billing struct {
	NewUserCredit float64 `yaml:"new_user_credit"` // USD
	// InviteCredit is USD a user gets for redeeming another user's invite
	// code (on top of new_user_credit); InviterBonus is USD the inviter
	// gets for each user who does.
	InviteCredit float64 `yaml:"invite_credit"`
	InviterBonus float64 `yaml:"inviter_bonus"`
	// Overdraft is how far below zero (USD) a wallet or key quota may be
	// charged when a request's actual cost exceeds its reservation; beyond
	// it the gateway absorbs the cost.
	Overdraft float64 `yaml:"overdraft"`
	// DefaultMaxTokens is the output tokens reserved for a request that
	// sets no max_tokens.
	DefaultMaxTokens int64 `yaml:"default_max_tokens"`
}

// Price is a model's price in USD: tokens per 1M, images per image.
type Price struct {
	Input       float64            `yaml:"input"`
	Output      float64            `yaml:"output"`
	CachedInput float64            `yaml:"cached_input"` // 0 = the input price
	PerRequest  float64            `yaml:"per_request"`
	PerImage    map[string]float64 `yaml:"per_image"` // size (or size/quality) → USD; "default"
	// PerWebSearch is USD per web search the upstream ran and billed
	// (Anthropic's web search server tool); 0 charges none.
	PerWebSearch float64 `yaml:"per_web_search"`
	Free         bool    `yaml:"free"`
}

// Images configures image requests, async image tasks and stored results.
type Images struct {
	Storage   string        `yaml:"storage"` // file://dir | s3://bucket/prefix?endpoint=…&region=…
	URLTTL    time.Duration `yaml:"url_ttl"`
	Retention time.Duration `yaml:"retention"` // how long stored images are kept

	Workers     int           `yaml:"workers"`      // async image tasks run at once per node
	TaskTimeout time.Duration `yaml:"task_timeout"` // one async task, all upstream calls included

	MaxInputPixels int64 `yaml:"max_input_pixels"` // per uploaded image
	MaxInputBytes  int64 `yaml:"max_input_bytes"`  // per uploaded image
	// MaxDecodeBytes bounds the memory one uploaded image takes decoded,
	// as estimated from its header (bit depth and channels included).
	MaxDecodeBytes int64 `yaml:"max_decode_bytes"`
	MaxInputs      int   `yaml:"max_inputs"`      // images per edit request
	FetchMaxBytes  int64 `yaml:"fetch_max_bytes"` // download cap for an upstream's image URL

	// ResponseFormat is the default for requests that send none: "" (the
	// model's own default), "url" or "b64_json". Groups and keys override it.
	ResponseFormat string `yaml:"response_format"`

	// WebhookAllowPrivate lets webhooks use http:// and reach private,
	// loopback and link-local addresses; off, only https:// to public
	// addresses is allowed.
	WebhookAllowPrivate bool          `yaml:"webhook_allow_private"`
	WebhookAttempts     int           `yaml:"webhook_attempts"` // deliveries tried before giving up
	WebhookTimeout      time.Duration `yaml:"webhook_timeout"`  // one delivery attempt
}

// Topup lets users buy credit with the providers configured here
// (docs/payments.md). Packages are made in the console.
type Topup struct {
	// OrderTTL is how long an order waits for its payment (default 30m).
	OrderTTL time.Duration `yaml:"order_ttl"`
	// NotifyRate bounds the notifications a client address may send per
	// minute to the public notify endpoints (default 60).
	NotifyRate int         `yaml:"notify_rate"`
	Custom     TopupCustom `yaml:"custom"`
	// Manual lets users create orders an admin marks paid by hand.
	Manual bool         `yaml:"manual"`
	Stripe *TopupStripe `yaml:"stripe"`
	EPay   *TopupEPay   `yaml:"epay"`
}

// Enabled reports whether any provider is configured.
func (t Topup) Enabled() bool { return t.Manual || t.Stripe != nil || t.EPay != nil }

// TopupCustom bounds the free amounts users may buy.
type TopupCustom struct {
	Enabled     bool    `yaml:"enabled"`
	Currency    string  `yaml:"currency"`      // ISO 4217, e.g. usd, cny
	PricePerUSD int64   `yaml:"price_per_usd"` // minor units of currency per USD of credit
	MinUSD      float64 `yaml:"min_usd"`
	MaxUSD      float64 `yaml:"max_usd"`
}

// TopupStripe is Stripe Checkout.
type TopupStripe struct {
	SecretKey Secret `yaml:"secret_key"` // sk_live_… or a restricted key
	// WebhookSecrets are the endpoint's signing secrets (whsec_…); two
	// while one is being rolled.
	WebhookSecrets []Secret `yaml:"webhook_secrets"`
	APIBase        string   `yaml:"api_base"` // default https://api.stripe.com
}

// TopupEPay is an EPay-compatible (易支付) gateway.
type TopupEPay struct {
	Gateway  string `yaml:"gateway"` // base URL; users are sent to its submit.php
	PID      string `yaml:"pid"`
	Key      Secret `yaml:"key"`
	Type     string `yaml:"type"`     // alipay, wxpay, …; empty lets the gateway ask
	Currency string `yaml:"currency"` // default cny
}
