package topup

import (
	"net/url"
	"testing"
	"time"
)

// EPay's signing rule (non-empty parameters but sign and sign_type, sorted
// by name, written "k=v&k=v" without URL-encoding, the merchant key
// appended directly, lower-case hex MD5) checked against examples that
// gateways of this protocol publish with their expected sign. Each was
// also recomputed with `printf '%s' '<string>' | md5sum` before being
// copied here.
func TestEPaySignPublishedExamples(t *testing.T) {
	for _, tt := range []struct {
		source string
		params url.Values
		key    string
		want   string
	}{{
		// https://static.kancloud.cn/q86849180/defupay/921626 (签名生成算法):
		// "timestamp=1548047628&uid=1000" + key → 15540d3398e5ed2a37533e3fc032e1a0
		source: "defupay 签名生成算法",
		params: url.Values{"uid": {"1000"}, "timestamp": {"1548047628"}},
		key:    "58b31d465652be856d7ed80977aa4ce4",
		want:   "15540d3398e5ed2a37533e3fc032e1a0",
	}, {
		// http://res.easydoc.net/doc/45090039/BHm31QHg/YJbJQqOV (Signature
		// generation): the notify URL is signed as is, not URL-encoded.
		source: "easydoc signature generation",
		params: url.Values{"apiKey": {"testApiKey"}, "customerNo": {"test100000"}, "channel": {"bank"},
			"amount": {"100.00"}, "notifyUrl": {"http://test.com/getNotify"}, "ip": {"127.0.0.1"},
			// Not signed: empty values, sign and sign_type.
			"remark": {""}, "sign": {"5d50a182db6fa8a347cc85f36ca492f2"}, "sign_type": {"MD5"}},
		key:  "testSecretKey",
		want: "5d50a182db6fa8a347cc85f36ca492f2",
	}} {
		if got := EPaySign(tt.params, tt.key); got != tt.want {
			t.Errorf("%s: sign %s, published %s", tt.source, got, tt.want)
		}
	}
}

// Stripe documents the scheme (https://docs.stripe.com/webhooks#verify-manually:
// signed_payload = "<t>.<raw body>", HMAC-SHA256 under the endpoint's
// secret, compared with each v1 value) but publishes no example with its
// expected signature, so these were computed apart from this code:
//
//	printf '%s' '1700000000.{"id":"evt_test","type":"checkout.session.completed"}' | openssl dgst -sha256 -hmac whsec_test_secret -hex
//	→ 715369d9e69ebcb0b7e62a81bd79bfd0825e4a0f25a4577924dd7017a7eac01e
//	printf '%s' '1700000000.{"id":"evt_test","type":"checkout.session.completed"}' | openssl dgst -sha256 -hmac whsec_rolled_secret -hex
//	→ ed8dcf79bb99578b5ed27dbdc1b1d9c09a0aeebabc8be3f5a5cc72a4d9539a28
//
// During a secret roll Stripe sends one v1 per secret; either secret alone
// must verify the header.
func TestStripeSignatureRotationVector(t *testing.T) {
	body := []byte(`{"id":"evt_test","type":"checkout.session.completed"}`)
	const (
		oldSig = "715369d9e69ebcb0b7e62a81bd79bfd0825e4a0f25a4577924dd7017a7eac01e"
		newSig = "ed8dcf79bb99578b5ed27dbdc1b1d9c09a0aeebabc8be3f5a5cc72a4d9539a28"
	)
	header := "t=1700000000,v1=" + newSig + ",v1=" + oldSig
	now := time.Unix(1700000030, 0)
	for _, tt := range []struct {
		secrets []string
		ok      bool
	}{
		{[]string{"whsec_test_secret"}, true},
		{[]string{"whsec_rolled_secret"}, true},
		{[]string{"whsec_rolled_secret", "whsec_test_secret"}, true},
		{[]string{"whsec_unrelated"}, false},
	} {
		err := VerifyStripeSignature(body, header, tt.secrets, 5*time.Minute, now)
		if (err == nil) != tt.ok {
			t.Errorf("secrets %v: %v", tt.secrets, err)
		}
	}
	// The payload is signed byte for byte: one more space fails.
	if err := VerifyStripeSignature(append(body, ' '), header, []string{"whsec_test_secret"}, 5*time.Minute, now); err == nil {
		t.Error("a changed payload verifies")
	}
}
