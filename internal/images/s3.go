package images

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"github.com/switchyard/switchyard/internal/sigv4"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// S3Credentials sign requests to an S3-compatible service. They come from
// the environment (S3CredentialsFromEnv) or, in tests, directly; never
// from the storage URL, which ends up in configs and logs.
type S3Credentials = sigv4.Credentials

// S3CredentialsFromEnv reads AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and
// the optional AWS_SESSION_TOKEN.
func S3CredentialsFromEnv() (S3Credentials, error) {
	c := S3Credentials{
		AccessKeyID:     os.Getenv("AWS_ACCESS_KEY_ID"),
		SecretAccessKey: os.Getenv("AWS_SECRET_ACCESS_KEY"),
		SessionToken:    os.Getenv("AWS_SESSION_TOKEN"),
	}
	var missing []string
	if c.AccessKeyID == "" {
		missing = append(missing, "AWS_ACCESS_KEY_ID")
	}
	if c.SecretAccessKey == "" {
		missing = append(missing, "AWS_SECRET_ACCESS_KEY")
	}
	if len(missing) > 0 {
		return S3Credentials{}, fmt.Errorf("s3 credentials: %s not set in the environment "+
			"(s3:// storage needs AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, optionally AWS_SESSION_TOKEN)",
			strings.Join(missing, " and "))
	}
	return c, nil
}

// S3Error is an error response from the S3 service, decoded from its
// <Error><Code>…</Code><Message>…</Message></Error> body when it has one.
type S3Error struct {
	StatusCode int
	Code       string // e.g. NoSuchKey, SignatureDoesNotMatch; empty for a body-less reply
	Message    string
	RequestID  string
}

func (e *S3Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "s3: HTTP %d", e.StatusCode)
	if e.Code != "" {
		b.WriteString(" " + e.Code)
	}
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	if e.RequestID != "" {
		b.WriteString(" (request id " + e.RequestID + ")")
	}
	return b.String()
}

// S3Store is a Store in a bucket of an S3-compatible service (AWS S3,
// MinIO, R2, Ceph RGW, …), spoken with the standard library and AWS
// Signature Version 4.
//
// Payloads: GET and DELETE sign the hash of the empty body. A Put of known
// size streams its body and signs UNSIGNED-PAYLOAD, so the body is read
// once and never held (TLS protects it in transit; the signature still
// covers method, path and headers). A Put of unknown size must be
// measured first, because S3 needs a Content-Length: it is spooled to
// memory (up to 1 MiB) or a temporary file while its SHA-256 is computed,
// and that real hash is signed.
type S3Store struct {
	endpoint  *url.URL // scheme and host only
	bucket    string
	prefix    string // "" or segments without a trailing '/'
	region    string
	pathStyle bool
	// A pointer, so that printing the store with %v shows an address,
	// not the secret.
	creds  *S3Credentials
	client *http.Client
	now    func() time.Time

	// MaxSize caps one object, in bytes (DefaultMaxObjectSize when not
	// positive). Set it before first use.
	MaxSize int64
}

var _ Store = (*S3Store)(nil)

const (
	s3DefaultRegion = "us-east-1"
	// emptySHA256 is the hex SHA-256 of no bytes.
	emptySHA256     = sigv4.EmptySHA256
	unsignedPayload = sigv4.UnsignedPayload
	spoolMemLimit   = 1 << 20
	maxErrorBody    = 64 << 10
)

// NewS3Store returns a store for an s3:// URL:
//
//	s3://bucket/prefix?endpoint=https://host:port&region=us-east-1&path_style=true
//
// endpoint defaults to https://s3.<region>.amazonaws.com, region to
// us-east-1 and path_style to true (endpoint/bucket/prefix/key; false
// gives bucket.endpoint/prefix/key). Other parameters, and user info in
// the URL, are refused: credentials come only from creds. A nil client
// gets a dedicated one with connection timeouts and no overall timeout
// (each call's context bounds it) that does not follow redirects, so an
// S3 redirect (wrong region) surfaces as an error.
func NewS3Store(u *url.URL, creds S3Credentials, client *http.Client) (*S3Store, error) {
	if u == nil || u.Scheme != "s3" {
		return nil, errors.New("s3 storage: URL must start with s3://")
	}
	if u.User != nil {
		return nil, errors.New("s3 storage: credentials in the URL are not accepted; " +
			"set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY instead")
	}
	if creds.AccessKeyID == "" || creds.SecretAccessKey == "" {
		return nil, errors.New("s3 storage: access key id and secret access key are required")
	}
	// Both go into headers; the key id also into the credential scope.
	if strings.ContainsAny(creds.AccessKeyID, "/, \r\n\x00") || strings.ContainsAny(creds.SessionToken, "\r\n\x00") {
		return nil, errors.New("s3 storage: access key id or session token contains an invalid byte")
	}
	bucket := u.Host
	if err := validBucket(bucket); err != nil {
		return nil, fmt.Errorf("s3 storage: %w", err)
	}
	prefix := strings.Trim(u.Path, "/")
	if prefix != "" {
		if err := ValidKey(prefix); err != nil {
			return nil, fmt.Errorf("s3 storage: prefix: %w", err)
		}
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return nil, fmt.Errorf("s3 storage: query: %w", err)
	}
	s := &S3Store{bucket: bucket, prefix: prefix, region: s3DefaultRegion, pathStyle: true,
		client: client, now: time.Now, MaxSize: DefaultMaxObjectSize}
	c := creds
	s.creds = &c
	for name, vals := range q {
		if len(vals) != 1 {
			return nil, fmt.Errorf("s3 storage: parameter %q given more than once", name)
		}
		v := vals[0]
		switch name {
		case "region":
			if v == "" || strings.ContainsAny(v, "/ \r\n") {
				return nil, fmt.Errorf("s3 storage: invalid region %q", v)
			}
			s.region = v
		case "path_style":
			if s.pathStyle, err = strconv.ParseBool(v); err != nil {
				return nil, fmt.Errorf("s3 storage: path_style must be true or false, not %q", v)
			}
		case "endpoint":
			// Checked below, once the region is known.
		default:
			// The value is not echoed: it may be a misplaced secret.
			return nil, fmt.Errorf("s3 storage: unknown parameter %q (want endpoint, region, path_style; "+
				"credentials come from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)", name)
		}
	}
	ep := q.Get("endpoint")
	if ep == "" {
		ep = "https://s3." + s.region + ".amazonaws.com"
	}
	if s.endpoint, err = parseEndpoint(ep); err != nil {
		return nil, fmt.Errorf("s3 storage: %w", err)
	}
	if !s.pathStyle && net.ParseIP(s.endpoint.Hostname()) != nil {
		return nil, errors.New("s3 storage: path_style=false needs an endpoint host name, not an IP address")
	}
	if s.client == nil {
		s.client = newS3Client()
	}
	return s, nil
}

func parseEndpoint(raw string) (*url.URL, error) {
	e, err := url.Parse(raw)
	switch {
	case err != nil:
		return nil, errors.New("endpoint is not a URL")
	case e.Scheme != "https" && e.Scheme != "http":
		return nil, errors.New("endpoint must be an http:// or https:// URL")
	case e.Host == "" || e.User != nil || e.RawQuery != "" || e.Fragment != "" || strings.Trim(e.Path, "/") != "":
		return nil, errors.New("endpoint must be scheme://host[:port] with no path, user info or query")
	}
	return &url.URL{Scheme: e.Scheme, Host: e.Host}, nil
}

// validBucket applies the S3 naming rules (3-63 of [a-z0-9.-], starting
// and ending with a letter or digit), which also keep the name safe in a
// path and a host name.
func validBucket(b string) error {
	if len(b) < 3 || len(b) > 63 {
		return fmt.Errorf("bucket name %q must be 3 to 63 bytes", b)
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		alnum := 'a' <= c && c <= 'z' || '0' <= c && c <= '9'
		if !alnum && ((c != '.' && c != '-') || i == 0 || i == len(b)-1) {
			return fmt.Errorf("bucket name %q: only lower-case letters, digits, '.' and '-' (not at the ends)", b)
		}
	}
	return nil
}

func newS3Client() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.ResponseHeaderTimeout = 2 * time.Minute
	return &http.Client{
		Transport: tr,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// Bucket returns the bucket name.
func (s *S3Store) Bucket() string { return s.bucket }

// Prefix returns the key prefix, without a trailing '/' ("" for none).
func (s *S3Store) Prefix() string { return s.prefix }

// String describes the store without credentials.
func (s *S3Store) String() string {
	return "s3://" + s.bucket + "/" + s.prefix + " at " + s.endpoint.String()
}

// objectURL returns the URL of key: endpoint/bucket/prefix/key in path
// style, bucket.endpoint/prefix/key otherwise.
func (s *S3Store) objectURL(key string) *url.URL {
	objKey := key
	if s.prefix != "" {
		objKey = s.prefix + "/" + key
	}
	u := &url.URL{Scheme: s.endpoint.Scheme, Host: s.endpoint.Host}
	if s.pathStyle {
		u.Path = "/" + s.bucket + "/" + objKey
	} else {
		u.Host = s.bucket + "." + s.endpoint.Host
		u.Path = "/" + objKey
	}
	u.RawPath = sigv4.URIEncode(u.Path, false)
	return u
}

func (s *S3Store) maxSize() int64 {
	if s.MaxSize <= 0 {
		return DefaultMaxObjectSize
	}
	return s.MaxSize
}

// Put implements Store. S3 replaces an object atomically, so readers see
// the old object or the whole new one. A body that turns out shorter or
// longer than size is abandoned before its last byte is sent, so S3 never
// stores it.
func (s *S3Store) Put(ctx context.Context, key string, r io.Reader, size int64, contentType string) error {
	if err := ValidKey(key); err != nil {
		return fmt.Errorf("store image: %w", err)
	}
	if len(contentType) > maxContentTypeLen || strings.ContainsAny(contentType, "\r\n\x00") {
		return fmt.Errorf("store image %s: content type is not a single short line", key)
	}
	if contentType == "" {
		contentType = defaultContentType
	}
	max := s.maxSize()
	if size > max {
		return fmt.Errorf("store image %s: %d bytes: %w (limit %d)", key, size, ErrTooLarge, max)
	}
	body, payloadHash := io.Reader(&exactReader{r: ctxReader{ctx, r}, remaining: size}), unsignedPayload
	switch {
	case size < 0:
		sp, err := spool(ctx, r, max)
		if err != nil {
			return fmt.Errorf("store image %s: %w", key, err)
		}
		defer sp.close()
		body, size, payloadHash = sp.r, sp.size, sp.sha256
	case size == 0:
		if err := expectEOF(ctxReader{ctx, r}); err != nil {
			return fmt.Errorf("store image %s: %w", key, err)
		}
	}
	if size == 0 {
		// A zero ContentLength with a non-nil body would be sent chunked,
		// which S3 refuses.
		body = http.NoBody
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, s.objectURL(key).String(), body)
	if err != nil {
		return fmt.Errorf("store image %s: %w", key, err)
	}
	req.ContentLength = size
	req.Header.Set("Content-Type", contentType)
	resp, err := s.do(req, payloadHash)
	if err != nil {
		return fmt.Errorf("store image %s: %w", key, err)
	}
	defer drainClose(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("store image %s: %w", key, readS3Error(resp))
	}
	return nil
}

// Open implements Store. A 404 other than NoSuchBucket is ErrNotFound; a
// missing bucket is a configuration error and is reported as such.
func (s *S3Store) Open(ctx context.Context, key string) (io.ReadCloser, ObjectInfo, error) {
	if err := ValidKey(key); err != nil {
		return nil, ObjectInfo{}, fmt.Errorf("open image: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.objectURL(key).String(), nil)
	if err != nil {
		return nil, ObjectInfo{}, fmt.Errorf("open image %s: %w", key, err)
	}
	resp, err := s.do(req, emptySHA256)
	if err != nil {
		return nil, ObjectInfo{}, fmt.Errorf("open image %s: %w", key, err)
	}
	if resp.StatusCode != http.StatusOK {
		defer drainClose(resp.Body)
		e := readS3Error(resp)
		if e.StatusCode == http.StatusNotFound && e.Code != "NoSuchBucket" {
			return nil, ObjectInfo{}, fmt.Errorf("open image %s: %w (%w)", key, ErrNotFound, e)
		}
		return nil, ObjectInfo{}, fmt.Errorf("open image %s: %w", key, e)
	}
	info := ObjectInfo{Size: resp.ContentLength, ContentType: resp.Header.Get("Content-Type")}
	if info.ContentType == "" {
		info.ContentType = defaultContentType
	}
	if lm := resp.Header.Get("Last-Modified"); lm != "" {
		if t, err := http.ParseTime(lm); err == nil {
			info.ModTime = t
		}
	}
	return resp.Body, info, nil
}

// Check probes the bucket for /readyz with a GET of a key no image uses:
// 404 NoSuchKey passes, and so does 403 AccessDenied, S3's answer for a
// missing key to credentials without s3:ListBucket. A missing bucket,
// rejected credentials (InvalidAccessKeyId, SignatureDoesNotMatch), any
// other status and no answer fail it.
func (s *S3Store) Check(ctx context.Context) error {
	rc, _, err := s.Open(ctx, "readyz-probe")
	if err == nil {
		drainClose(rc)
		return nil
	}
	var e *S3Error
	if errors.Is(err, ErrNotFound) || errors.As(err, &e) && e.StatusCode == http.StatusForbidden && e.Code == "AccessDenied" {
		return nil
	}
	return fmt.Errorf("image storage %s: %w", s, err)
}

// Delete implements Store. S3 answers 204 for a missing key; a 404
// NoSuchKey from a stricter implementation is accepted too.
func (s *S3Store) Delete(ctx context.Context, key string) error {
	if err := ValidKey(key); err != nil {
		return fmt.Errorf("delete image: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, s.objectURL(key).String(), nil)
	if err != nil {
		return fmt.Errorf("delete image %s: %w", key, err)
	}
	resp, err := s.do(req, emptySHA256)
	if err != nil {
		return fmt.Errorf("delete image %s: %w", key, err)
	}
	defer drainClose(resp.Body)
	switch resp.StatusCode {
	case http.StatusOK, http.StatusNoContent:
		return nil
	}
	e := readS3Error(resp)
	if e.StatusCode == http.StatusNotFound && e.Code == "NoSuchKey" {
		return nil
	}
	return fmt.Errorf("delete image %s: %w", key, e)
}

// do signs and sends req. Transport errors are returned as they are: they
// name the URL and never carry headers, so no credential leaks into them.
func (s *S3Store) do(req *http.Request, payloadHash string) (*http.Response, error) {
	signV4(req, s.creds, s.region, payloadHash, s.now())
	return s.client.Do(req)
}

func readS3Error(resp *http.Response) *S3Error {
	e := &S3Error{StatusCode: resp.StatusCode, RequestID: resp.Header.Get("X-Amz-Request-Id")}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	var x struct {
		Code      string
		Message   string
		RequestID string `xml:"RequestId"`
	}
	if len(bytes.TrimSpace(b)) > 0 && xml.Unmarshal(b, &x) == nil {
		e.Code, e.Message = x.Code, x.Message
		if x.RequestID != "" {
			e.RequestID = x.RequestID
		}
	}
	return e
}

// drainClose reads a little of what is left so the connection can be
// reused, then closes.
func drainClose(rc io.ReadCloser) {
	_, _ = io.Copy(io.Discard, io.LimitReader(rc, 4<<10))
	rc.Close()
}

// exactReader passes exactly remaining bytes of r and fails, instead of
// delivering the last of them, when r turns out longer or shorter. Failing
// before the last byte is handed to the transport means the server never
// receives a complete body, so a wrong size cannot store anything.
type exactReader struct {
	r         io.Reader
	remaining int64
}

var errLongerThanSize = errors.New("body is longer than its declared size")

func (e *exactReader) Read(p []byte) (int, error) {
	if e.remaining <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > e.remaining {
		p = p[:e.remaining]
	}
	n, err := e.r.Read(p)
	e.remaining -= int64(n)
	if e.remaining == 0 {
		if err := expectEOF(e.r); err != nil {
			return 0, err
		}
		return n, io.EOF
	}
	if err == io.EOF {
		return 0, fmt.Errorf("body ended %d bytes before its declared size: %w", e.remaining, io.ErrUnexpectedEOF)
	}
	return n, err
}

// expectEOF reports an error unless r has nothing more to give.
func expectEOF(r io.Reader) error {
	var b [1]byte
	for {
		n, err := r.Read(b[:])
		if n > 0 {
			return errLongerThanSize
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

type spooled struct {
	r      io.Reader
	size   int64
	sha256 string
	file   *os.File
}

func (s *spooled) close() {
	if s.file != nil {
		s.file.Close()
		os.Remove(s.file.Name())
	}
}

// spool measures and hashes r, holding it in memory up to spoolMemLimit
// and in a temporary file beyond. More than max bytes is ErrTooLarge.
func spool(ctx context.Context, r io.Reader, max int64) (sp *spooled, err error) {
	h := sha256.New()
	r = io.TeeReader(io.LimitReader(ctxReader{ctx, r}, max+1), h)
	var mem bytes.Buffer
	n, err := io.Copy(&mem, io.LimitReader(r, min(spoolMemLimit, max)+1))
	if err != nil {
		return nil, fmt.Errorf("read: %w", err)
	}
	if n <= spoolMemLimit && n <= max {
		return &spooled{r: bytes.NewReader(mem.Bytes()), size: n, sha256: hex.EncodeToString(h.Sum(nil))}, nil
	}
	if n > max {
		return nil, fmt.Errorf("more than %d bytes: %w", max, ErrTooLarge)
	}
	f, err := os.CreateTemp("", "switchyard-s3-*")
	if err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	sp = &spooled{file: f}
	defer func() {
		if err != nil {
			sp.close()
		}
	}()
	if _, err := f.Write(mem.Bytes()); err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	m, err := io.Copy(f, r)
	if err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	if n += m; n > max {
		return nil, fmt.Errorf("more than %d bytes: %w", max, ErrTooLarge)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	sp.r, sp.size, sp.sha256 = f, n, hex.EncodeToString(h.Sum(nil))
	return sp, nil
}

// signV4 signs req for S3 in region as of t (see sigv4.Signer.Sign).
func signV4(req *http.Request, creds *S3Credentials, region, payloadHash string, t time.Time) {
	sigv4.Signer{Service: "s3", Region: region, S3: true}.Sign(req, *creds, payloadHash, t)
}
