package images

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/netguard"
)

// fetchServer serves the handlers under test on loopback.
func fetchServer(t *testing.T, routes map[string]http.HandlerFunc) string {
	t.Helper()
	mux := http.NewServeMux()
	for p, h := range routes {
		mux.HandleFunc(p, h)
	}
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestFetch(t *testing.T) {
	pngData := encodePNG(t, 8, 4)
	jpegData := encodeJPEG(t, 3, 3)
	big := append(append([]byte{}, pngData...), make([]byte, 4096)...)
	base := fetchServer(t, map[string]http.HandlerFunc{
		"/ok.png": func(w http.ResponseWriter, r *http.Request) {
			// A misleading Content-Type: the bytes decide.
			w.Header().Set("Content-Type", "application/octet-stream")
			w.Write(pngData)
		},
		"/photo": func(w http.ResponseWriter, r *http.Request) { w.Write(jpegData) },
		"/webp":  func(w http.ResponseWriter, r *http.Request) { w.Write(webpLossy) },
		"/exact": func(w http.ResponseWriter, r *http.Request) { w.Write(big) },
		"/big-by-header": func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", strconv.Itoa(len(big)))
			w.Write(big)
		},
		"/big-chunked": func(w http.ResponseWriter, r *http.Request) {
			// Flushing first makes the response chunked: no Content-Length,
			// so only the read limit can catch it.
			w.Write(big[:100])
			w.(http.Flusher).Flush()
			w.Write(big[100:])
		},
		"/redirect": func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "http://elsewhere.example:8080/ok.png", http.StatusFound)
		},
		"/missing": http.NotFound,
		"/html": func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "image/png")
			w.Write([]byte("<!DOCTYPE html><html><body>Access denied</body></html>"))
		},
		"/svg": func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte(`<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"/>`))
		},
		"/empty": func(w http.ResponseWriter, r *http.Request) {},
	})
	client := privateOKClient()

	tests := []struct {
		path    string
		max     int64
		want    []byte
		format  string
		wantErr error    // errors.Is target, when there is one
		msg     []string // substrings of the error
	}{
		{"/ok.png", 1 << 20, pngData, PNG, nil, nil},
		{"/photo", 1 << 20, jpegData, JPEG, nil, nil},
		{"/webp", 1 << 20, webpLossy, WebP, nil, nil},
		{"/exact", int64(len(big)), big, PNG, nil, nil},
		{"/big-by-header", int64(len(big)) - 1, nil, "", ErrTooLarge, []string{"Content-Length"}},
		{"/big-chunked", int64(len(big)) - 1, nil, "", ErrTooLarge, []string{"more than"}},
		{"/redirect", 1 << 20, nil, "", nil, []string{"302", "elsewhere.example:8080", "not followed"}},
		{"/missing", 1 << 20, nil, "", nil, []string{"404"}},
		{"/html", 1 << 20, nil, "", ErrUnsupported, []string{"HTML"}},
		{"/svg", 1 << 20, nil, "", ErrUnsupported, []string{"SVG"}},
		{"/empty", 1 << 20, nil, "", ErrUnsupported, []string{"empty"}},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			b, info, err := Fetch(context.Background(), client, base+tt.path+"?sig=SECRETTOKEN", tt.max)
			if tt.format != "" {
				if err != nil {
					t.Fatalf("Fetch = %v", err)
				}
				if !bytes.Equal(b, tt.want) || info.Format != tt.format || info.ContentType() != "image/"+tt.format {
					t.Fatalf("Fetch = %d bytes, %+v; want %d bytes of %s", len(b), info, len(tt.want), tt.format)
				}
				return
			}
			if err == nil {
				t.Fatalf("Fetch succeeded with %d bytes, %+v", len(b), info)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Fatalf("Fetch = %v, want %v", err, tt.wantErr)
			}
			for _, m := range tt.msg {
				if !strings.Contains(err.Error(), m) {
					t.Fatalf("error %q does not mention %q", err, m)
				}
			}
			if strings.Contains(err.Error(), "SECRETTOKEN") {
				t.Fatalf("error %q leaks the URL's query", err)
			}
			if b != nil {
				t.Fatalf("bytes returned with an error")
			}
		})
	}
}

func TestFetchRefusesBadURLs(t *testing.T) {
	for _, u := range []string{"file:///etc/passwd", "ftp://example.com/a.png", "data:image/png;base64,AAAA", "/relative.png", "http://", "%zz"} {
		if _, _, err := Fetch(context.Background(), privateOKClient(), u, 1<<20); err == nil {
			t.Errorf("Fetch(%q) succeeded", u)
		}
	}
}

func TestFetchRefusesPrivateByDefault(t *testing.T) {
	var hits int
	base := fetchServer(t, map[string]http.HandlerFunc{
		"/": func(w http.ResponseWriter, r *http.Request) { hits++ },
	})
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(base, "http://"))
	for name, c := range map[string]*http.Client{
		"nil client":     nil,
		"guarded client": netguard.NewClient(&netguard.Guard{}, 5*time.Second),
	} {
		_, _, err := Fetch(context.Background(), c, "http://localhost:"+port+"/a.png", 1<<20)
		var be *netguard.BlockedError
		if !errors.As(err, &be) {
			t.Fatalf("%s: Fetch = %v, want a *netguard.BlockedError", name, err)
		}
	}
	if hits != 0 {
		t.Fatalf("server reached %d times", hits)
	}
}

func TestFetchContextCancel(t *testing.T) {
	pngData := encodePNG(t, 2, 2)
	sent := make(chan struct{})
	release := make(chan struct{})
	base := fetchServer(t, map[string]http.HandlerFunc{
		"/slow": func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", strconv.Itoa(len(pngData)+1000))
			w.Write(pngData)
			w.(http.Flusher).Flush()
			close(sent)
			select { // hold the body open until the client gives up
			case <-r.Context().Done():
			case <-release:
			}
		},
	})
	defer close(release)

	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-sent
		cancel()
	}()
	done := make(chan error, 1)
	go func() {
		_, _, err := Fetch(ctx, privateOKClient(), base+"/slow", 1<<20)
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Fetch = %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Fetch did not return after its context was cancelled")
	}
}
