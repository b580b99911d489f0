package app_test

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/app"
	"github.com/switchyard/switchyard/internal/app/apptest"
	"github.com/switchyard/switchyard/internal/config"
	"github.com/switchyard/switchyard/internal/mock"
	"github.com/switchyard/switchyard/internal/tokens"
)

// warmRecorder is a warm function that records the encodings asked for and
// blocks until released, standing for a slow vocabulary build.
type warmRecorder struct {
	mu       sync.Mutex
	names    []string
	called   chan struct{}
	released chan struct{}
	release  func() // once
	once     sync.Once
}

func newWarmRecorder(t *testing.T) *warmRecorder {
	w := &warmRecorder{called: make(chan struct{}), released: make(chan struct{})}
	w.release = sync.OnceFunc(func() { close(w.released) })
	t.Cleanup(w.release)
	return w
}

func (w *warmRecorder) warm(e tokens.Encoding) {
	w.mu.Lock()
	w.names = append(w.names, e.Name())
	w.mu.Unlock()
	w.once.Do(func() { close(w.called) })
	<-w.released
}

func (w *warmRecorder) got() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.names)
}

// The tokenizer warm-up runs in the background after the node is ready: a
// warm-up that never finishes keeps neither readiness nor requests waiting,
// and it builds the vocabulary of the served models.
func TestTokenizerWarmupOffStartPath(t *testing.T) {
	up := httptest.NewServer(mock.New(mock.Options{DisableRecording: true}))
	t.Cleanup(up.Close)
	cfg := apptest.Config(t)
	cfg.Channels = []config.Channel{{Name: "main", Type: "openai", BaseURL: up.URL,
		Models: []string{"gpt-4o", "gpt-4", "m"}, Credentials: []config.Credential{{Key: "k1"}}}}
	cfg.Pricing = map[string]config.Price{"m": {Free: true}}
	cfg.Users = []config.User{{Email: liveEmail, Credit: 1}}
	cfg.Keys = []config.Key{{Name: "main", User: liveEmail, Key: liveKey}}
	w := newWarmRecorder(t)
	n := apptest.StartWith(t, cfg, nil, app.WithTokenizerWarmup(time.Nanosecond, w.warm))
	select {
	case <-w.called:
	case <-time.After(5 * time.Second):
		t.Fatal("the tokenizer was never warmed")
	}
	// The warm-up is stuck in its first build; the node must not care.
	resp, err := http.Get("http://" + n.Addr() + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("/readyz during the warm-up: %d", resp.StatusCode)
	}
	if st, body := chat(t, n, liveKey, "m"); st != 200 {
		t.Fatalf("a request during the warm-up: %d %s", st, body)
	}
	if got := w.got(); len(got) != 1 {
		t.Fatalf("warming %v at once, want one at a time", got)
	}
	w.release()
	deadline := time.Now().Add(5 * time.Second)
	for len(w.got()) < 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	got := w.got()
	slices.Sort(got)
	if !slices.Equal(got, []string{"cl100k_base", "o200k_base"}) {
		t.Fatalf("warmed %v, want cl100k_base (gpt-4) and o200k_base (gpt-4o, m), once each", got)
	}
}

// A node that serves no model warms nothing.
func TestTokenizerWarmupNeedsAModel(t *testing.T) {
	cfg := apptest.Config(t)
	w := newWarmRecorder(t)
	apptest.StartWith(t, cfg, nil, app.WithTokenizerWarmup(time.Nanosecond, w.warm))
	select {
	case <-w.called:
		t.Fatalf("warmed %v without any model", w.got())
	case <-time.After(300 * time.Millisecond):
	}
}
