package relay

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/config"
)

// TestDetach: the settle's context outlives the client's and still carries
// the request's values.
func TestDetach(t *testing.T) {
	type k struct{}
	parent, cancel := context.WithCancel(context.WithValue(context.Background(), k{}, "v"))
	d := detach(parent)
	cancel()
	if d.Err() != nil || d.Done() != nil || d.Value(k{}) != "v" {
		t.Fatalf("detached: err %v, value %v", d.Err(), d.Value(k{}))
	}
	if _, ok := d.Deadline(); ok {
		t.Fatal("detached context has a deadline")
	}
	child, stop := context.WithTimeout(d, time.Hour)
	defer stop()
	if child.Err() != nil || context.Cause(child) != nil {
		t.Fatalf("child of a detached context: %v %v", child.Err(), context.Cause(child))
	}
	if n := testing.AllocsPerRun(100, func() { _ = d.Value(k{}) }); n != 0 {
		t.Fatalf("Value allocates %v times", n)
	}
}

// TestSendSkipsDo: a request through a client Transports built takes the
// transport's RoundTrip, answers as Do would (no redirect followed) and
// fails with Do's *url.Error.
func TestSendSkipsDo(t *testing.T) {
	ts := NewTransports(config.Upstream{})
	c, err := ts.Client("")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := c.Transport.(ownTransport); !ok {
		t.Fatalf("transport %T: send would take Do", c.Transport)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/elsewhere", http.StatusTemporaryRedirect)
	}))
	defer srv.Close()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL+"/v1/chat/completions", strings.NewReader("{}"))
	resp, err := send(c, req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTemporaryRedirect {
		t.Fatalf("status %d, want the redirect itself", resp.StatusCode)
	}
	srv.Close()
	c.CloseIdleConnections()
	req, _ = http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL+"/v1/chat/completions", strings.NewReader("{}"))
	_, err = send(c, req)
	var ue *url.Error
	if !errors.As(err, &ue) || ue.Op != "Post" || ue.URL != srv.URL+"/v1/chat/completions" {
		t.Fatalf("error %#v, want Do's *url.Error", err)
	}
	req, _ = http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL+"/v1/chat/completions", strings.NewReader("{}"))
	_, derr := c.Do(req)
	if derr == nil || err.Error() != derr.Error() {
		t.Fatalf("send: %v; Do: %v", err, derr)
	}
}
