package openai_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"runtime/metrics"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/app"
	"github.com/switchyard/switchyard/internal/app/apptest"
	"github.com/switchyard/switchyard/internal/config"
	"github.com/switchyard/switchyard/internal/images"
	"github.com/switchyard/switchyard/internal/images/s3fake"
	"github.com/switchyard/switchyard/internal/mock"
	"github.com/switchyard/switchyard/internal/store"
)

// imageNodeConfig is a node with one images channel on m's server.
func imageNodeConfig(t testing.TB, upstream string) *config.Config {
	cfg := apptest.Config(t)
	cfg.Channels = []config.Channel{{Name: "img", Type: "openai", BaseURL: upstream,
		Models: []string{"gpt-image-1"}, Credentials: []config.Credential{{Key: "img-1"}}}}
	cfg.Keys = []config.Key{{Name: "all", Key: testKey}}
	return cfg
}

// runNode runs a node until the returned stop is called.
func runNode(t testing.TB, cfg *config.Config, opts ...app.Option) (*gateway, func()) {
	t.Helper()
	a, stop := apptest.Run(t, cfg, nil, opts...)
	return &gateway{base: "http://" + a.Addr(), app: a}, stop
}

// TestImageAsyncSurvivesRestart: a node stopped while its async task runs
// leaves the task running; the node started again on the same data
// directory takes it back at once and completes it.
func TestImageAsyncSurvivesRestart(t *testing.T) {
	m := mock.New(mock.Options{})
	up := httptest.NewServer(m)
	t.Cleanup(up.Close)
	cfg := imageNodeConfig(t, up.URL)
	cfg.Server.ShutdownTimeout = 300 * time.Millisecond // shorter than the task

	g, stop := runNode(t, cfg)
	resp, _ := g.imagePost(t, "/v1/images/generations", testKey, "application/json",
		strings.NewReader(`{"model":"gpt-image-1","prompt":"slow [[mock latency=1500ms times=1]]","n":2}`),
		map[string]string{"Prefer": "respond-async"})
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("submit: %d", resp.StatusCode)
	}
	task := resp.Header.Get("X-Switchyard-Task-Id")
	g.waitTask(t, task, func(tj taskJSON) bool { return tj.Status == "running" })
	stop()

	tasks := images.NewTasks(mustOpenDB(t, cfg), time.Now)
	if tk, err := tasks.Get(context.Background(), task); err != nil || tk.Status != images.StatusRunning {
		t.Fatalf("after the stop: %+v %v", tk.Status, err)
	}
	g2, _ := runNode(t, cfg)
	tj := g2.waitTask(t, task, finished)
	if tj.Status != "succeeded" || tj.Delivered != 2 || len(tj.Data) != 2 {
		t.Fatalf("after restart: %+v", tj)
	}
	tk, _ := tasks.Get(context.Background(), task)
	if tk.Attempts != 2 {
		t.Errorf("attempts %d, want 2", tk.Attempts)
	}
	if resp, _ := get(t, tj.Data[0].URL, ""); resp.StatusCode != http.StatusOK {
		t.Errorf("image after restart: %d", resp.StatusCode)
	}
}

// TestImageWebhook: a finished async task is POSTed to the key's webhook,
// signed with its secret, and retried after a failure.
func TestImageWebhook(t *testing.T) {
	m := mock.New(mock.Options{})
	up := httptest.NewServer(m)
	t.Cleanup(up.Close)
	const secret = "whsec-0123456789abcdef"
	var mu sync.Mutex
	var got []*http.Request
	var bodies [][]byte
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got, bodies = append(got, r), append(bodies, b)
		first := len(got) == 1
		mu.Unlock()
		if first {
			http.Error(w, "not yet", http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(recv.Close)
	cfg := imageNodeConfig(t, up.URL)
	cfg.Images.WebhookAllowPrivate = true // the receiver is on loopback
	cfg.Keys[0].WebhookURL, cfg.Keys[0].WebhookSecret = recv.URL+"/hook?token=abc", config.Secret(secret)
	g, _ := runNode(t, cfg, app.WithImageRunner(func(o *images.RunnerOptions) {
		o.PollInterval, o.WebhookBase, o.WebhookMax = 20*time.Millisecond, 50*time.Millisecond, 100*time.Millisecond
	}))
	resp, _ := g.imagePost(t, "/v1/images/generations", testKey, "application/json",
		strings.NewReader(`{"model":"gpt-image-1","prompt":"hook","async":true}`), nil)
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("submit: %d", resp.StatusCode)
	}
	task := resp.Header.Get("X-Switchyard-Task-Id")
	tj := g.waitTask(t, task, func(tj taskJSON) bool { return tj.Webhook != nil && tj.Webhook.State == "delivered" })
	if tj.Webhook.Attempts != 2 {
		t.Errorf("webhook attempts %d, want 2", tj.Webhook.Attempts)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 2 {
		t.Fatalf("%d deliveries, want 2", len(got))
	}
	for i, r := range got {
		if r.URL.Query().Get("token") != "abc" || r.Header.Get("Content-Type") != "application/json" {
			t.Errorf("delivery %d: %s %v", i, r.URL, r.Header)
		}
		sig := r.Header.Get(images.SignatureHeader)
		if err := images.VerifyWebhook([]byte(secret), sig, bodies[i], time.Now(), time.Minute); err != nil {
			t.Errorf("delivery %d signature: %v", i, err)
		}
		if err := images.VerifyWebhook([]byte("wrong-secret-0123456"), sig, bodies[i], time.Now(), time.Minute); err == nil {
			t.Errorf("delivery %d verifies with another secret", i)
		}
	}
	if got[0].Header.Get(images.DeliveryHeader) != got[1].Header.Get(images.DeliveryHeader) {
		t.Error("a retry has a new delivery id")
	}
	var ev struct {
		Type string   `json:"type"`
		Data taskJSON `json:"data"`
	}
	if err := json.Unmarshal(bodies[1], &ev); err != nil {
		t.Fatal(err)
	}
	if ev.Type != "image.task.succeeded" || ev.Data.ID != task || len(ev.Data.Data) != 1 {
		t.Errorf("event %+v", ev)
	}
	if resp, _ := get(t, ev.Data.Data[0].URL, ""); resp.StatusCode != http.StatusOK {
		t.Errorf("webhook's image link: %d", resp.StatusCode)
	}
}

// TestImageS3Storage: with s3:// storage, images are written to the
// bucket and served from it through the signed URLs.
func TestImageS3Storage(t *testing.T) {
	m := mock.New(mock.Options{})
	up := httptest.NewServer(m)
	t.Cleanup(up.Close)
	fake := s3fake.Start(t, "AKIDTESTSWITCHYARD", "s3-secret-for-tests", "eu-west-1")
	fake.CreateBucket("imgs")
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDTESTSWITCHYARD")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "s3-secret-for-tests")
	t.Setenv("AWS_SESSION_TOKEN", "")
	cfg := imageNodeConfig(t, up.URL)
	cfg.Images.Storage = "s3://imgs/gw?endpoint=" + fake.URL + "&region=eu-west-1"
	g, _ := runNode(t, cfg)
	resp, a := g.generate(t, `{"model":"gpt-image-1","prompt":"to the bucket","n":2,"response_format":"url"}`)
	if resp.StatusCode != http.StatusOK || len(a.Data) != 2 {
		t.Fatalf("status %d: %+v", resp.StatusCode, a.Error)
	}
	task := resp.Header.Get("X-Switchyard-Task-Id")
	for i, d := range a.Data {
		obj, ok := fake.Get("imgs", fmt.Sprintf("gw/%s/%d", task, i))
		if !ok || obj.ContentType != "image/png" {
			t.Fatalf("image %d not in the bucket (keys %v)", i, fake.Keys("imgs"))
		}
		resp, b := get(t, d.URL, "")
		if resp.StatusCode != http.StatusOK || !bytes.Equal(b, obj.Data) {
			t.Errorf("image %d through the gateway: %d, %d bytes vs %d in the bucket", i, resp.StatusCode, len(b), len(obj.Data))
		}
	}
}

// TestImageEditUploadMemory relays multipart edits of 2 MB and 20 MB (the
// same small picture padded with a chunk decoders skip) and compares the
// bytes the whole process allocates, gateway and mock together: spooled
// and piped, the 20 MB upload must cost about what the 2 MB one does, not
// ten times as much.
func TestImageEditUploadMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("uploads 22 MB")
	}
	g := imageGateway(t, nil)
	alloc := func(pad int) uint64 {
		body, ctype := multipartBody(t, [][2]string{{"model", "gpt-image-1"}, {"prompt", "big"}},
			[]formFile{{"image", "big.png", "image/png", pngBytes(t, 256, 256, pad)}})
		size := body.Len()
		runtime.GC()
		before := heapAllocs()
		resp, a := g.imagePost(t, "/v1/images/edits", testKey, ctype, body, nil)
		after := heapAllocs()
		if resp.StatusCode != http.StatusOK || len(a.Data) != 1 {
			t.Fatalf("%d-byte edit: %d %+v", size, resp.StatusCode, a.Error)
		}
		recs := g.mock.Requests("img-1")
		last := recs[len(recs)-1]
		if last.Parts[len(last.Parts)-1].Size < int64(pad) {
			t.Fatalf("the upstream got %d bytes of image", last.Parts[len(last.Parts)-1].Size)
		}
		t.Logf("upload %d bytes: %d bytes allocated", size, after-before)
		return after - before
	}
	alloc(1 << 20) // warm up pools and caches
	small, large := alloc(2<<20), alloc(20<<20)
	if large > small+6<<20 {
		t.Errorf("a 20 MB upload allocated %d bytes, a 2 MB one %d: memory grows with the upload", large, small)
	}
}

func heapAllocs() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

func mustOpenDB(t testing.TB, cfg *config.Config) *store.DB {
	t.Helper()
	db, err := store.Open(context.Background(), cfg.Database.URL.Value(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// TestImageFormatDefaults: without response_format, the key's default
// wins over its group's, which wins over the model's own.
func TestImageFormatDefaults(t *testing.T) {
	g := imageGateway(t, func(cfg *config.Config) {
		cfg.Groups = append(cfg.Groups, config.Group{Name: "links", Ratio: 1, ImageResponseFormat: "url"})
		cfg.Users = append(cfg.Users, config.User{Email: "links@example.com", Group: "links"})
		cfg.Channels[len(cfg.Channels)-1].Groups = []string{"default", "links"}
		cfg.Keys = append(cfg.Keys,
			config.Key{Name: "group-url", User: "links@example.com", Key: "sk-test-group-url-0123456789"},
			config.Key{Name: "key-b64", User: "links@example.com", Key: "sk-test-key-b64-0123456789", ImageResponseFormat: "b64_json"})
	})
	cases := []struct{ key, model, want string }{
		{testKey, "gpt-image-1", "b64"},                        // the model's own default
		{testKey, "dall-e-3", "url"},                           // DALL·E's own default
		{"sk-test-group-url-0123456789", "gpt-image-1", "url"}, // the group's
		{"sk-test-key-b64-0123456789", "dall-e-3", "b64"},      // the key's over the group's and the model's
	}
	for _, c := range cases {
		resp, a := g.imagePost(t, "/v1/images/generations", c.key, "application/json",
			strings.NewReader(`{"model":"`+c.model+`","prompt":"default format"}`), nil)
		if resp.StatusCode != http.StatusOK || len(a.Data) != 1 {
			t.Fatalf("%s %s: %d %+v", c.key, c.model, resp.StatusCode, a.Error)
		}
		got := "b64"
		if a.Data[0].URL != "" {
			got = "url"
		}
		if got != c.want {
			t.Errorf("key %s model %s: answered %s, want %s", c.key, c.model, got, c.want)
		}
	}
}

// TestImageSyncCancel: DELETE of a running synchronous task ends the
// request that runs it, with 409 task_cancelled, within a heartbeat.
func TestImageSyncCancel(t *testing.T) {
	m := mock.New(mock.Options{})
	up := httptest.NewServer(m)
	t.Cleanup(up.Close)
	cfg := imageNodeConfig(t, up.URL)
	g, _ := runNode(t, cfg, app.WithImageRunner(func(o *images.RunnerOptions) {
		o.HeartbeatInterval = 50 * time.Millisecond
	}))
	type result struct {
		status int
		code   string
		took   time.Duration
	}
	done := make(chan result, 1)
	go func() {
		start := time.Now()
		resp, a := g.generate(t, `{"model":"gpt-image-1","prompt":"forever [[mock latency=20s]]"}`)
		r := result{status: resp.StatusCode, took: time.Since(start)}
		if a.Error != nil {
			r.code = a.Error.Code
		}
		done <- r
	}()
	tasks := images.NewTasks(g.app.DB(), time.Now)
	var id string
	for deadline := time.Now().Add(5 * time.Second); id == "" && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		ts, err := tasks.List(context.Background(), firstUserID(t, g), 10, "")
		if err == nil && len(ts) == 1 && ts[0].Status == images.StatusRunning {
			id = ts[0].ID
		}
	}
	if id == "" {
		t.Fatal("the synchronous task never showed as running")
	}
	req, _ := http.NewRequest(http.MethodDelete, g.base+"/v1/images/tasks/"+id, nil)
	req.Header.Set("Authorization", "Bearer "+testKey)
	dresp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	dresp.Body.Close()
	if dresp.StatusCode != http.StatusOK {
		t.Fatalf("cancel: %d", dresp.StatusCode)
	}
	select {
	case r := <-done:
		if r.status != http.StatusConflict || r.code != "task_cancelled" || r.took > 5*time.Second {
			t.Errorf("the request ended %d %s after %v", r.status, r.code, r.took)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the request still runs 10s after its task was cancelled")
	}
	if tk, _ := tasks.Get(context.Background(), id); tk.Status != images.StatusCancelled {
		t.Errorf("task %s", tk.Status)
	}
}

func firstUserID(t testing.TB, g *gateway) int64 {
	t.Helper()
	var id int64
	if err := g.app.DB().Read().QueryRowContext(context.Background(), "SELECT MIN(user_id) FROM api_keys").Scan(&id); err != nil {
		t.Fatal(err)
	}
	return id
}
