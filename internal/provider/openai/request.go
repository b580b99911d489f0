package openai

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
)

// postParts is what an upstream POST needs besides its *http.Request and
// its header map, in one allocation where http.NewRequestWithContext and
// Header.Set make one each (the URL parsed anew, the body's reader and its
// NopCloser, each header value's slice).
type postParts struct {
	url  url.URL
	body postBody
	vals [3]string // header values (postParts.value)
}

// postBody is the request body: a bytes.Reader that closes.
type postBody struct{ bytes.Reader }

func (*postBody) Close() error { return nil }

// newPost is http.NewRequestWithContext(ctx, "POST", target.String(),
// bytes.NewReader(body)) with target already parsed (the caller's copy is
// not touched): the same request, with its Content-Length and a GetBody
// for the transport's retry on a dead idle connection.
func newPost(ctx context.Context, target *url.URL, body []byte) (*http.Request, *postParts) {
	p := &postParts{url: *target}
	p.body.Reset(body)
	tmpl := http.Request{
		Method:        http.MethodPost,
		URL:           &p.url,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        make(http.Header, 4),
		Body:          &p.body,
		ContentLength: int64(len(body)),
		GetBody: func() (io.ReadCloser, error) {
			return io.NopCloser(bytes.NewReader(body)), nil
		},
		Host: p.url.Host,
	}
	if len(body) == 0 {
		tmpl.Body, tmpl.GetBody = http.NoBody, func() (io.ReadCloser, error) { return http.NoBody, nil }
	}
	return tmpl.WithContext(ctx), p
}

// value is v as a header's values, held in p.vals[i]: Header.Set would
// allocate the slice.
func (p *postParts) value(i int, v string) []string {
	p.vals[i] = v
	return p.vals[i : i+1 : i+1]
}

// urlCache holds upstream URLs parsed, by their text: channels' URLs are
// few and fixed, while parsing one costs an allocation per request. It
// stops growing at maxCachedURLs (a deployment URL carries the model
// name, which may come from the client); past that, URLs are parsed
// each time.
type urlCache struct {
	m sync.Map // string → *url.URL, never modified once stored
	n atomic.Int32
}

const maxCachedURLs = 1024

func (c *urlCache) parse(s string) (*url.URL, error) {
	if v, ok := c.m.Load(s); ok {
		return v.(*url.URL), nil
	}
	u, err := url.Parse(s)
	if err != nil {
		return nil, err
	}
	// As NewRequest does: "host:" means the scheme's port.
	if strings.LastIndex(u.Host, ":") > strings.LastIndex(u.Host, "]") {
		u.Host = strings.TrimSuffix(u.Host, ":")
	}
	if c.n.Load() < maxCachedURLs {
		c.n.Add(1)
		c.m.Store(s, u)
	}
	return u, nil
}
