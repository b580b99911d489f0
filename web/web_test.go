package web

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"
)

func get(t *testing.T, h http.Handler, method, path string, hdr map[string]string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, path, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func indexHTML(t *testing.T) string {
	t.Helper()
	b, err := dist.ReadFile("dist/index.html")
	if err != nil {
		t.Fatalf("the committed build has no index.html: %v", err)
	}
	return string(b)
}

// assetRefs lists the /assets/ files index.html loads.
func assetRefs(t *testing.T) []string {
	t.Helper()
	refs := regexp.MustCompile(`(?:src|href)="(/assets/[^"]+)"`).FindAllStringSubmatch(indexHTML(t), -1)
	if len(refs) < 2 {
		t.Fatalf("index.html loads %d assets, want a script and a stylesheet", len(refs))
	}
	var out []string
	for _, m := range refs {
		out = append(out, m[1])
	}
	return out
}

func checkSecurityHeaders(t *testing.T, rec *httptest.ResponseRecorder) {
	t.Helper()
	h := rec.Header()
	want := map[string]string{
		"Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'",
		"X-Frame-Options":         "DENY",
		"X-Content-Type-Options":  "nosniff",
	}
	for k, v := range want {
		if got := h.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
}

func TestIndexAndPageFallback(t *testing.T) {
	h := Handler()
	index := indexHTML(t)
	for _, p := range []string{"/", "/login", "/users/12", "/setup?token=abc", "/index.html", "/me/keys/"} {
		rec := get(t, h, "GET", p, nil)
		if rec.Code != 200 || rec.Body.String() != index {
			t.Fatalf("GET %s: %d, body is index.html: %v", p, rec.Code, rec.Body.String() == index)
		}
		if ct := rec.Header().Get("Content-Type"); ct != "text/html; charset=utf-8" {
			t.Errorf("GET %s: Content-Type %q", p, ct)
		}
		if cc := rec.Header().Get("Cache-Control"); cc != "no-cache" {
			t.Errorf("GET %s: Cache-Control %q, want no-cache", p, cc)
		}
		checkSecurityHeaders(t, rec)
	}
}

func TestAssetsAreImmutableAndTyped(t *testing.T) {
	h := Handler()
	for _, p := range assetRefs(t) {
		rec := get(t, h, "GET", p, nil)
		if rec.Code != 200 {
			t.Fatalf("GET %s: %d", p, rec.Code)
		}
		if cc := rec.Header().Get("Cache-Control"); cc != "public, max-age=31536000, immutable" {
			t.Errorf("GET %s: Cache-Control %q", p, cc)
		}
		if !regexp.MustCompile(`-[A-Za-z0-9_-]{8}\.(js|css)$`).MatchString(p) {
			t.Errorf("%s has no content hash in its name", p)
		}
		wantType := map[bool]string{true: "text/javascript; charset=utf-8", false: "text/css; charset=utf-8"}[strings.HasSuffix(p, ".js")]
		if ct := rec.Header().Get("Content-Type"); ct != wantType {
			t.Errorf("GET %s: Content-Type %q", p, ct)
		}
		checkSecurityHeaders(t, rec)
	}
	// Files outside assets/ have no hash in their names: revalidated.
	rec := get(t, h, "GET", "/favicon.svg", nil)
	if rec.Code != 200 || rec.Header().Get("Cache-Control") != "no-cache" || rec.Header().Get("Content-Type") != "image/svg+xml" {
		t.Fatalf("favicon: %d %q %q", rec.Code, rec.Header().Get("Cache-Control"), rec.Header().Get("Content-Type"))
	}
}

func TestMissingFilesAreNotIndex(t *testing.T) {
	h := Handler()
	for _, p := range []string{"/assets/index-00000000.js", "/assets/", "/robots.txt", "/users/avatar.png"} {
		rec := get(t, h, "GET", p, nil)
		if rec.Code != 404 || strings.Contains(rec.Body.String(), "<html") {
			t.Fatalf("GET %s: %d %q", p, rec.Code, rec.Body.String())
		}
		checkSecurityHeaders(t, rec)
	}
	rec := get(t, h, "POST", "/login", nil)
	if rec.Code != 405 || rec.Header().Get("Allow") != "GET, HEAD" {
		t.Fatalf("POST: %d Allow %q", rec.Code, rec.Header().Get("Allow"))
	}
}

func TestGzip(t *testing.T) {
	h := Handler()
	for _, p := range append(assetRefs(t), "/") {
		plain := get(t, h, "GET", p, nil)
		if plain.Header().Get("Content-Encoding") != "" {
			t.Fatalf("GET %s without Accept-Encoding is encoded", p)
		}
		zipped := get(t, h, "GET", p, map[string]string{"Accept-Encoding": "br, gzip;q=0.8"})
		if zipped.Header().Get("Content-Encoding") != "gzip" {
			if strings.HasSuffix(p, ".js") {
				t.Fatalf("GET %s: not gzipped", p)
			}
			continue // small files may stay plain
		}
		if !strings.Contains(zipped.Header().Get("Vary"), "Accept-Encoding") {
			t.Errorf("GET %s: no Vary: Accept-Encoding", p)
		}
		zr, err := gzip.NewReader(zipped.Body)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(zr)
		if err != nil || !bytes.Equal(got, plain.Body.Bytes()) {
			t.Fatalf("GET %s: gunzipped body differs (%v)", p, err)
		}
		if zipped.Header().Get("Content-Length") == plain.Header().Get("Content-Length") {
			t.Errorf("GET %s: same length gzipped", p)
		}
		refused := get(t, h, "GET", p, map[string]string{"Accept-Encoding": "gzip;q=0, identity"})
		if refused.Header().Get("Content-Encoding") != "" {
			t.Errorf("GET %s: gzip sent though q=0", p)
		}
	}
}

func TestConditionalAndHead(t *testing.T) {
	h := Handler()
	first := get(t, h, "GET", "/", nil)
	tag := first.Header().Get("ETag")
	if tag == "" {
		t.Fatal("no ETag on index.html")
	}
	again := get(t, h, "GET", "/dashboard", map[string]string{"If-None-Match": tag})
	if again.Code != 304 || again.Body.Len() != 0 {
		t.Fatalf("revalidation: %d with %d bytes", again.Code, again.Body.Len())
	}
	checkSecurityHeaders(t, again)
	head := get(t, h, "HEAD", "/", nil)
	if head.Code != 200 || head.Body.Len() != 0 || head.Header().Get("Content-Length") != first.Header().Get("Content-Length") {
		t.Fatalf("HEAD: %d, %d bytes, length %q", head.Code, head.Body.Len(), head.Header().Get("Content-Length"))
	}
}

// The CSP allows no inline script or style: the build must contain none.
func TestBuildHasNoInlineScriptOrStyle(t *testing.T) {
	html := indexHTML(t)
	for _, m := range regexp.MustCompile(`(?is)<script\b[^>]*>(.*?)</script>`).FindAllStringSubmatch(html, -1) {
		if !strings.Contains(m[0], ` src="`) || strings.TrimSpace(m[1]) != "" {
			t.Errorf("inline script in index.html: %.120s", m[0])
		}
	}
	for _, bad := range []*regexp.Regexp{
		regexp.MustCompile(`(?i)<style\b`),
		regexp.MustCompile(`(?i)\sstyle\s*=`),
		regexp.MustCompile(`(?i)\son[a-z]+\s*=`),
		regexp.MustCompile(`(?i)javascript:`),
		regexp.MustCompile(`(?i)\b(src|href)\s*=\s*"(https?:)?//`),
	} {
		if loc := bad.FindStringIndex(html); loc != nil {
			t.Errorf("index.html has %q", html[loc[0]:loc[1]])
		}
	}
	// Component templates become HTML at run time: a static style attribute
	// in one would be refused by the CSP.
	entries, err := dist.ReadDir("dist/assets")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".js") {
			continue
		}
		b, _ := dist.ReadFile("dist/assets/" + e.Name())
		if m := regexp.MustCompile(`<[a-z][^<>]*\sstyle=`).Find(b); m != nil {
			t.Errorf("%s has a template with a style attribute: %.80s", e.Name(), m)
		}
	}
}

func TestBuildWithoutIndexFails(t *testing.T) {
	_, err := build(fstest.MapFS{"dist/assets/a.js": {Data: []byte("x")}})
	if err == nil || !strings.Contains(err.Error(), "index.html") {
		t.Fatalf("err = %v", err)
	}
}

func TestAcceptsGzip(t *testing.T) {
	for header, want := range map[string]bool{
		"":                      false,
		"gzip":                  true,
		"deflate, gzip;q=1.0":   true,
		"GZIP":                  true,
		"br":                    false,
		"gzip;q=0":              false,
		"gzip; q=0.000":         false,
		"*":                     true,
		"identity, *;q=0":       false,
		"x-gzip":                true,
		"gzipx":                 false,
		"br;q=1, gzip ; q=0.5 ": true,
	} {
		if got := acceptsGzip(header); got != want {
			t.Errorf("acceptsGzip(%q) = %v, want %v", header, got, want)
		}
	}
}
