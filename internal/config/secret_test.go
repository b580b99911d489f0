package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

func TestSecretFormatting(t *testing.T) {
	const value = "sk-live-S3CRET"
	s := Secret(value)
	var empty Secret
	jsonOut, _ := json.Marshal(struct{ K Secret }{s})
	yamlOut, _ := yaml.Marshal(struct{ K Secret }{s})
	var slogText, slogJSON bytes.Buffer
	slog.New(slog.NewTextHandler(&slogText, nil)).Info("x", "key", s)
	slog.New(slog.NewJSONHandler(&slogJSON, nil)).Info("x", "key", s)
	tests := []struct {
		name, got, want string
	}{
		{"%v", fmt.Sprintf("%v", s), "[redacted]"},
		{"%s", fmt.Sprintf("%s", s), "[redacted]"},
		{"%q", fmt.Sprintf("%q", s), `"[redacted]"`},
		{"%#v", fmt.Sprintf("%#v", s), `config.Secret("[redacted]")`},
		{"%d", fmt.Sprintf("%d", s), "[redacted]"},
		{"%x", fmt.Sprintf("%x", s), "[redacted]"},
		{"String", s.String(), "[redacted]"},
		{"empty %v", fmt.Sprintf("%v", empty), ""},
		{"empty %#v", fmt.Sprintf("%#v", empty), `config.Secret("")`},
		{"errorf", fmt.Errorf("auth with %v failed", s).Error(), "auth with [redacted] failed"},
		{"json", string(jsonOut), `{"K":"[redacted]"}`},
		{"yaml", string(yamlOut), "k: '[redacted]'\n"},
		{"slog text has key", fmt.Sprint(strings.Contains(slogText.String(), "key=[redacted]")), "true"},
		{"slog json has key", fmt.Sprint(strings.Contains(slogJSON.String(), `"key":"[redacted]"`)), "true"},
		{"Value", s.Value(), value},
		{"IsSet", fmt.Sprint(s.IsSet(), empty.IsSet()), "true false"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s = %q, want %q", tt.name, tt.got, tt.want)
		}
	}
	for _, out := range []string{slogText.String(), slogJSON.String()} {
		if strings.Contains(out, value) {
			t.Errorf("slog output leaks the secret: %s", out)
		}
	}
}

// TestSecretsNeverPrinted loads configs full of secrets and checks every way
// a Config or an error is commonly printed.
func TestSecretsNeverPrinted(t *testing.T) {
	secrets := []string{}
	for _, v := range fullEnv {
		secrets = append(secrets, v)
	}
	const dbPassword, redisPassword = "db-pw-S3CRET", "redis-pw-S3CRET"
	env := map[string]string{
		"SWITCHYARD_DATABASE_URL": "postgres://app:" + dbPassword + "@db:5432/x",
		"SWITCHYARD_REDIS_URL":    "redis://:" + redisPassword + "@r:6379/0",
	}
	for k, v := range fullEnv {
		env[k] = v
	}
	secrets = append(secrets, dbPassword, redisPassword)

	cfg, err := Load(LoadOptions{Path: "testdata/full.yaml", LookupEnv: fakeEnv(env)})
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	jsonOut, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	yamlOut, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("config", "cfg", cfg)
	slog.New(slog.NewTextHandler(&logs, nil)).Info("config", "cfg", cfg, "creds", cfg.Channels[0].Credentials)
	outputs := map[string]string{
		"%v %+v":     fmt.Sprintf("%v %+v", cfg, cfg),
		"%v value":   fmt.Sprintf("%v %+v", *cfg, *cfg),
		"%#v":        fmt.Sprintf("%#v", *cfg),
		"Sprint":     fmt.Sprint(*cfg, cfg.Database, cfg.Redis),
		"json":       string(jsonOut),
		"yaml":       string(yamlOut),
		"slog":       logs.String(),
		"credential": fmt.Sprintf("%v %+v %#v", cfg.Channels[1].Credentials[0], cfg.Channels[1].Credentials, cfg.Keys),
	}

	// Configs that fail because of (or next to) secret values.
	bad := []struct {
		doc string
		env map[string]string
	}{
		{doc: "database: {url: 'oracle://scott:" + dbPassword + "@db/x'}\n"},
		{doc: "database: {url: 'postgres://u:" + dbPassword + "@'}\nsecret_key: " + testSecretKey + "\n"},
		{doc: "redis: {url: 'http://:" + redisPassword + "@r'}\nsecret_key: " + testSecretKey + "\n"},
		{doc: "secret_key: ${SWITCHYARD_ADMIN_PASSWORD}\n", env: fullEnv},
		{doc: "admin: {email: a@example.com, password: " + "pw-S3CRET" + "}\n"},
		{doc: "users: [{email: a@example.com}]\nkeys: [{name: a, user: a@example.com, key: ${OPENAI_KEY_1}}, {name: b, user: a@example.com, key: ${OPENAI_KEY_1}}, {name: c, user: a@example.com, key: short-S3CRET}]\n", env: fullEnv},
		{doc: goodChannel + "        access_token: ${AT}\n        refresh_token: ${RT}\n      - key: ${OPENAI_KEY_2}\n      - key: ${OPENAI_KEY_2}\n", env: fullEnv},
		{doc: goodChannel + "    proxy: 'ftp://u:" + dbPassword + "@p:1'\n    base_url: 'htp://u:" + redisPassword + "@h/?key=" + dbPassword + "'\n"},
		{doc: "secret_key: {nested: x}\nadmin: {password: [a]}\n"},
		{doc: "secret_key: '${1" + dbPassword + "}'\n"},
	}
	secrets = append(secrets, "pw-S3CRET", "short-S3CRET")
	for i, b := range bad {
		_, err := loadYAML(t, b.doc, b.env, nil)
		if err == nil {
			t.Fatalf("bad config %d loaded", i)
		}
		outputs[fmt.Sprintf("error %d", i)] = err.Error()
	}
	for name, out := range outputs {
		for _, s := range secrets {
			if strings.Contains(out, s) {
				t.Errorf("%s contains secret %q:\n%s", name, s, out)
			}
		}
	}
	if !strings.Contains(outputs["%v %+v"], "[redacted]") {
		t.Errorf("expected [redacted] placeholders in %%+v output")
	}
}

func TestAliasExpansionIsBounded(t *testing.T) {
	var b strings.Builder
	b.WriteString("x-k: &k {key: abc}\nx-c: &c {name: n, type: openai, base_url: 'https://a', models: [m], credentials: [")
	for i := 0; i < 1000; i++ {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("*k")
	}
	b.WriteString("]}\nchannels: [")
	for i := 0; i < 1000; i++ {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("*c")
	}
	b.WriteString("]\n")
	start := time.Now()
	_, err := load([]byte(b.String()), LoadOptions{LookupEnv: fakeEnv(nil)})
	var errs Errors
	if !errors.As(err, &errs) || !strings.Contains(err.Error(), "too many alias expansions") {
		t.Fatalf("want an alias-expansion error, got %.300v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v", d)
	}
	t.Logf("%d errors in %v", len(errs), time.Since(start))
}
