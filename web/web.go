// Package web serves the console's single-page UI, built from web/src by
// Vite into web/dist (committed) and embedded here, so building the binary
// needs no Node.
//
// Every file is read once at start: the content type, an ETag and, for text,
// a gzip copy are computed then and kept, so a request costs a map lookup.
// Files under /assets/ carry a content hash in their names and are cached for
// a year; everything else, index.html first, must be revalidated. A path that
// names no file and looks like a page (no extension) gets index.html, and the
// client-side router takes it from there.
//
// Every answer carries a strict Content-Security-Policy: the build emits no
// inline script or style, and the UI talks only to its own origin.
package web

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strconv"
	"strings"
	"sync"
)

//go:embed all:dist
var dist embed.FS

// CSP is the Content-Security-Policy of every console response.
const CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; " +
	"connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'"

const (
	cacheImmutable  = "public, max-age=31536000, immutable"
	cacheRevalidate = "no-cache"
	// minGzipGain: a gzip copy is kept only when it saves at least this much;
	// below it the Content-Encoding round trip is not worth it.
	minGzipGain = 64
)

type file struct {
	body  []byte
	gz    []byte // nil when not worth compressing
	ctype string
	etag  string
	cache string
}

// Handler serves the embedded build. It panics when the build has no
// index.html: the binary was built from a broken tree, which the package's
// tests catch.
func Handler() http.Handler {
	h, err := loadOnce()
	if err != nil {
		panic(fmt.Sprintf("web: embedded console build: %v", err))
	}
	return h
}

// loadOnce reads the build the first time a handler is asked for: the
// handler is immutable, so every caller can share it.
var loadOnce = sync.OnceValues(func() (*handler, error) { return build(dist) })

type handler struct {
	files map[string]*file // by URL path, "/assets/index-abc.js"
	index *file
}

func build(fsys fs.FS) (*handler, error) {
	root, err := fs.Sub(fsys, "dist")
	if err != nil {
		return nil, err
	}
	h := &handler{files: map[string]*file{}}
	err = fs.WalkDir(root, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := fs.ReadFile(root, p)
		if err != nil {
			return err
		}
		urlPath := "/" + p
		f := &file{body: body, ctype: contentType(p), etag: etag(body), cache: cacheRevalidate}
		if strings.HasPrefix(urlPath, "/assets/") {
			f.cache = cacheImmutable
		}
		if compressible(f.ctype) {
			f.gz = gzipped(body)
		}
		h.files[urlPath] = f
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading the build: %w", err)
	}
	h.index = h.files["/index.html"]
	if h.index == nil {
		return nil, fmt.Errorf("no index.html in the build (run `make web`)")
	}
	return h, nil
}

func contentType(p string) string {
	switch path.Ext(p) {
	case ".html":
		return "text/html; charset=utf-8"
	case ".js", ".mjs":
		return "text/javascript; charset=utf-8"
	case ".css":
		return "text/css; charset=utf-8"
	case ".svg":
		return "image/svg+xml"
	case ".json", ".map":
		return "application/json"
	case ".woff2":
		return "font/woff2"
	}
	if t := mime.TypeByExtension(path.Ext(p)); t != "" {
		return t
	}
	return "application/octet-stream"
}

func compressible(ctype string) bool {
	return strings.HasPrefix(ctype, "text/") || strings.HasPrefix(ctype, "application/json") ||
		strings.HasPrefix(ctype, "image/svg")
}

func etag(body []byte) string {
	sum := sha256.Sum256(body)
	return `"` + base64.RawURLEncoding.EncodeToString(sum[:12]) + `"`
}

func gzipped(body []byte) []byte {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression) // the level is valid
	_, _ = zw.Write(body)                                    // a bytes.Buffer does not fail
	_ = zw.Close()
	if buf.Len()+minGzipGain > len(body) {
		return nil
	}
	return buf.Bytes()
}

// securityHeaders go on every answer, including 404s and 304s.
func securityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", CSP)
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	securityHeaders(hdr)
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		hdr.Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	p := path.Clean("/" + r.URL.Path)
	f := h.files[p]
	if f == nil || p == "/index.html" {
		// A missing asset must not turn into HTML: the browser would try to
		// run it as script. Only extension-less paths are console pages.
		if p == "/assets" || strings.HasPrefix(p, "/assets/") || path.Ext(p) != "" && p != "/index.html" {
			hdr.Set("Cache-Control", "no-store")
			http.Error(w, "not found", http.StatusNotFound)
			return
		}
		f = h.index
	}
	h.serve(w, r, f)
}

func (h *handler) serve(w http.ResponseWriter, r *http.Request, f *file) {
	hdr := w.Header()
	hdr.Set("Cache-Control", f.cache)
	hdr.Set("ETag", f.etag)
	if f.gz != nil {
		hdr.Add("Vary", "Accept-Encoding")
	}
	if etagMatch(r.Header.Get("If-None-Match"), f.etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	body := f.body
	if f.gz != nil && acceptsGzip(r.Header.Get("Accept-Encoding")) {
		body = f.gz
		hdr.Set("Content-Encoding", "gzip")
	}
	hdr.Set("Content-Type", f.ctype)
	hdr.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}

func etagMatch(header, tag string) bool {
	if header == "" {
		return false
	}
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimSpace(t)
		if t == "*" || strings.TrimPrefix(t, "W/") == tag {
			return true
		}
	}
	return false
}

// acceptsGzip reads Accept-Encoding: gzip (or *) with a non-zero q.
func acceptsGzip(header string) bool {
	for _, part := range strings.Split(header, ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		name = strings.ToLower(strings.TrimSpace(name))
		if name != "gzip" && name != "x-gzip" && name != "*" {
			continue
		}
		q := 1.0
		for _, prm := range strings.Split(params, ";") {
			k, v, ok := strings.Cut(strings.TrimSpace(prm), "=")
			if ok && strings.EqualFold(strings.TrimSpace(k), "q") {
				if f, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil {
					q = f
				}
			}
		}
		if q > 0 {
			return true
		}
	}
	return false
}
