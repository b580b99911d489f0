package config

import (
	"errors"
	"strings"
	"testing"
)

// A valid channel, users and keys that bad-config cases start from.
const (
	goodChannel = `
channels:
  - name: main
    type: openai
    base_url: https://api.openai.com
    models: [gpt-4o-mini]
    credentials:
      - key: sk-test-000000000000000000
`
	goodUsersKeys = `
users:
  - {email: alice@example.com}
keys:
  - {name: k1, user: alice@example.com, key: sk-alice-0000000000000000}
`
)

func TestBadConfigs(t *testing.T) {
	tests := []struct {
		name     string
		doc      string
		env, set map[string]string
		path     string // exact path of the expected error
		phrase   string // part of its message
		others   bool   // other errors may accompany it
	}{
		{name: "stripe without webhook secrets", doc: "topup: {stripe: {secret_key: sk_test_1}}\n",
			path: "topup.stripe.webhook_secrets", phrase: "signing secret"},
		{name: "epay without key", doc: "topup: {epay: {gateway: https://pay.example.com/, pid: '1001'}}\n",
			path: "topup.epay.key", phrase: "merchant key"},
		{name: "epay gateway not a url", doc: "topup: {epay: {gateway: pay, pid: '1001', key: k}}\n",
			path: "topup.epay.gateway", phrase: "", others: false},
		{name: "custom amounts without a price", doc: "topup: {custom: {enabled: true, currency: usd, min_usd: 1, max_usd: 10}}\n",
			path: "topup.custom.price_per_usd", phrase: "greater than 0"},
		{name: "negative notify rate", doc: "topup: {notify_rate: -1}\n",
			path: "topup.notify_rate", phrase: "must be ≥ 0"},
		{name: "zero body idle timeout", doc: "server: {body_idle_timeout: 0s}\n",
			path: "server.body_idle_timeout", phrase: "greater than 0"},
		{name: "negative body min rate", doc: "server: {body_min_rate: -1}\n",
			path: "server.body_min_rate", phrase: "must be ≥ 0"},
		{name: "negative body timeout", doc: "server: {body_timeout: -1s}\n",
			path: "server.body_timeout", phrase: "must not be negative"},
		{name: "negative unauthenticated cap", doc: "server: {unauthenticated_conns_per_ip: -1}\n",
			path: "server.unauthenticated_conns_per_ip", phrase: "must be ≥ 0"},
		{name: "bad metrics listen", doc: "metrics: {listen: localhost}\n",
			path: "metrics.listen", phrase: "is not host:port"},
		{name: "metrics listen on the api port", doc: "server: {listen: 127.0.0.1:8080}\nmetrics: {listen: 127.0.0.1:8080}\n",
			path: "metrics.listen", phrase: "is server.listen"},
		{name: "short metrics token", doc: "metrics: {token: abc}\n",
			path: "metrics.token", phrase: "at least 16 characters"},
		{name: "console session idle too short", doc: "console: {session_idle: 10s}\n",
			path: "console.session_idle", phrase: "at least 1m"},
		{name: "console session max below idle", doc: "console: {session_idle: 48h, session_max: 24h}\n",
			path: "console.session_max", phrase: "not be shorter than console.session_idle"},
		{name: "image response format", doc: "images: {response_format: png}\n",
			path: "images.response_format", phrase: `"png" is not one of "", "url", "b64_json"`},
		{name: "zero image workers", doc: "images: {workers: 0}\n",
			path: "images.workers", phrase: "must be 1 or more"},
		{name: "zero task timeout", doc: "images: {task_timeout: 0s}\n",
			path: "images.task_timeout", phrase: "greater than 0"},
		{name: "zero retention", doc: "images: {retention: 0s}\n",
			path: "images.retention", phrase: "greater than 0"},
		{name: "retention below url_ttl", doc: "images: {retention: 1h, url_ttl: 2h}\n",
			path: "images.retention", phrase: "signed URLs would outlive their images"},
		{name: "zero max input pixels", doc: "images: {max_input_pixels: 0}\n",
			path: "images.max_input_pixels", phrase: "greater than 0"},
		{name: "negative max input bytes", doc: "images: {max_input_bytes: -1}\n",
			path: "images.max_input_bytes", phrase: "greater than 0"},
		{name: "zero max decode bytes", doc: "images: {max_decode_bytes: 0}\n",
			path: "images.max_decode_bytes", phrase: "greater than 0"},
		{name: "zero max inputs", doc: "images: {max_inputs: 0}\n",
			path: "images.max_inputs", phrase: "1 or more"},
		{name: "zero fetch cap", doc: "images: {fetch_max_bytes: 0}\n",
			path: "images.fetch_max_bytes", phrase: "greater than 0"},
		{name: "zero webhook attempts", doc: "images: {webhook_attempts: 0}\n",
			path: "images.webhook_attempts", phrase: "1 or more"},
		{name: "zero webhook timeout", doc: "images: {webhook_timeout: 0s}\n",
			path: "images.webhook_timeout", phrase: "greater than 0"},
		{name: "group image response format", doc: "groups: [{name: default, image_response_format: URL}]\n",
			path: "groups[0].image_response_format", phrase: `"URL" is not one of "", "url", "b64_json"`},
		{name: "channel max_images too high", doc: goodChannel + "    max_images: 11\n",
			path: "channels[0].max_images", phrase: "must be from 0 (the upstream model's default) to 10"},
		{name: "channel hosted_tools unknown", doc: goodChannel + "    hosted_tools: ignore\n",
			path: "channels[0].hosted_tools", phrase: `"ignore" is not one of`},
		{name: "channel max_images negative", doc: goodChannel + "    max_images: -1\n",
			path: "channels[0].max_images", phrase: "must be from 0"},
		{name: "key image response format", doc: strings.Replace(goodUsersKeys, "0000}\n", "0000, image_response_format: base64}\n", 1),
			path: "keys[0].image_response_format", phrase: `"base64" is not one of`},
		{name: "webhook over http", doc: strings.Replace(goodUsersKeys, "0000}\n", "0000, webhook_url: \"http://hooks.example.com/x\", webhook_secret: 0123456789abcdef}\n", 1),
			path: "keys[0].webhook_url", phrase: "must be https://; http:// is allowed only with images.webhook_allow_private: true"},
		{name: "webhook with user info", doc: strings.Replace(goodUsersKeys, "0000}\n", "0000, webhook_url: \"https://u:p@hooks.example.com/x\", webhook_secret: 0123456789abcdef}\n", 1),
			path: "keys[0].webhook_url", phrase: "must not carry user info"},
		{name: "webhook bad scheme", doc: strings.Replace(goodUsersKeys, "0000}\n", "0000, webhook_url: \"ftp://hooks.example.com/x\", webhook_secret: 0123456789abcdef}\n", 1),
			path: "keys[0].webhook_url", phrase: "is not an https URL"},
		{name: "webhook without host", doc: strings.Replace(goodUsersKeys, "0000}\n", "0000, webhook_url: \"https:///x\", webhook_secret: 0123456789abcdef}\n", 1),
			path: "keys[0].webhook_url", phrase: "has no host"},
		{name: "webhook without secret", doc: strings.Replace(goodUsersKeys, "0000}\n", "0000, webhook_url: \"https://hooks.example.com/x\"}\n", 1),
			path: "keys[0].webhook_secret", phrase: "required when webhook_url is set"},
		{name: "webhook secret too short", doc: strings.Replace(goodUsersKeys, "0000}\n", "0000, webhook_url: \"https://hooks.example.com/x\", webhook_secret: short-S3CRET}\n", 1),
			path: "keys[0].webhook_secret", phrase: "too short: use at least 16 characters"},
		{name: "webhook secret without url", doc: strings.Replace(goodUsersKeys, "0000}\n", "0000, webhook_secret: 0123456789abcdef}\n", 1),
			path: "keys[0].webhook_secret", phrase: "set without webhook_url"},
		{name: "typo in section field", doc: "server:\n  listn: 127.0.0.1:1\n",
			path: "server.listn", phrase: `unknown field (did you mean "listen"?)`},
		{name: "typo in section name", doc: "chanels: []\n",
			path: "chanels", phrase: `unknown field (did you mean "channels"?)`},
		{name: "nested typo in list element", doc: strings.Replace(goodChannel, "- key:", "- kee:", 1),
			path: "channels[0].credentials[0].kee", phrase: `did you mean "key"?`, others: true},
		{name: "unknown field far from any name", doc: "server:\n  frobnicate: 1\n",
			path: "server.frobnicate", phrase: "unknown field"},
		{name: "bad URL", doc: strings.Replace(goodChannel, "https://api.openai.com", "htp://x", 1),
			path: "channels[0].base_url", phrase: `"htp://x" is not an http(s) URL`},
		{name: "URL without host", doc: strings.Replace(goodChannel, "https://api.openai.com", "https://", 1),
			path: "channels[0].base_url", phrase: "has no host"},
		{name: "bad duration", doc: "scheduler:\n  cooldown_429: 5 minutes\n",
			path: "scheduler.cooldown_429", phrase: `"5 minutes" is not a duration`},
		{name: "duration without unit", doc: "upstream:\n  connect_timeout: 300\n",
			path: "upstream.connect_timeout", phrase: "Go syntax such as"},
		{name: "negative duration", doc: "scheduler:\n  min_interval: -1s\n",
			path: "scheduler.min_interval", phrase: "must not be negative"},
		{name: "zero timeout", doc: "upstream:\n  first_byte_timeout: 0s\n",
			path: "upstream.first_byte_timeout", phrase: "greater than 0"},
		{name: "bad enum", doc: "scheduler:\n  strategy: fastest\n",
			path: "scheduler.strategy", phrase: `"fastest" is not one of "round_robin", "random"`},
		{name: "bad log level", doc: "log: {level: loud}\n",
			path: "log.level", phrase: `"loud" is not one of`},
		{name: "bad channel type", doc: strings.Replace(goodChannel, "type: openai", "type: cohere", 1),
			path: "channels[0].type", phrase: `"cohere" is not one of "openai", "azure", "anthropic", "gemini", "vertex", "bedrock"`},
		{name: "duplicate channel name", doc: goodChannel + strings.TrimPrefix(goodChannel, "\nchannels:\n"),
			path: "channels[1].name", phrase: `channel "main" is already declared at channels[0]`},
		{name: "unknown group reference", doc: goodChannel + "    groups: [vip]\n",
			path: "channels[0].groups[0]", phrase: `group "vip" is not declared`},
		{name: "default group not declared", doc: "groups: [{name: vip}]\n" + goodChannel,
			path: "channels[0].groups[0]", phrase: `group "default" is not declared; add it under groups: or use one of "vip"`},
		{name: "duplicate group", doc: "groups: [{name: a}, {name: a}, {name: default}]\n",
			path: "groups[1].name", phrase: "already declared at groups[0]"},
		{name: "missing credential", doc: strings.Replace(goodChannel, "- key: sk-test-000000000000000000", "- {daily_limit: 5}", 1),
			path: "channels[0].credentials[0].key", phrase: "set key (an API key) or access_token"},
		{name: "no credentials at all", doc: strings.Replace(goodChannel, "    credentials:\n      - key: sk-test-000000000000000000\n", "", 1),
			path: "channels[0].credentials", phrase: "no credentials"},
		{name: "key and access_token", doc: goodChannel + "        access_token: at-1\n",
			path: "channels[0].credentials[0].access_token", phrase: "either key or access_token, not both"},
		{name: "refresh_token without token_url", doc: strings.Replace(goodChannel, "- key: sk-test-000000000000000000", "- {access_token: a, refresh_token: r}", 1),
			path: "channels[0].credentials[0].refresh_token", phrase: "needs token_url"},
		{name: "duplicate credential key", doc: goodChannel + "      - key: sk-test-000000000000000000\n",
			path: "channels[0].credentials[1].key", phrase: "same key as credentials[0]"},
		{name: "empty models", doc: strings.Replace(goodChannel, "[gpt-4o-mini]", "[]", 1),
			path: "channels[0].models", phrase: "list at least one model"},
		{name: "duplicate model", doc: strings.Replace(goodChannel, "[gpt-4o-mini]", "[a, b, a]", 1),
			path: "channels[0].models[2]", phrase: `"a" is already listed at [0]`},
		{name: "explicit zero weight", doc: goodChannel + "    weight: 0\n",
			path: "channels[0].weight", phrase: "must be 1 or more"},
		{name: "bad proxy scheme", doc: goodChannel + "    proxy: ftp://user:pw@proxy:21\n",
			path: "channels[0].proxy", phrase: `"ftp://xxxxx@proxy:21": scheme must be http, https, socks5 or socks5h`},
		{name: "bad credential proxy", doc: goodChannel + "        proxy: socks5://\n",
			path: "channels[0].credentials[0].proxy", phrase: "has no host"},
		{name: "empty model_map target", doc: goodChannel + "    model_map: {gpt-3.5-turbo: ''}\n",
			path: `channels[0].model_map["gpt-3.5-turbo"]`, phrase: "upstream model name must not be empty"},
		{name: "pattern as model_map target", doc: goodChannel + "    model_map: {claude-*: 'gpt-*'}\n",
			path: "channels[0].model_map.claude-*", phrase: "must be a name, not a pattern"},
		{name: "pattern-only channel without test_model", doc: strings.Replace(goodChannel, "[gpt-4o-mini]", "[gpt-*]", 1),
			path: "channels[0].test_model", phrase: "required when every entry of models is a pattern"},
		{name: "pattern as test_model", doc: goodChannel + "    test_model: gpt-*\n",
			path: "channels[0].test_model", phrase: "must be a model name, not a pattern"},
		{name: "bad secret_key", doc: "secret_key: abc123\n",
			path: "secret_key", phrase: "exactly 64 hexadecimal characters"},
		{name: "secret_key required for shared database", doc: "database: {url: 'postgres://u:pw@db:5432/x'}\n",
			path: "secret_key", phrase: "required when nodes share"},
		{name: "bad database scheme", doc: "database: {url: 'oracle://scott:tiger@db/x'}\n",
			path: "database.url", phrase: "scheme must be sqlite://, postgres:// or mysql://"},
		{name: "sqlite without path", doc: "database: {url: 'sqlite://'}\n",
			path: "database.url", phrase: "needs a file path"},
		{name: "bad redis scheme", doc: "secret_key: " + testSecretKey + "\nredis: {url: 'http://r:6379'}\n",
			path: "redis.url", phrase: "redis:// or rediss://"},
		{name: "bad listen port", doc: "server: {listen: '127.0.0.1:99999'}\n",
			path: "server.listen", phrase: `port "99999" must be a number from 0 to 65535`},
		{name: "listen without port", doc: "server: {listen: localhost}\n",
			path: "server.listen", phrase: "is not host:port"},
		{name: "public_url not http", doc: "server: {public_url: 'ftp://gw'}\n",
			path: "server.public_url", phrase: "not an http(s) URL"},
		{name: "bad trusted proxy", doc: "server: {trusted_proxies: [10.0.0.0/33]}\n",
			path: "server.trusted_proxies[0]", phrase: "not an IP address or CIDR"},
		{name: "ratio out of range", doc: "scheduler: {daily_usage_ratio: 1.5}\n",
			path: "scheduler.daily_usage_ratio", phrase: "at most 1"},
		{name: "max_attempts out of range", doc: "scheduler: {max_attempts: 0}\n",
			path: "scheduler.max_attempts", phrase: "must be from 1 to 10"},
		{name: "short admin password", doc: "admin: {email: a@example.com, password: short}\n",
			path: "admin.password", phrase: "at least 12 characters"},
		{name: "admin password without email", doc: "admin: {password: long-enough-password}\n",
			path: "admin.email", phrase: "required when admin.password is set"},
		{name: "bad user email", doc: "users: [{email: not-an-email}]\n",
			path: "users[0].email", phrase: `"not-an-email" is not an email address`},
		{name: "duplicate user email ignoring case", doc: "users: [{email: a@example.com}, {email: A@example.com}]\n",
			path: "users[1].email", phrase: "already declared at users[0]"},
		{name: "bad user role", doc: "users: [{email: a@example.com, role: root}]\n",
			path: "users[0].role", phrase: `"root" is not one of "user", "admin"`},
		{name: "negative credit", doc: "users: [{email: a@example.com, credit: -1}]\n",
			path: "users[0].credit", phrase: "must be 0 or more"},
		{name: "key for undeclared user", doc: strings.Replace(goodUsersKeys, "user: alice@", "user: bob@", 1),
			path: "keys[0].user", phrase: `"bob@example.com" is not declared`},
		{name: "key may belong to the admin", doc: "admin: {email: root@example.com}\nkeys: [{name: k, user: ROOT@example.com, key: x-000000000000000000000}]\nsecret_key: nothex\n",
			path: "secret_key", phrase: "64 hexadecimal"},
		{name: "short key", doc: strings.Replace(goodUsersKeys, "sk-alice-0000000000000000", "sk-short", 1),
			path: "keys[0].key", phrase: "at least 20 characters"},
		{name: "duplicate key value", doc: goodUsersKeys + "  - {name: k2, user: alice@example.com, key: sk-alice-0000000000000000}\n",
			path: "keys[1].key", phrase: "same value as keys[0]"},
		{name: "duplicate key name", doc: goodUsersKeys + "  - {name: k1, user: alice@example.com, key: sk-alice-1111111111111111}\n",
			path: "keys[1].name", phrase: `key "k1" is already declared at keys[0]`},
		{name: "bad CIDR", doc: strings.Replace(goodUsersKeys, "key: sk-alice", "ip_allow: [300.1.1.1/8], key: sk-alice", 1),
			path: "keys[0].ip_allow[0]", phrase: `"300.1.1.1/8" is not an IP address or CIDR range`},
		{name: "negative quota", doc: strings.Replace(goodUsersKeys, "key: sk-alice", "quota: -5, key: sk-alice", 1),
			path: "keys[0].quota", phrase: "must be 0 or more"},
		{name: "negative rpm", doc: strings.Replace(goodUsersKeys, "key: sk-alice", "rpm: -1, key: sk-alice", 1),
			path: "keys[0].rpm", phrase: "0 (no limit) or more"},
		{name: "negative group rpm", doc: "groups:\n  - {name: default, rpm: -5}\n",
			path: "groups[0].rpm", phrase: "-5 must be 0 (no limit) or more"},
		{name: "negative group tpm", doc: "groups:\n  - {name: default, tpm: -1}\n",
			path: "groups[0].tpm", phrase: "0 (no limit) or more"},
		{name: "negative group daily_requests", doc: "groups:\n  - {name: default, daily_requests: -2}\n",
			path: "groups[0].daily_requests", phrase: "0 (no limit) or more"},
		{name: "string in int field", doc: strings.Replace(goodUsersKeys, "key: sk-alice", "rpm: sixty, key: sk-alice", 1),
			path: "keys[0].rpm", phrase: `"sixty" is not a whole number`},
		{name: "fraction in int field", doc: "scheduler: {max_attempts: 2.5}\n",
			path: "scheduler.max_attempts", phrase: `"2.5" is not a whole number`},
		{name: "int out of range", doc: "server: {max_body_bytes: 99999999999999999999}\n",
			path: "server.max_body_bytes", phrase: "out of range"},
		{name: "bad time", doc: strings.Replace(goodUsersKeys, "key: sk-alice", "expires_at: tomorrow, key: sk-alice", 1),
			path: "keys[0].expires_at", phrase: "RFC 3339"},
		{name: "bad bool", doc: goodChannel + "    disabled: maybe\n",
			path: "channels[0].disabled", phrase: `"maybe" is not true or false`},
		{name: "negative price", doc: "pricing:\n  gpt-4o-mini: {input: -0.15}\n",
			path: "pricing.gpt-4o-mini.input", phrase: "must be 0 or more"},
		{name: "negative price of dotted model", doc: "pricing:\n  gpt-3.5-turbo: {output: -1}\n",
			path: `pricing["gpt-3.5-turbo"].output`, phrase: "must be 0 or more"},
		{name: "infinite price", doc: "pricing:\n  m: {input: .inf}\n",
			path: "pricing.m.input", phrase: "is not a number"},
		{name: "NaN price", doc: "pricing:\n  m: {input: NaN}\n",
			path: "pricing.m.input", phrase: "not a finite number"},
		{name: "empty per_image size", doc: "pricing:\n  img: {per_image: {'': 0.04}}\n",
			path: `pricing.img.per_image[""]`, phrase: "size must not be empty"},
		{name: "bad per_image size", doc: "pricing:\n  img: {per_image: {1024*1024: 0.04}}\n",
			path: "pricing.img.per_image.1024*1024", phrase: "is not default, WxH or WxH/quality"},
		{name: "per_image zero width", doc: "pricing:\n  img: {per_image: {0x1024: 0.04}}\n",
			path: "pricing.img.per_image.0x1024", phrase: "write it like 1024x1024"},
		{name: "per_image upper-case quality", doc: "pricing:\n  img: {per_image: {1024x1024/HD: 0.04}}\n",
			path: "pricing.img.per_image.1024x1024/HD", phrase: "WxH/quality"},
		{name: "per_image empty quality", doc: "pricing:\n  img: {per_image: {1024x1024/: 0.04}}\n",
			path: "pricing.img.per_image.1024x1024/", phrase: "WxH/quality"},
		{name: "negative overdraft", doc: "billing: {overdraft: -1}\n",
			path: "billing.overdraft", phrase: "must be 0 or more"},
		{name: "negative default_max_tokens", env: map[string]string{"SWITCHYARD_BILLING_DEFAULT_MAX_TOKENS": "-5"},
			path: "billing.default_max_tokens", phrase: "-5 must be 0 or more (default 4096) (set by environment variable SWITCHYARD_BILLING_DEFAULT_MAX_TOKENS)"},
		{name: "bad image storage", doc: "images: {storage: 'gopher://x'}\n",
			path: "images.storage", phrase: "scheme must be file://"},
		{name: "s3 without bucket", doc: "images: {storage: 's3:///prefix'}\n",
			path: "images.storage", phrase: "needs a bucket"},
		{name: "zero url_ttl", doc: "images: {url_ttl: 0s}\n",
			path: "images.url_ttl", phrase: "greater than 0"},
		{name: "unset variable", doc: strings.Replace(goodChannel, "sk-test-000000000000000000", "${NOPE}", 1),
			path: "channels[0].credentials[0].key", phrase: "environment variable NOPE is not set"},
		{name: "unterminated variable", doc: "server: {listen: '${PORT'}\n",
			path: "server.listen", phrase: "unterminated ${"},
		{name: "bad variable name", doc: "log: {level: '${1X}'}\n",
			path: "log.level", phrase: "must hold an environment variable name"},
		{name: "list where mapping expected", doc: "server: [a, b]\n",
			path: "server", phrase: "expected a mapping (key: value), got a list"},
		{name: "mapping where list expected", doc: strings.Replace(goodChannel, "[gpt-4o-mini]", "{a: b}", 1),
			path: "channels[0].models", phrase: "expected a list, got a mapping"},
		{name: "list where string expected", doc: "log: {level: [info]}\n",
			path: "log.level", phrase: "expected a string, got a list"},
		{name: "duplicate YAML key", doc: "server:\n  listen: 127.0.0.1:1\n  listen: 127.0.0.1:2\n",
			path: "server.listen", phrase: "defined twice (first on line 2)"},
		{name: "bad env override", env: map[string]string{"SWITCHYARD_SCHEDULER_MAX_ATTEMPTS": "lots"},
			path: "scheduler.max_attempts", phrase: `"lots" is not a whole number (from environment variable SWITCHYARD_SCHEDULER_MAX_ATTEMPTS)`},
		{name: "env override fails validation", env: map[string]string{"SWITCHYARD_LOG_LEVEL": "loud"},
			path: "log.level", phrase: "(set by environment variable SWITCHYARD_LOG_LEVEL)"},
		{name: "bad set value", set: map[string]string{"server.read_header_timeout": "soon"},
			path: "server.read_header_timeout", phrase: `"soon" is not a duration`},
		{name: "set validation names origin", set: map[string]string{"server.listen": "nope"},
			path: "server.listen", phrase: "(set by the command line)"},
		{name: "set unknown field", set: map[string]string{"server.listn": "x"},
			path: "server.listn", phrase: `did you mean "listen"?`},
		{name: "set index out of range", doc: goodChannel, set: map[string]string{"channels[3].weight": "2"},
			path: "channels[3].weight", phrase: "index out of range (the list has 1 entries)"},
		{name: "set a whole section", set: map[string]string{"server": "x"},
			path: "server", phrase: "set one of its settings instead"},
		{name: "set list without index", doc: goodChannel, set: map[string]string{"channels.weight": "2"},
			path: "channels.weight", phrase: "address an entry as [index]"},
		{name: "merge of a scalar", doc: "server:\n  <<: 5\n",
			path: "server", phrase: "<< must merge a mapping"},
	}
	if len(tests) < 15 {
		t.Fatalf("only %d cases", len(tests))
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := loadYAML(t, tt.doc, tt.env, tt.set)
			var errs Errors
			if !errors.As(err, &errs) {
				t.Fatalf("Load error = %v (%T), want Errors", err, err)
			}
			found := false
			for _, e := range errs {
				if e.Path == tt.path && strings.Contains(e.Message, tt.phrase) {
					found = true
				}
			}
			if !found {
				t.Fatalf("no error at %s containing %q; got:\n%v", tt.path, tt.phrase, err)
			}
			if !tt.others && len(errs) != 1 {
				t.Errorf("want exactly one error, got %d:\n%v", len(errs), err)
			}
		})
	}
}

func TestMultipleErrorsInSourceOrder(t *testing.T) {
	doc := `
server:
  listen: nope
log:
  level: loud
channels:
  - name: a
    type: openai
    base_url: htp://x
    models: [m]
    credentials: [{key: k}]
scheduler:
  strategy: fastest
  cooldown_429: soon
`
	_, err := loadYAML(t, doc, map[string]string{"SWITCHYARD_UPSTREAM_CONNECT_TIMEOUT": "never"}, nil)
	var errs Errors
	if !errors.As(err, &errs) {
		t.Fatalf("Load error = %v, want Errors", err)
	}
	want := []struct {
		path string
		line int
	}{
		{"server.listen", 3},
		{"log.level", 5},
		{"channels[0].base_url", 9},
		{"scheduler.strategy", 13},
		{"scheduler.cooldown_429", 14},
		{"upstream.connect_timeout", 0}, // from the environment: no line, last
	}
	if len(errs) != len(want) {
		t.Fatalf("got %d errors, want %d:\n%v", len(errs), len(want), err)
	}
	for i, w := range want {
		if errs[i].Path != w.path || errs[i].Line != w.line {
			t.Errorf("error %d = %s (line %d), want %s (line %d)", i, errs[i].Path, errs[i].Line, w.path, w.line)
		}
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != len(want) || !strings.HasPrefix(lines[0], "server.listen: ") {
		t.Errorf("Error() should list one problem per line, got:\n%s", err)
	}
}

func TestValidateDirect(t *testing.T) {
	// Validate must stand on its own for configs built in code.
	c := Default()
	if err := c.Validate(); err != nil {
		t.Fatalf("Default invalid: %v", err)
	}
	c.Scheduler.MaxAttempts = 0
	c.Channels = []Channel{{Name: "x", Type: "openai", BaseURL: "https://a", Models: []string{"m"}, Groups: []string{"default"}, Weight: 1,
		Credentials: []Credential{{Key: "k", Weight: 1}}}}
	err := c.Validate()
	var errs Errors
	if !errors.As(err, &errs) || len(errs) != 1 || errs[0].Path != "scheduler.max_attempts" {
		t.Fatalf("Validate() = %v, want one error at scheduler.max_attempts", err)
	}
}

func TestGoodPricingKeys(t *testing.T) {
	doc := `
pricing:
  gpt-4o-mini: {input: 0.15, output: 0.60, cached_input: 0.075}
  "gpt-4o*": {input: 2.5}
  "claude-?-*": {input: 3}
  "*": {free: true}
  gpt-image-1: {per_image: {default: 0.063, 1024x1024: 0.042, 1024x1536/high: 0.25}}
`
	c, err := loadYAML(t, doc, nil, nil)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	for key, want := range map[string]bool{"gpt-4o-mini": false, "gpt-4o*": true, "claude-?-*": true, "*": true, "meta/llama-[3]": false} {
		if got := IsModelPattern(key); got != want {
			t.Errorf("IsModelPattern(%q) = %v, want %v", key, got, want)
		}
	}
	if len(c.Pricing) != 5 {
		t.Errorf("pricing has %d entries, want 5", len(c.Pricing))
	}
}

func TestWebhookSettings(t *testing.T) {
	keyWith := func(extra string) string {
		return strings.Replace(goodUsersKeys, "0000}\n", "0000, "+extra+"}\n", 1)
	}
	t.Run("https accepted", func(t *testing.T) {
		c, err := loadYAML(t, keyWith(`webhook_url: "https://hooks.example.com/sy?team=1", webhook_secret: 0123456789abcdef, image_response_format: b64_json`), nil, nil)
		if err != nil {
			t.Fatalf("Load: %v", err)
		}
		k := c.Keys[0]
		if k.WebhookURL != "https://hooks.example.com/sy?team=1" || k.WebhookSecret.Value() != "0123456789abcdef" || k.ImageResponseFormat != "b64_json" {
			t.Errorf("key = %+v", k)
		}
	})
	t.Run("http accepted with webhook_allow_private", func(t *testing.T) {
		doc := "images: {webhook_allow_private: true}\n" + keyWith(`webhook_url: "http://10.0.0.5:9000/hook", webhook_secret: 0123456789abcdef`)
		if _, err := loadYAML(t, doc, nil, nil); err != nil {
			t.Fatalf("Load: %v", err)
		}
	})
	t.Run("secret never echoed", func(t *testing.T) {
		_, err := loadYAML(t, keyWith(`webhook_url: "https://h.example.com/", webhook_secret: tiny-S3CRET`), nil, nil)
		if err == nil || strings.Contains(err.Error(), "tiny-S3CRET") {
			t.Fatalf("error = %v; want one that does not contain the secret", err)
		}
	})
	t.Run("url too long", func(t *testing.T) {
		long := "https://h.example.com/" + strings.Repeat("a", MaxWebhookURL)
		if p := CheckWebhookURL(long, false); !strings.Contains(p, "at most 2048") {
			t.Errorf("CheckWebhookURL(long) = %q", p)
		}
	})
}

func TestChannelMaxImages(t *testing.T) {
	c, err := loadYAML(t, goodChannel+"    max_images: 1\n", nil, nil)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if c.Channels[0].MaxImages != 1 {
		t.Errorf("max_images = %d, want 1", c.Channels[0].MaxImages)
	}
}

func TestChannelFlavor(t *testing.T) {
	c, err := loadYAML(t, `
channels:
  - name: local
    type: openai
    flavor: ollama
    base_url: http://127.0.0.1:11434
    models: [llama3.2]
  - name: proxy
    type: openai
    quirks: [no_stream_options]
    base_url: https://llm.example.com
    models: [m]
    credentials: [{key: sk-test-000000000000000000}, {}]
`, nil, nil)
	if err == nil {
		t.Fatal("a credential without key accepted on a channel that is not keyless")
	}
	if !strings.Contains(err.Error(), "channels[1].credentials[1].key") {
		t.Errorf("error = %v", err)
	}
	c, err = loadYAML(t, `
channels:
  - name: local
    type: openai
    flavor: ollama
    base_url: http://127.0.0.1:11434
    models: [llama3.2]
  - name: proxy
    type: openai
    quirks: [no_stream_options, keyless]
    base_url: https://llm.example.com
    models: [m]
    credentials: [{key: sk-test-000000000000000000}, {}]
`, nil, nil)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	local := &c.Channels[0]
	if len(local.Credentials) != 1 || local.Credentials[0].Key != "" || local.Credentials[0].Weight != 1 {
		t.Errorf("keyless channel credentials = %+v", local.Credentials)
	}
	if !local.HasQuirk(QuirkKeyless) || !local.HasQuirk(QuirkMaxTokens) || local.HasQuirk(QuirkNoStreamOptions) {
		t.Errorf("ollama quirks wrong")
	}
	if p := &c.Channels[1]; !p.HasQuirk(QuirkNoStreamOptions) || p.HasQuirk(QuirkMaxTokens) {
		t.Errorf("proxy quirks wrong")
	}
	for _, bad := range []struct{ doc, path string }{
		{"    flavor: mistral\n", "channels[0].flavor"},
		{"    quirks: [no_usage]\n", "channels[0].quirks[0]"},
	} {
		if _, err := loadYAML(t, goodChannel+bad.doc, nil, nil); err == nil || !strings.Contains(err.Error(), bad.path) {
			t.Errorf("%q: %v", bad.doc, err)
		}
	}
	_, err = loadYAML(t, strings.Replace(goodChannel, "type: openai", "type: gemini", 1)+"    flavor: ollama\n", nil, nil)
	if err == nil || !strings.Contains(err.Error(), "openai channels only") {
		t.Errorf("flavor on gemini: %v", err)
	}
}
