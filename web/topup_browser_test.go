package web_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"

	"github.com/switchyard/switchyard/internal/config"
	"github.com/switchyard/switchyard/internal/testenv"
	"github.com/switchyard/switchyard/internal/topup"
	"github.com/switchyard/switchyard/web/browsertest"
)

var topupUser = browsertest.Account{Email: "tina@example.com", Password: "tina-password-1"}

const (
	epayPID = "1001"
	epayKey = "89unJUB8HZ54Hj7x4nUj56HN4nUzUJ8i"
)

// fakeEPay is an EPay-compatible gateway: its submit.php checks the pay
// URL's signature, then, as if the user paid at once, sends the node the
// signed asynchronous notify and sends the browser back to the console's
// return page (the node's address, since public_url is not the test's).
type fakeEPay struct {
	srv      *httptest.Server
	mu       sync.Mutex
	node     string
	notified []string // refs whose notify was answered "success"
}

func newFakeEPay(t *testing.T) *fakeEPay {
	f := &fakeEPay{}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if r.URL.Path != "/submit.php" {
			// The provider test reaches the gateway; anything answers.
			_, _ = io.WriteString(w, "ok")
			return
		}
		if q.Get("pid") != epayPID || q.Get("sign") != topup.EPaySign(q, epayKey) || q.Get("sign_type") != "MD5" {
			http.Error(w, "签名错误", http.StatusBadRequest)
			return
		}
		ref := q.Get("out_trade_no")
		n := url.Values{"pid": {epayPID}, "trade_no": {"2026" + ref}, "out_trade_no": {ref}, "type": {"alipay"},
			"name": {q.Get("name")}, "money": {q.Get("money")}, "trade_status": {"TRADE_SUCCESS"}, "sign_type": {"MD5"}}
		n.Set("sign", topup.EPaySign(n, epayKey))
		f.mu.Lock()
		node := f.node
		f.mu.Unlock()
		resp, err := http.Get(node + "/api/v1/topup/notify/epay?" + n.Encode())
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || string(body) != "success" {
			http.Error(w, "notify refused: "+string(body), http.StatusBadGateway)
			return
		}
		f.mu.Lock()
		f.notified = append(f.notified, ref)
		f.mu.Unlock()
		http.Redirect(w, r, node+"/me/topup?order="+url.QueryEscape(ref), http.StatusFound)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

// topupNode has the manual provider in the file (the browser configures
// EPay on the fake in the console), free amounts in cny, and the plain
// user topupUser with a password.
func topupNode(t *testing.T, edit func(*config.Config)) (*browsertest.Node, *fakeEPay) {
	t.Helper()
	fake := newFakeEPay(t)
	n := browsertest.Start(t, func(cfg *config.Config) {
		cfg.Topup = config.Topup{
			Manual: true,
			Custom: config.TopupCustom{Enabled: true, Currency: "cny", PricePerUSD: 720, MinUSD: 5, MaxUSD: 500},
			// EPay is configured in the console by the browser (topup.mjs).
		}
		cfg.Users = append(cfg.Users, config.User{Email: topupUser.Email, Name: "Tina"})
		if edit != nil {
			edit(cfg)
		}
	})
	fake.mu.Lock()
	fake.node = n.Base
	fake.mu.Unlock()
	if _, err := n.Accounts().SetPassword(t.Context(), topupUser.Email, topupUser.Password); err != nil {
		t.Fatal(err)
	}
	return n, fake
}

func runTopup(t *testing.T, n *browsertest.Node, fake *fakeEPay, screenshots bool) {
	t.Setenv("SY_ADMIN_EMAIL", browsertest.Admin.Email)
	t.Setenv("SY_ADMIN_PASSWORD", browsertest.Admin.Password)
	t.Setenv("SY_USER_EMAIL", topupUser.Email)
	t.Setenv("SY_USER_PASSWORD", topupUser.Password)
	t.Setenv("SY_EPAY_GATEWAY", fake.srv.URL+"/")
	t.Setenv("SY_EPAY_PID", epayPID)
	t.Setenv("SY_EPAY_KEY", epayKey)
	shots := "1"
	if !screenshots {
		shots = "0"
	}
	browsertest.Run(t, "topup.mjs", "--base", n.Base, "--shots", shots)
	fake.mu.Lock()
	defer fake.mu.Unlock()
	if len(fake.notified) != 1 {
		t.Fatalf("the fake gateway notified %v, want one EPay order", fake.notified)
	}
}

// Top-up on a real node (SQLite): the admin makes a package and
// configures EPay in the console (step-up, field error); the user pays
// it by hand and the admin marks it paid (step-up); the user pays one
// through the fake EPay gateway, whose signed notify credits it; the admin
// refunds it; Chinese, both themes, 375 px, axe.
func TestBrowserTopup(t *testing.T) {
	browsertest.Tools(t)
	n, fake := topupNode(t, nil)
	runTopup(t, n, fake, true)
}

// The same on PostgreSQL and Redis (orders, ledger and sessions stored
// there). Screenshots come from the SQLite run.
func TestBrowserTopupPostgres(t *testing.T) {
	browsertest.Tools(t)
	dbURL := testenv.FreshPostgresURL(t)
	redisURL := testenv.RedisURL(t)
	prefix := testenv.RedisPrefix(t, redisURL)
	n, fake := topupNode(t, func(cfg *config.Config) {
		cfg.Database.URL = config.Secret(dbURL)
		cfg.Redis.URL = config.Secret(redisURL)
		cfg.Redis.Prefix = prefix
		cfg.SecretKey = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
	})
	runTopup(t, n, fake, false)
}
