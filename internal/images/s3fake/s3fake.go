// Package s3fake is an in-process S3-compatible server for tests: PUT,
// GET, HEAD and DELETE of objects kept in memory, behind a real 127.0.0.1
// socket, with every request's AWS Signature Version 4 Authorization
// header recomputed and checked.
//
// The verifier is written independently of the client in package images
// (it does not import it), so a bug has to be made twice to go unnoticed;
// the client's signer is also checked against the published AWS example.
//
// Buckets are reached path-style (/bucket/key) when the request's Host is
// an IP address or "localhost", and virtual-host style (bucket.anything)
// otherwise, the bucket being the first label of the host name.
package s3fake

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Object is a stored object.
type Object struct {
	Data        []byte
	ContentType string
	ModTime     time.Time
}

// Request records one request the server received, whatever its outcome.
type Request struct {
	Method string
	Host   string
	Path   string // escaped, as sent
	Header http.Header
	Status int
}

// Server is a running fake. Its methods are safe for concurrent use.
type Server struct {
	// URL is the endpoint, http://127.0.0.1:port.
	URL string

	accessKey, secretKey, region string
	srv                          *httptest.Server

	mu           sync.Mutex
	buckets      map[string]map[string]Object
	log          []Request
	sessionToken string
}

// maxSkew is how far x-amz-date may be from the server's clock, as on S3.
const maxSkew = 15 * time.Minute

// Start runs a fake accepting one key pair for region. It is closed when
// the test ends.
func Start(t testing.TB, accessKey, secretKey, region string) *Server {
	t.Helper()
	s := &Server{accessKey: accessKey, secretKey: secretKey, region: region,
		buckets: map[string]map[string]Object{}}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = s.srv.URL
	t.Cleanup(s.Close)
	return s
}

// Close stops the server and waits for requests in flight, so assertions
// after it see their final effect. It may be called more than once.
func (s *Server) Close() { s.srv.Close() }

// Addr returns the listener's host:port.
func (s *Server) Addr() string { return s.srv.Listener.Addr().String() }

// CreateBucket adds an empty bucket (a no-op if it exists).
func (s *Server) CreateBucket(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.buckets[name] == nil {
		s.buckets[name] = map[string]Object{}
	}
}

// RequireSessionToken makes every request need x-amz-security-token equal
// to token, signed; "" stops requiring one.
func (s *Server) RequireSessionToken(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sessionToken = token
}

// Get returns a copy of the object at key in bucket.
func (s *Server) Get(bucket, key string) (Object, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.buckets[bucket][key]
	o.Data = bytes.Clone(o.Data)
	return o, ok
}

// Put stores an object directly, bypassing HTTP.
func (s *Server) Put(bucket, key string, o Object) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.buckets[bucket] == nil {
		s.buckets[bucket] = map[string]Object{}
	}
	o.Data = bytes.Clone(o.Data)
	s.buckets[bucket][key] = o
}

// Keys returns the sorted keys in bucket.
func (s *Server) Keys(bucket string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var keys []string
	for k := range s.buckets[bucket] {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// Requests returns how many requests the server has received.
func (s *Server) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.log)
}

// Log returns the requests received so far, oldest first.
func (s *Server) Log() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.log)
}

type apiError struct {
	status  int
	code    string
	message string
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	rec := Request{Method: r.Method, Host: r.Host, Path: rawPath(r), Header: r.Header.Clone()}
	status := s.handle(w, r)
	rec.Status = status
	s.mu.Lock()
	s.log = append(s.log, rec)
	s.mu.Unlock()
}

// handle serves r and returns the status it wrote.
func (s *Server) handle(w http.ResponseWriter, r *http.Request) int {
	// The body is read before verifying so that its hash can be checked.
	body, err := io.ReadAll(r.Body)
	if err != nil {
		// An incomplete body is never stored, as on S3.
		return s.fail(w, r, apiError{http.StatusBadRequest, "IncompleteBody", "The request body ended early."})
	}
	if e := s.verify(r, body); e != nil {
		return s.fail(w, r, *e)
	}
	bucket, key := s.route(r)
	s.mu.Lock()
	objects, ok := s.buckets[bucket]
	s.mu.Unlock()
	if !ok {
		return s.fail(w, r, apiError{http.StatusNotFound, "NoSuchBucket", "The specified bucket does not exist."})
	}
	if key == "" {
		return s.fail(w, r, apiError{http.StatusNotImplemented, "NotImplemented", "Bucket operations are not supported by s3fake."})
	}
	switch r.Method {
	case http.MethodPut:
		if r.Header.Get("Content-Length") == "" {
			return s.fail(w, r, apiError{http.StatusLengthRequired, "MissingContentLength", "You must provide the Content-Length HTTP header."})
		}
		ct := r.Header.Get("Content-Type")
		if ct == "" {
			ct = "binary/octet-stream"
		}
		s.mu.Lock()
		objects[key] = Object{Data: body, ContentType: ct, ModTime: time.Now().UTC().Truncate(time.Second)}
		s.mu.Unlock()
		w.Header().Set("ETag", etag(body))
		w.WriteHeader(http.StatusOK)
		return http.StatusOK
	case http.MethodGet, http.MethodHead:
		s.mu.Lock()
		o, ok := objects[key]
		s.mu.Unlock()
		if !ok {
			return s.fail(w, r, apiError{http.StatusNotFound, "NoSuchKey", "The specified key does not exist."})
		}
		h := w.Header()
		h.Set("Content-Type", o.ContentType)
		h.Set("Content-Length", strconv.Itoa(len(o.Data)))
		h.Set("Last-Modified", o.ModTime.Format(http.TimeFormat))
		h.Set("ETag", etag(o.Data))
		w.WriteHeader(http.StatusOK)
		if r.Method == http.MethodGet {
			_, _ = w.Write(o.Data)
		}
		return http.StatusOK
	case http.MethodDelete:
		s.mu.Lock()
		delete(objects, key)
		s.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
		return http.StatusNoContent
	default:
		return s.fail(w, r, apiError{http.StatusMethodNotAllowed, "MethodNotAllowed", "The specified method is not allowed against this resource."})
	}
}

// route splits the request into bucket and key, path- or virtual-host
// style (see the package comment).
func (s *Server) route(r *http.Request) (bucket, key string) {
	p := strings.TrimPrefix(r.URL.Path, "/")
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	if net.ParseIP(host) == nil && host != "localhost" {
		bucket, _, _ = strings.Cut(host, ".")
		return bucket, p
	}
	bucket, key, _ = strings.Cut(p, "/")
	return bucket, key
}

func (s *Server) fail(w http.ResponseWriter, r *http.Request, e apiError) int {
	w.Header().Set("Content-Type", "application/xml")
	w.Header().Set("X-Amz-Request-Id", "s3fake")
	w.WriteHeader(e.status)
	if r.Method == http.MethodHead {
		return e.status
	}
	var b bytes.Buffer
	b.WriteString(xml.Header)
	b.WriteString("<Error><Code>")
	_ = xml.EscapeText(&b, []byte(e.code))
	b.WriteString("</Code><Message>")
	_ = xml.EscapeText(&b, []byte(e.message))
	b.WriteString("</Message><Resource>")
	_ = xml.EscapeText(&b, []byte(rawPath(r)))
	b.WriteString("</Resource><RequestId>s3fake</RequestId></Error>")
	_, _ = w.Write(b.Bytes())
	return e.status
}

func etag(b []byte) string {
	h := sha256.Sum256(b)
	return `"` + hex.EncodeToString(h[:16]) + `"`
}

func rawPath(r *http.Request) string {
	p, _, _ := strings.Cut(r.RequestURI, "?")
	return p
}

// verify checks r's SigV4 Authorization header against its own
// recomputation of the signature.
func (s *Server) verify(r *http.Request, body []byte) *apiError {
	denied := func(code, msg string) *apiError { return &apiError{http.StatusForbidden, code, msg} }
	auth := r.Header.Get("Authorization")
	rest, ok := strings.CutPrefix(auth, "AWS4-HMAC-SHA256 ")
	if !ok {
		return denied("AccessDenied", "Missing or unsupported Authorization header.")
	}
	fields := map[string]string{}
	for part := range strings.SplitSeq(rest, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return &apiError{http.StatusBadRequest, "AuthorizationHeaderMalformed", "Malformed Authorization header."}
		}
		fields[k] = v
	}
	cred := strings.Split(fields["Credential"], "/")
	if len(cred) != 5 || fields["SignedHeaders"] == "" || fields["Signature"] == "" {
		return &apiError{http.StatusBadRequest, "AuthorizationHeaderMalformed", "Malformed Authorization header."}
	}
	if cred[0] != s.accessKey {
		return denied("InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records.")
	}
	amzDate := r.Header.Get("X-Amz-Date")
	t, err := time.Parse("20060102T150405Z", amzDate)
	if err != nil {
		return denied("AccessDenied", "Missing or malformed x-amz-date.")
	}
	if d := time.Since(t); d > maxSkew || d < -maxSkew {
		return denied("RequestTimeTooSkewed", "The difference between the request time and the current time is too large.")
	}
	if cred[1] != amzDate[:8] || cred[3] != "s3" || cred[4] != "aws4_request" {
		return &apiError{http.StatusBadRequest, "AuthorizationHeaderMalformed", "The credential scope is wrong."}
	}
	if cred[2] != s.region {
		return &apiError{http.StatusBadRequest, "AuthorizationHeaderMalformed", "The authorization header is malformed; the region '" + cred[2] + "' is wrong; expecting '" + s.region + "'."}
	}
	signed := strings.Split(fields["SignedHeaders"], ";")
	if !slices.IsSorted(signed) || !slices.Contains(signed, "host") {
		return denied("AccessDenied", "SignedHeaders must be sorted and include host.")
	}
	// S3 requires every x-amz-* header to be signed.
	for name := range r.Header {
		if l := strings.ToLower(name); strings.HasPrefix(l, "x-amz-") && !slices.Contains(signed, l) {
			return denied("AccessDenied", "There were headers present in the request which were not signed: "+l)
		}
	}
	s.mu.Lock()
	token := s.sessionToken
	s.mu.Unlock()
	if token != "" && r.Header.Get("X-Amz-Security-Token") != token {
		return denied("InvalidToken", "The provided token is malformed or otherwise invalid.")
	}
	payload := r.Header.Get("X-Amz-Content-Sha256")
	switch {
	case payload == "":
		return &apiError{http.StatusBadRequest, "InvalidRequest", "Missing required header for this request: x-amz-content-sha256"}
	case payload == "UNSIGNED-PAYLOAD":
	case strings.HasPrefix(payload, "STREAMING-"):
		return &apiError{http.StatusNotImplemented, "NotImplemented", "Chunked signing is not supported by s3fake."}
	default:
		h := sha256.Sum256(body)
		if hex.EncodeToString(h[:]) != payload {
			return &apiError{http.StatusBadRequest, "XAmzContentSHA256Mismatch", "The provided 'x-amz-content-sha256' header does not match what was computed."}
		}
	}

	var canon strings.Builder
	canon.WriteString(r.Method + "\n" + rawPath(r) + "\n" + sortedQuery(r.URL.RawQuery) + "\n")
	for _, name := range signed {
		var v string
		switch name {
		case "host":
			v = r.Host
		case "content-length":
			v = r.Header.Get("Content-Length")
		default:
			vals := slices.Clone(r.Header.Values(name))
			for i := range vals {
				vals[i] = strings.Join(strings.Fields(vals[i]), " ")
			}
			v = strings.Join(vals, ",")
		}
		canon.WriteString(name + ":" + v + "\n")
	}
	canon.WriteString("\n" + fields["SignedHeaders"] + "\n" + payload)
	ch := sha256.Sum256([]byte(canon.String()))
	scope := strings.Join(cred[1:], "/")
	toSign := "AWS4-HMAC-SHA256\n" + amzDate + "\n" + scope + "\n" + hex.EncodeToString(ch[:])
	k := mac([]byte("AWS4"+s.secretKey), cred[1])
	for _, part := range cred[2:] {
		k = mac(k, part)
	}
	want := hex.EncodeToString(mac(k, toSign))
	if !hmac.Equal([]byte(want), []byte(fields["Signature"])) {
		return denied("SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided. Check your key and signing method.")
	}
	return nil
}

func mac(key []byte, msg string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}

// sortedQuery re-encodes a raw query the SigV4 way: RFC 3986 unreserved
// bytes kept, everything else %XX, pairs sorted by name then value.
func sortedQuery(raw string) string {
	if raw == "" {
		return ""
	}
	q, _ := url.ParseQuery(raw)
	type pair struct{ k, v string }
	var ps []pair
	for k, vs := range q {
		for _, v := range vs {
			ps = append(ps, pair{escape(k), escape(v)})
		}
	}
	slices.SortFunc(ps, func(a, b pair) int {
		if c := strings.Compare(a.k, b.k); c != 0 {
			return c
		}
		return strings.Compare(a.v, b.v)
	})
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.k + "=" + p.v
	}
	return strings.Join(out, "&")
}

func escape(s string) string {
	var b strings.Builder
	for _, c := range []byte(s) {
		if c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || strings.IndexByte("-._~", c) >= 0 {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}
