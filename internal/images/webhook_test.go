package images

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/netguard"
)

// privateOKClient reaches the loopback test servers; the production
// default refuses them (see TestWebhookSendRefusesPrivateTarget).
func privateOKClient() *http.Client {
	return netguard.NewClient(&netguard.Guard{AllowPrivate: true}, 5*time.Second)
}

func TestSignWebhookFormat(t *testing.T) {
	// Fixed vector, computed independently:
	//   printf '1700000000.{"a":1}' | openssl dgst -sha256 -hmac k
	got := SignWebhook([]byte("k"), time.Unix(1700000000, 0), []byte(`{"a":1}`))
	const want = "t=1700000000,v1=1b6ad1bc9bf48c52ce01939866d5877c6cc4e87ddad27e16673cb8c4964394a3"
	if got != want {
		t.Fatalf("SignWebhook = %q, want %q", got, want)
	}
}

func TestVerifyWebhook(t *testing.T) {
	secret := []byte("whsec-current")
	old := []byte("whsec-previous")
	body := []byte(`{"id":"task_1","status":"succeeded"}`)
	now := time.Unix(1_750_000_000, 0)
	h := SignWebhook(secret, now, body)
	v1 := func(s string) string { return s[strings.Index(s, "v1="):] }

	tests := []struct {
		name    string
		secret  []byte
		header  string
		body    []byte
		now     time.Time
		wantErr error
	}{
		{"genuine", secret, h, body, now, nil},
		{"genuine, receiver clock 4m ahead", secret, h, body, now.Add(4 * time.Minute), nil},
		{"genuine, receiver clock 4m behind", secret, h, body, now.Add(-4 * time.Minute), nil},
		{"spaces after commas", secret, strings.ReplaceAll(h, ",", ", "), body, now, nil},
		{"rotation: old signature first", secret, "t=" + strconv.FormatInt(now.Unix(), 10) + "," + v1(SignWebhook(old, now, body)) + "," + v1(h), body, now, nil},
		{"rotation: receiver still on the old secret", old, h + "," + v1(SignWebhook(old, now, body)), body, now, nil},
		{"unknown scheme ignored", secret, h + ",v2=abcdef", body, now, nil},
		{"tampered body", secret, h, []byte(`{"id":"task_1","status":"failed"}`), now, ErrWebhookSignature},
		{"wrong secret", []byte("whsec-other"), h, body, now, ErrWebhookSignature},
		{"stale", secret, h, body, now.Add(6 * time.Minute), ErrWebhookStale},
		{"from the future", secret, h, body, now.Add(-6 * time.Minute), ErrWebhookStale},
		{"timestamp moved", secret, strings.Replace(h, "t=1750000000", "t=1750000001", 1), body, now, ErrWebhookSignature},
		{"timestamp with leading zero", secret, strings.Replace(h, "t=", "t=0", 1), body, now, ErrWebhookSignature},
		{"two timestamps", secret, "t=1," + h, body, now, ErrWebhookSignature},
		{"no signature", secret, "t=1750000000", body, now, ErrWebhookSignature},
		{"no timestamp", secret, v1(h), body, now, ErrWebhookSignature},
		{"empty header", secret, "", body, now, ErrWebhookSignature},
		{"not hex", secret, "t=1750000000,v1=zz", body, now, ErrWebhookSignature},
		{"truncated signature", secret, h[:len(h)-2], body, now, ErrWebhookSignature},
		{"garbage", secret, "hello", body, now, ErrWebhookSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := VerifyWebhook(tt.secret, tt.header, tt.body, tt.now, 5*time.Minute)
			if tt.wantErr == nil && err != nil {
				t.Fatalf("VerifyWebhook = %v, want nil", err)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Fatalf("VerifyWebhook = %v, want %v", err, tt.wantErr)
			}
		})
	}

	// A forged stale delivery is a bad signature, not "stale".
	forged := strings.Replace(h, "t=1750000000", "t=1000000000", 1)
	if err := VerifyWebhook(secret, forged, body, now, time.Minute); !errors.Is(err, ErrWebhookSignature) {
		t.Fatalf("forged old timestamp: %v", err)
	}
	// Tolerance ≤ 0 is the default, not "no limit".
	if err := VerifyWebhook(secret, h, body, now.Add(time.Hour), 0); !errors.Is(err, ErrWebhookStale) {
		t.Fatalf("zero tolerance, an hour late: %v", err)
	}
	if err := VerifyWebhook(secret, h, body, now.Add(time.Minute), 0); err != nil {
		t.Fatalf("zero tolerance, a minute late: %v", err)
	}
}

type receivedWebhook struct {
	header http.Header
	body   []byte
}

// webhookReceiver answers every request with status and records it.
func webhookReceiver(t *testing.T, status int) (string, func() []receivedWebhook) {
	t.Helper()
	var mu sync.Mutex
	var got []receivedWebhook
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, receivedWebhook{r.Header.Clone(), b})
		mu.Unlock()
		if r.Method != http.MethodPost {
			w.WriteHeader(http.StatusMethodNotAllowed)
			return
		}
		w.WriteHeader(status)
		io.WriteString(w, "ok")
	}))
	t.Cleanup(srv.Close)
	return srv.URL, func() []receivedWebhook {
		mu.Lock()
		defer mu.Unlock()
		return append([]receivedWebhook(nil), got...)
	}
}

func TestWebhookSendDelivers(t *testing.T) {
	url, received := webhookReceiver(t, http.StatusNoContent)
	secret := []byte("s3cret")
	body := []byte(`{"id":"task_1","status":"succeeded","data":[{"url":"https://gw/p/img/task_1/0"}]}`)
	s := &WebhookSender{Client: privateOKClient(), UserAgent: "Switchyard/test"}

	if err := s.Send(context.Background(), url+"/hook?token=abc", "dlv_1", secret, body); err != nil {
		t.Fatal(err)
	}
	if err := s.Send(context.Background(), url+"/hook", "", secret, body); err != nil {
		t.Fatal(err)
	}
	got := received()
	if len(got) != 2 {
		t.Fatalf("receiver saw %d requests", len(got))
	}
	for i, r := range got {
		if string(r.body) != string(body) {
			t.Fatalf("#%d body %q", i, r.body)
		}
		if ct := r.header.Get("Content-Type"); ct != "application/json" {
			t.Fatalf("#%d Content-Type %q", i, ct)
		}
		if ua := r.header.Get("User-Agent"); ua != "Switchyard/test" {
			t.Fatalf("#%d User-Agent %q", i, ua)
		}
		if err := VerifyWebhook(secret, r.header.Get(SignatureHeader), r.body, time.Now(), time.Minute); err != nil {
			t.Fatalf("#%d: receiver cannot verify: %v (header %q)", i, err, r.header.Get(SignatureHeader))
		}
		if err := VerifyWebhook([]byte("other"), r.header.Get(SignatureHeader), r.body, time.Now(), time.Minute); !errors.Is(err, ErrWebhookSignature) {
			t.Fatalf("#%d: verifies under another secret: %v", i, err)
		}
	}
	if id := got[0].header.Get(DeliveryHeader); id != "dlv_1" {
		t.Fatalf("delivery id %q, want the one given", id)
	}
	if id := got[1].header.Get(DeliveryHeader); len(id) < 16 || id == "dlv_1" {
		t.Fatalf("generated delivery id %q", id)
	}
}

func TestWebhookSendClassifiesFailures(t *testing.T) {
	tests := []struct {
		status    int
		permanent bool
	}{
		{http.StatusInternalServerError, false},
		{http.StatusBadGateway, false},
		{http.StatusServiceUnavailable, false},
		{http.StatusTooManyRequests, false},
		{http.StatusRequestTimeout, false},
		{http.StatusUnauthorized, false},
		{http.StatusNotFound, false},
		{http.StatusFound, false},
		{http.StatusGone, true},
	}
	for _, tt := range tests {
		t.Run(strconv.Itoa(tt.status), func(t *testing.T) {
			url, received := webhookReceiver(t, tt.status)
			err := (&WebhookSender{Client: privateOKClient()}).Send(context.Background(), url, "d", []byte("k"), []byte("{}"))
			var we *WebhookError
			if !errors.As(err, &we) {
				t.Fatalf("Send = %v, want *WebhookError", err)
			}
			if we.Status != tt.status || we.Permanent != tt.permanent {
				t.Fatalf("Send = {status %d, permanent %v}, want {%d, %v}: %v", we.Status, we.Permanent, tt.status, tt.permanent, err)
			}
			if n := len(received()); n != 1 {
				t.Fatalf("receiver saw %d attempts, want exactly one", n)
			}
		})
	}
}

func TestWebhookSendNetworkErrorIsRetryable(t *testing.T) {
	// A port nothing listens on: connection refused.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	err = (&WebhookSender{Client: privateOKClient()}).Send(context.Background(), "http://"+addr+"/", "d", []byte("k"), []byte("{}"))
	var we *WebhookError
	if !errors.As(err, &we) || we.Permanent || we.Status != 0 {
		t.Fatalf("Send = %#v, want a retryable *WebhookError without status", err)
	}

	// A receiver slower than the client's timeout.
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-release
	}))
	defer slow.Close()
	defer close(release) // before Close, which waits for the handler
	client := netguard.NewClient(&netguard.Guard{AllowPrivate: true}, 200*time.Millisecond)
	err = (&WebhookSender{Client: client}).Send(context.Background(), slow.URL, "d", []byte("k"), []byte("{}"))
	if !errors.As(err, &we) || we.Permanent {
		t.Fatalf("timeout: Send = %v, want retryable", err)
	}
}

func TestWebhookSendRefusesPrivateTarget(t *testing.T) {
	url, received := webhookReceiver(t, http.StatusOK)
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(url, "http://"))
	for name, s := range map[string]*WebhookSender{
		"guarded client": {Client: netguard.NewClient(&netguard.Guard{}, 5*time.Second)},
		"nil client":     {},
	} {
		err := s.Send(context.Background(), "http://localhost:"+port+"/hook", "d", []byte("k"), []byte("{}"))
		var we *WebhookError
		if !errors.As(err, &we) || !we.Permanent {
			t.Fatalf("%s: Send = %v, want a permanent *WebhookError", name, err)
		}
		var be *netguard.BlockedError
		if !errors.As(err, &be) || !be.Addr.IsLoopback() {
			t.Fatalf("%s: %v does not carry the *netguard.BlockedError", name, err)
		}
		if !strings.Contains(err.Error(), "loopback") {
			t.Fatalf("%s: error %q does not say why", name, err)
		}
	}
	if n := len(received()); n != 0 {
		t.Fatalf("receiver reached %d times", n)
	}
}

func TestWebhookSendInvalidURL(t *testing.T) {
	for _, u := range []string{"ftp://example.com/x", "not a url", "/relative", "http://", "%zz"} {
		err := (&WebhookSender{Client: privateOKClient()}).Send(context.Background(), u, "d", []byte("k"), []byte("{}"))
		var we *WebhookError
		if !errors.As(err, &we) || !we.Permanent {
			t.Errorf("Send(%q) = %v, want permanent", u, err)
		}
	}
}

func TestWebhookSendCapsResponseRead(t *testing.T) {
	// A receiver that streams forever must not hold the sender.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		chunk := make([]byte, 32<<10)
		for r.Context().Err() == nil {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	}))
	defer srv.Close()
	done := make(chan error, 1)
	go func() {
		done <- (&WebhookSender{Client: privateOKClient(), MaxBody: 1 << 10}).Send(context.Background(), srv.URL, "d", []byte("k"), []byte("{}"))
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("Send kept reading an endless response")
	}
}

func TestWebhookBackoff(t *testing.T) {
	base, max := time.Second, time.Minute
	for attempt, want := range map[int]time.Duration{
		0: time.Second, 1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second,
		6: 32 * time.Second, 7: time.Minute, 50: time.Minute, 1000: time.Minute,
	} {
		seen := map[time.Duration]bool{}
		for range 200 {
			d := WebhookBackoff(attempt, base, max)
			if d < want/2 || d > want {
				t.Fatalf("attempt %d: %v outside [%v, %v]", attempt, d, want/2, want)
			}
			seen[d] = true
		}
		if len(seen) < 100 {
			t.Fatalf("attempt %d: only %d distinct delays in 200; no jitter?", attempt, len(seen))
		}
	}
	if d := WebhookBackoff(1000, time.Second, 0); d <= 0 {
		t.Fatalf("no cap, attempt 1000: %v (overflow)", d)
	}
	if d := WebhookBackoff(3, 0, time.Minute); d != 0 {
		t.Fatalf("zero base: %v", d)
	}
	if d := WebhookBackoff(1, time.Hour, time.Minute); d > time.Minute {
		t.Fatalf("base above max: %v", d)
	}
}
