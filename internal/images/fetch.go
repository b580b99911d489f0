package images

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
)

// Fetch downloads an image an upstream returned by URL, so clients get it
// from the gateway and never depend on the upstream's link staying up.
//
// client should come from netguard.NewClient (nil uses one with the
// strictest guard): the URL comes from an upstream response and must not
// reach the gateway's own network. A redirect is an error naming the host
// it points to, never followed. Anything but 200 is an error with the
// status. More than maxBytes (≤ 0: DefaultLimits.MaxBytes) is ErrTooLarge,
// refused from Content-Length before reading when the server declares it,
// and while reading otherwise.
//
// The format is decided from the bytes, not the Content-Type header, and
// anything but PNG, JPEG, WebP or GIF wraps ErrUnsupported. The image is
// not decoded: this is upstream output, not client input, and decoding it
// would only cost memory. So Info has the Format only; Width and Height
// are zero.
//
// Errors name the URL's host, never the whole URL: signed storage URLs
// carry their credential in the query.
func Fetch(ctx context.Context, client *http.Client, rawURL string, maxBytes int64) ([]byte, Info, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, Info{}, errors.New("fetch image: invalid URL")
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, Info{}, fmt.Errorf("fetch image: URL scheme %q with host %q; want http or https with a host", u.Scheme, u.Host)
	}
	if maxBytes <= 0 {
		maxBytes = DefaultLimits.MaxBytes
	}
	if client == nil {
		client = guardedClient()
	}
	doing := "fetch image from " + u.Host

	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, Info{}, fmt.Errorf("%s: %w", doing, err)
	}
	req.Header.Set("Accept", "image/png, image/jpeg, image/webp, image/gif")
	resp, err := client.Do(req)
	if err != nil {
		// *url.Error would repeat the whole URL.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, Info{}, fmt.Errorf("%s: %w", doing, err)
	}
	defer resp.Body.Close()

	switch {
	case resp.StatusCode >= 300 && resp.StatusCode <= 399:
		return nil, Info{}, fmt.Errorf("%s: %s redirecting to %s; redirects are not followed", doing, resp.Status, locationHost(resp))
	case resp.StatusCode != http.StatusOK:
		return nil, Info{}, fmt.Errorf("%s: %s", doing, resp.Status)
	case resp.ContentLength > maxBytes:
		return nil, Info{}, fmt.Errorf("%s: %w: Content-Length %d, limit %d", doing, ErrTooLarge, resp.ContentLength, maxBytes)
	}

	var buf bytes.Buffer
	if resp.ContentLength > 0 {
		buf.Grow(int(resp.ContentLength))
	}
	// One byte past the limit tells "exactly maxBytes" from "more".
	if _, err := buf.ReadFrom(io.LimitReader(resp.Body, maxBytes+1)); err != nil {
		return nil, Info{}, fmt.Errorf("%s: read body: %w", doing, err)
	}
	if int64(buf.Len()) > maxBytes {
		return nil, Info{}, fmt.Errorf("%s: %w: more than %d bytes", doing, ErrTooLarge, maxBytes)
	}
	b := buf.Bytes()
	format, what := detect(b[:min(len(b), sniffLen)])
	if format == "" {
		return nil, Info{}, fmt.Errorf("%s: %w: %s; accepted formats are %s", doing, ErrUnsupported, what, Accepted)
	}
	return b, Info{Format: format}, nil
}
