package images

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"github.com/switchyard/switchyard/internal/sigv4"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/switchyard/switchyard/internal/images/s3fake"
)

const (
	testAccessKey = "AKIDSWITCHYARDTEST"
	testSecretKey = "sEcReT/sw1tchyard+TEST-only"
	testRegion    = "eu-west-3"
	testBucket    = "switchyard-images"
)

func startFake(t *testing.T) *s3fake.Server {
	t.Helper()
	srv := s3fake.Start(t, testAccessKey, testSecretKey, testRegion)
	srv.CreateBucket(testBucket)
	return srv
}

func newS3Store(t *testing.T, srv *s3fake.Server, prefix string, creds S3Credentials) *S3Store {
	t.Helper()
	u, err := url.Parse("s3://" + testBucket + "/" + prefix + "?region=" + testRegion + "&endpoint=" + url.QueryEscape(srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewS3Store(u, creds, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func testCreds() S3Credentials {
	return S3Credentials{AccessKeyID: testAccessKey, SecretAccessKey: testSecretKey}
}

func TestS3RoundTrip(t *testing.T) {
	srv := startFake(t)
	s := newS3Store(t, srv, "imgs/v1", testCreds())
	ctx := context.Background()
	big := bytes.Repeat([]byte("0123456789abcdef"), (spoolMemLimit+spoolMemLimit/2)/16)
	cases := []struct {
		key, contentType string
		data             []byte
		size             int64
	}{
		{"task1/0", "image/png", []byte("png bytes"), 9},
		{"task1/1", "image/jpeg", []byte("jpeg"), -1},
		{"a.b_c-d/e/f.png", "", []byte{}, 0},
		{"empty-unknown", "image/gif", []byte{}, -1},
		{"flat", "image/webp", bytes.Repeat([]byte{0xff}, 100_000), 100_000},
		// Beyond the in-memory spool: goes through a temporary file.
		{"big", "image/png", big, -1},
	}
	for _, c := range cases {
		// Short reads make the streaming and spooling paths loop.
		if err := s.Put(ctx, c.key, iotest.HalfReader(bytes.NewReader(c.data)), c.size, c.contentType); err != nil {
			t.Fatalf("Put(%q): %v", c.key, err)
		}
	}
	for _, c := range cases {
		got, info := readObject(t, s, c.key)
		if !bytes.Equal(got, c.data) {
			t.Errorf("%s: read %d bytes, want %d", c.key, len(got), len(c.data))
		}
		wantType := c.contentType
		if wantType == "" {
			wantType = "application/octet-stream"
		}
		if info.Size != int64(len(c.data)) || info.ContentType != wantType || info.ModTime.IsZero() {
			t.Errorf("%s: info = %+v, want size %d, type %q", c.key, info, len(c.data), wantType)
		}
		// The object really is under the prefix, in the bucket.
		if o, ok := srv.Get(testBucket, "imgs/v1/"+c.key); !ok || !bytes.Equal(o.Data, c.data) {
			t.Errorf("%s: not stored under the prefix (found %v)", c.key, ok)
		}
	}
	if n := len(srv.Keys(testBucket)); n != len(cases) {
		t.Errorf("bucket holds %d objects, want %d: %v", n, len(cases), srv.Keys(testBucket))
	}
	// Both payload modes were used: streamed unsigned, spooled signed.
	modes := map[bool]bool{}
	for _, r := range srv.Log() {
		if r.Method == http.MethodPut {
			modes[r.Header.Get("X-Amz-Content-Sha256") == unsignedPayload] = true
		}
	}
	if !modes[true] || !modes[false] {
		t.Errorf("PUT payload modes seen (unsigned?): %v, want both", modes)
	}

	// Replacing keeps one object and updates its type.
	if err := s.Put(ctx, "task1/0", strings.NewReader("new"), 3, "image/gif"); err != nil {
		t.Fatal(err)
	}
	if got, info := readObject(t, s, "task1/0"); string(got) != "new" || info.ContentType != "image/gif" {
		t.Errorf("after replace: %q, %q", got, info.ContentType)
	}

	for _, c := range cases {
		if err := s.Delete(ctx, c.key); err != nil {
			t.Fatalf("Delete(%q): %v", c.key, err)
		}
		if _, _, err := s.Open(ctx, c.key); !errors.Is(err, ErrNotFound) {
			t.Errorf("Open(%q) after delete: %v, want ErrNotFound", c.key, err)
		}
	}
	if keys := srv.Keys(testBucket); len(keys) != 0 {
		t.Errorf("bucket not empty after deletes: %v", keys)
	}
	// Deleting again is not an error.
	if err := s.Delete(ctx, "task1/0"); err != nil {
		t.Errorf("Delete of a missing key: %v", err)
	}
}

func TestS3MissingObjectAndBucket(t *testing.T) {
	srv := startFake(t)
	s := newS3Store(t, srv, "", testCreds())
	ctx := context.Background()
	_, _, err := s.Open(ctx, "nope/0")
	var se *S3Error
	if !errors.Is(err, ErrNotFound) || !errors.As(err, &se) || se.Code != "NoSuchKey" || se.StatusCode != 404 {
		t.Errorf("Open(missing) = %v, want ErrNotFound wrapping a 404 NoSuchKey", err)
	}

	// A missing bucket is a configuration error, not a missing image.
	u, _ := url.Parse("s3://no-such-bucket?region=" + testRegion + "&endpoint=" + srv.URL)
	nb, err := NewS3Store(u, testCreds(), nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = nb.Open(ctx, "k")
	if errors.Is(err, ErrNotFound) || !errors.As(err, &se) || se.Code != "NoSuchBucket" {
		t.Errorf("Open in a missing bucket = %v, want NoSuchBucket and not ErrNotFound", err)
	}
	if err := nb.Delete(ctx, "k"); !errors.As(err, &se) || se.Code != "NoSuchBucket" {
		t.Errorf("Delete in a missing bucket = %v, want NoSuchBucket", err)
	}
	if err := nb.Put(ctx, "k", strings.NewReader("x"), 1, ""); err == nil || !strings.Contains(err.Error(), "404 NoSuchBucket") {
		t.Errorf("Put in a missing bucket = %v", err)
	}
}

func TestS3RejectsKeysBeforeAnyRequest(t *testing.T) {
	srv := startFake(t)
	s := newS3Store(t, srv, "p", testCreds())
	ctx := context.Background()
	for _, key := range []string{"", "../x", "a/../b", "/abs", "a//b", ".hidden", "a/.type", `a\b`, "a b", "a?b", "a%2Fb", strings.Repeat("a", MaxKeyLen+1)} {
		if err := s.Put(ctx, key, strings.NewReader("x"), 1, ""); !errors.Is(err, ErrBadKey) {
			t.Errorf("Put(%q) = %v, want ErrBadKey", key, err)
		}
		if _, _, err := s.Open(ctx, key); !errors.Is(err, ErrBadKey) {
			t.Errorf("Open(%q) = %v, want ErrBadKey", key, err)
		}
		if err := s.Delete(ctx, key); !errors.Is(err, ErrBadKey) {
			t.Errorf("Delete(%q) = %v, want ErrBadKey", key, err)
		}
	}
	if err := s.Put(ctx, "k", strings.NewReader("x"), 1, "image/png\r\nX-Evil: 1"); err == nil {
		t.Error("Put accepted a content type with CRLF")
	}
	if n := srv.Requests(); n != 0 {
		t.Errorf("%d requests reached the server, want 0", n)
	}
}

func TestS3BadCredentials(t *testing.T) {
	srv := startFake(t)
	ctx := context.Background()
	const wrongSecret = "wrong-SECRET-value-42"
	cases := []struct {
		name  string
		creds S3Credentials
		code  string
	}{
		{"wrong secret", S3Credentials{AccessKeyID: testAccessKey, SecretAccessKey: wrongSecret}, "SignatureDoesNotMatch"},
		{"unknown key id", S3Credentials{AccessKeyID: "AKIDUNKNOWN", SecretAccessKey: wrongSecret}, "InvalidAccessKeyId"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := newS3Store(t, srv, "", c.creds)
			_, _, openErr := s.Open(ctx, "k")
			errs := []error{
				s.Put(ctx, "k", strings.NewReader("data"), 4, "image/png"),
				s.Put(ctx, "k", strings.NewReader("data"), -1, "image/png"),
				openErr,
				s.Delete(ctx, "k"),
			}
			for i, err := range errs {
				var se *S3Error
				if !errors.As(err, &se) || se.StatusCode != 403 || se.Code != c.code {
					t.Errorf("call %d: %v, want a 403 %s", i, err, c.code)
					continue
				}
				if errors.Is(err, ErrNotFound) {
					t.Errorf("call %d: a denied request reads as not found", i)
				}
				msg := err.Error()
				if !strings.Contains(msg, "403") || !strings.Contains(msg, c.code) || strings.Contains(msg, wrongSecret) || strings.Contains(msg, testSecretKey) {
					t.Errorf("call %d: message %q must give status and code and no secret", i, msg)
				}
			}
			if _, ok := srv.Get(testBucket, "k"); ok {
				t.Error("a request with bad credentials stored an object")
			}
			// Printing the store or its credentials shows no secret.
			for _, out := range []string{fmt.Sprintf("%v %+v %#v", s, *s, *s), fmt.Sprintf("%v %+v %#v", c.creds, c.creds, c.creds)} {
				if strings.Contains(out, wrongSecret) {
					t.Errorf("secret printed: %s", out)
				}
			}
		})
	}
}

func TestS3SizeLimits(t *testing.T) {
	srv := startFake(t)
	s := newS3Store(t, srv, "", testCreds())
	s.MaxSize = 1000
	ctx := context.Background()
	if err := s.Put(ctx, "old", strings.NewReader("old"), 3, ""); err != nil {
		t.Fatal(err)
	}
	before := srv.Requests()
	big := strings.Repeat("x", 1001)
	if err := s.Put(ctx, "old", strings.NewReader(big), 1001, ""); !errors.Is(err, ErrTooLarge) {
		t.Errorf("Put of declared 1001 bytes = %v, want ErrTooLarge", err)
	}
	if err := s.Put(ctx, "old", strings.NewReader(big), -1, ""); !errors.Is(err, ErrTooLarge) {
		t.Errorf("Put of 1001 unknown-size bytes = %v, want ErrTooLarge", err)
	}
	if n := srv.Requests() - before; n != 0 {
		t.Errorf("oversized Puts sent %d requests, want 0", n)
	}
	if err := s.Put(ctx, "exact", strings.NewReader(big[:1000]), -1, ""); err != nil {
		t.Errorf("Put of exactly MaxSize: %v", err)
	}

	// A body shorter or longer than declared is abandoned before the server
	// has a complete body, so the old object survives.
	if err := s.Put(ctx, "old", strings.NewReader("short"), 10, ""); err == nil {
		t.Error("Put of a body shorter than its size succeeded")
	}
	if err := s.Put(ctx, "old", strings.NewReader("much too long"), 4, ""); err == nil {
		t.Error("Put of a body longer than its size succeeded")
	}
	if err := s.Put(ctx, "old", strings.NewReader("x"), 0, ""); err == nil {
		t.Error("Put of a non-empty body declared empty succeeded")
	}
	srv.Close() // waits for the server to finish with the abandoned bodies
	if o, ok := srv.Get(testBucket, "old"); !ok || string(o.Data) != "old" {
		t.Errorf("after failed Puts the object is %q (%v), want the old one", o.Data, ok)
	}
}

func TestS3SessionToken(t *testing.T) {
	srv := startFake(t)
	srv.RequireSessionToken("FwoGZXIvYXdzEXAMPLEtoken")
	ctx := context.Background()

	creds := testCreds()
	creds.SessionToken = "FwoGZXIvYXdzEXAMPLEtoken"
	s := newS3Store(t, srv, "", creds)
	if err := s.Put(ctx, "k", strings.NewReader("v"), 1, ""); err != nil {
		t.Fatalf("Put with the session token: %v", err)
	}
	log := srv.Log()
	last := log[len(log)-1]
	if last.Header.Get("X-Amz-Security-Token") != creds.SessionToken ||
		!strings.Contains(last.Header.Get("Authorization"), "x-amz-security-token") {
		t.Errorf("token header %q not sent or not signed (Authorization %q)",
			last.Header.Get("X-Amz-Security-Token"), last.Header.Get("Authorization"))
	}

	without := newS3Store(t, srv, "", testCreds())
	var se *S3Error
	if _, _, err := without.Open(ctx, "k"); !errors.As(err, &se) || se.Code != "InvalidToken" {
		t.Errorf("Open without the token = %v, want InvalidToken", err)
	}
}

func TestS3ObjectURL(t *testing.T) {
	cases := []struct {
		url, key, want string
	}{
		{"s3://bkt?endpoint=http://127.0.0.1:9000", "a/0", "http://127.0.0.1:9000/bkt/a/0"},
		{"s3://bkt/p/q?endpoint=https://minio.example:9000", "a/0", "https://minio.example:9000/bkt/p/q/a/0"},
		{"s3://bkt/p/?endpoint=https://minio.example:9000&path_style=false", "a/0", "https://bkt.minio.example:9000/p/a/0"},
		{"s3://my-bucket/imgs?region=eu-central-1&path_style=false", "t/1", "https://my-bucket.s3.eu-central-1.amazonaws.com/imgs/t/1"},
		{"s3://my-bucket", "t/1", "https://s3.us-east-1.amazonaws.com/my-bucket/t/1"},
	}
	for _, c := range cases {
		u, _ := url.Parse(c.url)
		s, err := NewS3Store(u, testCreds(), nil)
		if err != nil {
			t.Fatalf("NewS3Store(%q): %v", c.url, err)
		}
		if got := s.objectURL(c.key).String(); got != c.want {
			t.Errorf("%s key %s: URL %s, want %s", c.url, c.key, got, c.want)
		}
	}
}

// TestS3VirtualHostRequests sends virtual-host style requests over a real
// socket: the client resolves every name to the fake, which reads the
// bucket from the Host header.
func TestS3VirtualHostRequests(t *testing.T) {
	srv := startFake(t)
	_, port, _ := net.SplitHostPort(srv.Addr())
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, srv.Addr())
	}
	t.Cleanup(tr.CloseIdleConnections)
	u, _ := url.Parse("s3://" + testBucket + "/vh?path_style=false&region=" + testRegion + "&endpoint=http://s3.fake.test:" + port)
	s, err := NewS3Store(u, testCreds(), &http.Client{Transport: tr})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Put(context.Background(), "k/0", strings.NewReader("vh"), -1, "image/png"); err != nil {
		t.Fatal(err)
	}
	if got, _ := readObject(t, s, "k/0"); string(got) != "vh" {
		t.Errorf("read %q", got)
	}
	if o, ok := srv.Get(testBucket, "vh/k/0"); !ok || string(o.Data) != "vh" {
		t.Error("object not stored under the prefix")
	}
	r := srv.Log()[0]
	if r.Host != testBucket+".s3.fake.test:"+port || r.Path != "/vh/k/0" {
		t.Errorf("request went to host %q path %q", r.Host, r.Path)
	}
}

func TestNewS3StoreRejects(t *testing.T) {
	cases := []struct{ url, want string }{
		{"s3://AKID:hunter2@bucket/p", "credentials in the URL"},
		{"s3://bucket/p?secret_key=hunter2", `unknown parameter "secret_key"`},
		{"s3://bucket/p?region=us-east-1&region=eu-west-1", "more than once"},
		{"s3://Bad_Bucket/p", "bucket name"},
		{"s3://ab/p", "bucket name"},
		{"s3://bucket-/p", "bucket name"},
		{"s3://bucket/../etc", "prefix"},
		{"s3://bucket/.hidden", "prefix"},
		{"s3://bucket/p?endpoint=ftp://host", "http:// or https://"},
		{"s3://bucket/p?endpoint=https://host/sub", "no path"},
		{"s3://bucket/p?endpoint=https://u:hunter2@host", "no path, user info"},
		{"s3://bucket/p?endpoint=http://127.0.0.1:9000&path_style=false", "host name, not an IP"},
		{"s3://bucket/p?path_style=maybe", "path_style"},
		{"s3://bucket/p?region=", "invalid region"},
	}
	for _, c := range cases {
		u, err := url.Parse(c.url)
		if err != nil {
			t.Fatal(err)
		}
		s, err := NewS3Store(u, testCreds(), nil)
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("NewS3Store(%q) = %v, want an error containing %q without the secret", c.url, err, c.want)
		}
		if s != nil {
			t.Errorf("NewS3Store(%q) returned a store with its error", c.url)
		}
	}
	u, _ := url.Parse("s3://bucket/p")
	if _, err := NewS3Store(u, S3Credentials{AccessKeyID: "AKID"}, nil); err == nil {
		t.Error("NewS3Store accepted credentials without a secret")
	}
}

// TestSigV4AWSExample checks the signer against the "GET Object" example
// of the S3 SigV4 documentation ("Signature Calculations for the
// Authorization Header: Transferring Payload in a Single Chunk").
func TestSigV4AWSExample(t *testing.T) {
	req, err := http.NewRequest(http.MethodGet, "https://examplebucket.s3.amazonaws.com/test.txt", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Range", "bytes=0-9")
	creds := &S3Credentials{AccessKeyID: "AKIAIOSFODNN7EXAMPLE", SecretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}
	signV4(req, creds, "us-east-1", emptySHA256, time.Date(2013, 5, 24, 0, 0, 0, 0, time.UTC))

	canon, _ := sigv4.Signer{Service: "s3", Region: "us-east-1", S3: true}.CanonicalRequest(req, emptySHA256, nil)
	wantCanon := "GET\n/test.txt\n\nhost:examplebucket.s3.amazonaws.com\nrange:bytes=0-9\n" +
		"x-amz-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n" +
		"x-amz-date:20130524T000000Z\n\nhost;range;x-amz-content-sha256;x-amz-date\n" +
		"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	if canon != wantCanon {
		t.Errorf("canonical request:\n%s\nwant:\n%s", canon, wantCanon)
	}
	want := "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request," +
		"SignedHeaders=host;range;x-amz-content-sha256;x-amz-date," +
		"Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
	if got := req.Header.Get("Authorization"); got != want {
		t.Errorf("Authorization:\n%s\nwant:\n%s", got, want)
	}
}

func TestNewStoreS3(t *testing.T) {
	srv := startFake(t)
	raw := "s3://" + testBucket + "/env?region=" + testRegion + "&endpoint=" + url.QueryEscape(srv.URL)

	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	t.Setenv("AWS_SESSION_TOKEN", "")
	st, err := NewStore(raw, t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "AWS_ACCESS_KEY_ID") || !strings.Contains(err.Error(), "AWS_SECRET_ACCESS_KEY") || st != nil {
		t.Errorf("NewStore without credentials = %v, %v; want an error naming both variables", st, err)
	}
	t.Setenv("AWS_ACCESS_KEY_ID", testAccessKey)
	if _, err := NewStore(raw, t.TempDir()); err == nil || strings.Contains(err.Error(), "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY not set") ||
		!strings.Contains(err.Error(), "AWS_SECRET_ACCESS_KEY not set") {
		t.Errorf("NewStore with only the key id = %v, want an error naming AWS_SECRET_ACCESS_KEY", err)
	}
	t.Setenv("AWS_SECRET_ACCESS_KEY", testSecretKey)

	// Bad URLs do not echo secrets, in user info or the query.
	for _, bad := range []string{"s3://AKID:hunter2@" + testBucket + "/p", "s3://" + testBucket + "/p?token=hunter2"} {
		if _, err := NewStore(bad, t.TempDir()); err == nil || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("NewStore(%q) = %v, want an error without the secret", bad, err)
		}
	}

	st, err = NewStore(raw, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	s3s, ok := st.(*S3Store)
	if !ok || s3s.Bucket() != testBucket || s3s.Prefix() != "env" {
		t.Fatalf("NewStore returned %T %v", st, st)
	}
	ctx := context.Background()
	if err := st.Put(ctx, "t/0", strings.NewReader("hello"), 5, "image/png"); err != nil {
		t.Fatal(err)
	}
	if got, info := readObject(t, st, "t/0"); string(got) != "hello" || info.ContentType != "image/png" {
		t.Errorf("read %q %+v", got, info)
	}
	if _, ok := srv.Get(testBucket, "env/t/0"); !ok {
		t.Error("object not in the fake")
	}
}

func TestS3ContextCancelled(t *testing.T) {
	srv := startFake(t)
	s := newS3Store(t, srv, "", testCreds())
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Put(ctx, "k", strings.NewReader("v"), 1, ""); !errors.Is(err, context.Canceled) {
		t.Errorf("Put with a cancelled context = %v", err)
	}
	if _, _, err := s.Open(ctx, "k"); !errors.Is(err, context.Canceled) {
		t.Errorf("Open with a cancelled context = %v", err)
	}
	if err := s.Delete(ctx, "k"); !errors.Is(err, context.Canceled) {
		t.Errorf("Delete with a cancelled context = %v", err)
	}
}

// tamper changes a request after it was signed.
type tamper func(*http.Request)

func (f tamper) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	f(r)
	return http.DefaultTransport.RoundTrip(r)
}

// TestS3FakeChecksSignatures shows the fake recomputes the signature over
// what it received: a change to anything signed is refused.
func TestS3FakeChecksSignatures(t *testing.T) {
	srv := startFake(t)
	cases := []struct {
		name string
		f    tamper
		code string
	}{
		{"content type", func(r *http.Request) { r.Header.Set("Content-Type", "text/html") }, "SignatureDoesNotMatch"},
		{"path", func(r *http.Request) { r.URL.Path += "x"; r.URL.RawPath = "" }, "SignatureDoesNotMatch"},
		{"query", func(r *http.Request) { r.URL.RawQuery = "acl=" }, "SignatureDoesNotMatch"},
		{"date", func(r *http.Request) {
			d, _ := time.Parse("20060102T150405Z", r.Header.Get("X-Amz-Date"))
			r.Header.Set("X-Amz-Date", d.Add(time.Second).Format("20060102T150405Z"))
		}, "SignatureDoesNotMatch"},
		{"payload hash", func(r *http.Request) {
			r.Header.Set("X-Amz-Content-Sha256", emptySHA256)
		}, "XAmzContentSHA256Mismatch"},
		{"unsigned x-amz header", func(r *http.Request) { r.Header.Set("X-Amz-Acl", "public-read") }, "AccessDenied"},
		{"no authorization", func(r *http.Request) { r.Header.Del("Authorization") }, "AccessDenied"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			u, _ := url.Parse("s3://" + testBucket + "?region=" + testRegion + "&endpoint=" + srv.URL)
			s, err := NewS3Store(u, testCreds(), &http.Client{Transport: c.f})
			if err != nil {
				t.Fatal(err)
			}
			var se *S3Error
			err = s.Put(context.Background(), "k", strings.NewReader("data"), 4, "image/png")
			if !errors.As(err, &se) || se.Code != c.code {
				t.Errorf("tampered Put = %v, want %s", err, c.code)
			}
			if _, ok := srv.Get(testBucket, "k"); ok {
				t.Error("tampered request stored an object")
			}
		})
	}
}

// Check passes while the bucket answers for our credentials, and fails on
// a missing bucket, rejected credentials and no answer, naming the store.
func TestS3Check(t *testing.T) {
	srv := startFake(t)
	ctx := t.Context()
	if err := newS3Store(t, srv, "imgs", testCreds()).Check(ctx); err != nil {
		t.Fatalf("healthy bucket: %v", err)
	}
	// An object under the probe's key does not fail it either.
	srv.Put(testBucket, "imgs/readyz-probe", s3fake.Object{Data: []byte("x")})
	if err := newS3Store(t, srv, "imgs", testCreds()).Check(ctx); err != nil {
		t.Fatalf("probe key present: %v", err)
	}
	wrong := testCreds()
	wrong.SecretAccessKey = "not-the-secret"
	if err := newS3Store(t, srv, "", wrong).Check(ctx); err == nil || !strings.Contains(err.Error(), "SignatureDoesNotMatch") {
		t.Fatalf("wrong secret: %v, want SignatureDoesNotMatch", err)
	}
	u, _ := url.Parse("s3://no-such-bucket/?region=" + testRegion + "&endpoint=" + url.QueryEscape(srv.URL))
	missing, err := NewS3Store(u, testCreds(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := missing.Check(ctx); err == nil || !strings.Contains(err.Error(), "NoSuchBucket") || !strings.Contains(err.Error(), "no-such-bucket") {
		t.Fatalf("missing bucket: %v, want NoSuchBucket naming the bucket", err)
	}
	s := newS3Store(t, srv, "", testCreds())
	srv.Close()
	if err := s.Check(ctx); err == nil {
		t.Fatal("stopped server: Check passed")
	}
}
