package topup

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/secret"
	"github.com/switchyard/switchyard/internal/testenv"
)

func testKeyring(t *testing.T, b byte) *secret.Keyring {
	t.Helper()
	kr, err := secret.New(bytes.Repeat([]byte{b}, secret.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

// The console's provider settings round-trip through the database with
// their secrets sealed: the raw row holds neither secret, a row whose
// sealed secrets are copied to another provider does not open, and
// another keyring cannot read them.
func TestProviderStore(t *testing.T) {
	testenv.EachDatabase(t, func(t *testing.T, url string) {
		ctx := t.Context()
		db := openDB(t, url)
		now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
		s := NewProviderStore(db, testKeyring(t, 7), func() time.Time { return now })

		if _, err := s.Get(ctx, StripeName); !errors.Is(err, ErrNotFound) {
			t.Fatalf("unset provider: %v", err)
		}
		const apiKey, whsec, rolled, merchant = "sk_test_consolekey1234", "whsec_console_signing_1", "whsec_console_signing_2", "merchant-key-from-console"
		saved, err := s.Save(ctx, ProviderSettings{Name: StripeName, Enabled: true, APIBase: " https://api.stripe.test ",
			Secrets: ProviderSecrets{SecretKey: apiKey, WebhookSecrets: []string{whsec, rolled}}})
		if err != nil || saved.APIBase != "https://api.stripe.test" {
			t.Fatalf("save stripe: %+v %v", saved, err)
		}
		if _, err := s.Save(ctx, ProviderSettings{Name: EPayName, Enabled: true, Gateway: "https://pay.example.test/", PID: "1001",
			Type: "alipay", Secrets: ProviderSecrets{Key: merchant}}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Save(ctx, ProviderSettings{Name: ManualName, Enabled: true, Instructions: "Wire to IBAN XX00"}); err != nil {
			t.Fatal(err)
		}
		got, err := s.Get(ctx, StripeName)
		if err != nil || got.Secrets.SecretKey != apiKey || strings.Join(got.Secrets.WebhookSecrets, ",") != whsec+","+rolled ||
			!got.Enabled || !got.UpdatedAt.Equal(now) {
			t.Fatalf("stripe read back: %+v %v", got, err)
		}
		list, err := s.List(ctx)
		if err != nil || len(list) != 3 || list[0].Name != EPayName || list[0].Secrets.Key != merchant || list[1].Instructions != "Wire to IBAN XX00" {
			t.Fatalf("list: %+v %v", list, err)
		}

		// At rest: no secret in any column of any row.
		rows, err := db.Read().QueryContext(ctx, "SELECT name, settings, sealed FROM topup_providers")
		if err != nil {
			t.Fatal(err)
		}
		sealed := map[string][]byte{}
		for rows.Next() {
			var name, settings string
			var raw []byte
			if err := rows.Scan(&name, &settings, &raw); err != nil {
				t.Fatal(err)
			}
			sealed[name] = raw
			for _, sec := range []string{apiKey, whsec, rolled, merchant, "consolekey", "merchant-key"} {
				if strings.Contains(settings, sec) || bytes.Contains(raw, []byte(sec)) {
					t.Errorf("row %s holds %q in the clear", name, sec)
				}
			}
		}
		rows.Close()
		if len(sealed[StripeName]) == 0 || len(sealed[ManualName]) != 0 {
			t.Fatalf("sealed columns: stripe %d bytes, manual %d bytes", len(sealed[StripeName]), len(sealed[ManualName]))
		}

		// Stripe's sealed secrets pasted on the EPay row do not open there.
		if _, err := db.Write().ExecContext(ctx, db.Dialect().Rebind("UPDATE topup_providers SET sealed = ? WHERE name = ?"), sealed[StripeName], EPayName); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Get(ctx, EPayName); err == nil || !errors.Is(err, secret.ErrOpen) {
			t.Fatalf("moved sealed value: %v", err)
		}
		// Another keyring cannot open them either.
		if _, err := NewProviderStore(db, testKeyring(t, 8), nil).Get(ctx, StripeName); !errors.Is(err, secret.ErrOpen) {
			t.Fatalf("other keyring: %v", err)
		}

		// Disabled, the provider keeps its settings; deleted, it is gone.
		got.Enabled = false
		if _, err := s.Save(ctx, got); err != nil {
			t.Fatal(err)
		}
		if g, err := s.Get(ctx, StripeName); err != nil || g.Enabled || g.Secrets.SecretKey != apiKey {
			t.Fatalf("disabled: %+v %v", g, err)
		}
		if err := s.Delete(ctx, StripeName); err != nil {
			t.Fatal(err)
		}
		if err := s.Delete(ctx, StripeName); !errors.Is(err, ErrNotFound) {
			t.Fatalf("delete twice: %v", err)
		}
	})
}

func TestProviderSettingsValidate(t *testing.T) {
	long := strings.Repeat("说", maxInstructions+1)
	for _, tt := range []struct {
		p     ProviderSettings
		field string // "" = valid
	}{
		{ProviderSettings{Name: StripeName, Enabled: true, Secrets: ProviderSecrets{SecretKey: "sk_live_x", WebhookSecrets: []string{"whsec_a"}}}, ""},
		{ProviderSettings{Name: StripeName, Enabled: true, Secrets: ProviderSecrets{SecretKey: "pk_live_x", WebhookSecrets: []string{"whsec_a"}}}, "secret_key"},
		{ProviderSettings{Name: StripeName, Enabled: true, Secrets: ProviderSecrets{SecretKey: "sk_live_x"}}, "webhook_secrets"},
		{ProviderSettings{Name: StripeName, Enabled: true, Secrets: ProviderSecrets{SecretKey: "sk_live_x", WebhookSecrets: []string{"nope"}}}, "webhook_secrets"},
		{ProviderSettings{Name: StripeName, APIBase: "ftp://x"}, "api_base"},
		{ProviderSettings{Name: StripeName}, ""}, // disabled and incomplete
		{ProviderSettings{Name: EPayName, Enabled: true, Gateway: "https://pay.test/", PID: "1", Secrets: ProviderSecrets{Key: "k"}}, ""},
		{ProviderSettings{Name: EPayName, Enabled: true, Gateway: "https://pay.test/", PID: "1"}, "key"},
		{ProviderSettings{Name: EPayName, Enabled: true, Gateway: "pay.test", PID: "1", Secrets: ProviderSecrets{Key: "k"}}, "gateway"},
		{ProviderSettings{Name: EPayName, Enabled: true, Gateway: "https://pay.test/", Secrets: ProviderSecrets{Key: "k"}}, "pid"},
		{ProviderSettings{Name: EPayName, Type: "ali pay"}, "type"},
		{ProviderSettings{Name: EPayName, Currency: "yuan"}, "currency"},
		{ProviderSettings{Name: ManualName, Enabled: true, Instructions: long}, "instructions"},
	} {
		err := tt.p.Validate()
		var inv *InvalidError
		switch {
		case tt.field == "" && err != nil:
			t.Errorf("%+v: %v", tt.p, err)
		case tt.field != "" && (!errors.As(err, &inv) || inv.Field != tt.field):
			t.Errorf("%+v: want a refusal of %s, got %v", tt.p, tt.field, err)
		}
	}
	if err := (&ProviderSettings{Name: "paypal"}).Validate(); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown provider: %v", err)
	}
}
