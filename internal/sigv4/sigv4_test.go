package sigv4

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// The AWS SigV4 test suite's credentials and time.
var (
	suiteCreds = Credentials{AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"}
	suiteTime  = time.Date(2015, 8, 30, 12, 36, 0, 0, time.UTC)
	suite      = Signer{Service: "service", Region: "us-east-1"}
)

// TestSuiteVectors checks the signer against cases of the AWS Signature
// Version 4 test suite (get-vanilla, post-vanilla,
// get-vanilla-empty-query-key): service "service", us-east-1, 20150830T123600Z.
func TestSuiteVectors(t *testing.T) {
	cases := []struct {
		name, method, url, wantCanon, wantSig string
	}{
		{"get-vanilla", "GET", "https://example.amazonaws.com/",
			"GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n" + EmptySHA256,
			"5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"},
		{"post-vanilla", "POST", "https://example.amazonaws.com/",
			"POST\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n" + EmptySHA256,
			"5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"},
		{"get-vanilla-empty-query-key", "GET", "https://example.amazonaws.com/?Param1=value1",
			"GET\n/\nParam1=value1\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n" + EmptySHA256,
			"a67d582fa61cc504c4bae71f336f98b97f1ea3c7a6bfe1b6e45aec72011b9aeb"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req, err := http.NewRequest(c.method, c.url, nil)
			if err != nil {
				t.Fatal(err)
			}
			suite.Sign(req, suiteCreds, EmptySHA256, suiteTime)
			if canon, _ := suite.CanonicalRequest(req, EmptySHA256, nil); canon != c.wantCanon {
				t.Errorf("canonical request:\n%s\nwant:\n%s", canon, c.wantCanon)
			}
			want := "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request," +
				"SignedHeaders=host;x-amz-date,Signature=" + c.wantSig
			if got := req.Header.Get("Authorization"); got != want {
				t.Errorf("Authorization:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

// TestS3Example is the "GET Object" example of the S3 SigV4 documentation.
func TestS3Example(t *testing.T) {
	req, _ := http.NewRequest(http.MethodGet, "https://examplebucket.s3.amazonaws.com/test.txt", nil)
	req.Header.Set("Range", "bytes=0-9")
	s := Signer{Service: "s3", Region: "us-east-1", S3: true}
	s.Sign(req, Credentials{AccessKeyID: "AKIAIOSFODNN7EXAMPLE", SecretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"},
		EmptySHA256, time.Date(2013, 5, 24, 0, 0, 0, 0, time.UTC))
	if got := req.Header.Get("Authorization"); !strings.HasSuffix(got, "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41") {
		t.Errorf("Authorization = %s", got)
	}
}

func TestEncoding(t *testing.T) {
	if got := URIEncode("/a b/ü~-._*", false); got != "/a%20b/%C3%BC~-._%2A" {
		t.Errorf("URIEncode path = %s", got)
	}
	q := url.Values{"a-b": {"2"}, "a": {"z", "y/x"}}
	if got := CanonicalQuery(q); got != "a=y%2Fx&a=z&a-b=2" {
		t.Errorf("CanonicalQuery = %s", got)
	}
}

// TestDoubleEncodedPath: outside S3 the escaped path is encoded again, so a
// model id's %3A is signed as %253A.
func TestDoubleEncodedPath(t *testing.T) {
	req, _ := http.NewRequest("POST", "https://bedrock-runtime.us-east-1.amazonaws.com/model/a.b-v1%3A0/converse", nil)
	canon, _ := Signer{Service: "bedrock", Region: "us-east-1"}.CanonicalRequest(req, EmptySHA256, nil)
	if !strings.HasPrefix(canon, "POST\n/model/a.b-v1%253A0/converse\n") {
		t.Errorf("canonical request:\n%s", canon)
	}
}

func TestVerify(t *testing.T) {
	s := Signer{Service: "bedrock", Region: "eu-west-1"}
	creds := Credentials{AccessKeyID: "AKIDTEST", SecretAccessKey: "secret", SessionToken: "tok"}
	lookup := func(id string) (Credentials, bool) { return creds, id == creds.AccessKeyID }
	body := []byte(`{"messages":[]}`)
	sign := func(c Credentials, b []byte) *http.Request {
		req, _ := http.NewRequest("POST", "https://h.example/model/m%3A1/converse", nil)
		req.Header.Set("Content-Type", "application/json")
		s.Sign(req, c, PayloadHash(b), suiteTime)
		return req
	}
	if err := s.Verify(sign(creds, body), body, lookup, suiteTime.Add(time.Minute)); err != nil {
		t.Fatalf("Verify of a good signature: %v", err)
	}
	cases := []struct {
		name string
		req  *http.Request
		body []byte
		now  time.Time
		want error
	}{
		{"other body", sign(creds, body), []byte(`{}`), suiteTime, ErrSignatureMismatch},
		{"wrong secret", sign(Credentials{AccessKeyID: "AKIDTEST", SecretAccessKey: "x", SessionToken: "tok"}, body), body, suiteTime, ErrSignatureMismatch},
		{"unknown key", sign(Credentials{AccessKeyID: "AKIDOTHER", SecretAccessKey: "secret"}, body), body, suiteTime, ErrUnknownAccessKey},
		{"no token", sign(Credentials{AccessKeyID: "AKIDTEST", SecretAccessKey: "secret"}, body), body, suiteTime, ErrUnknownAccessKey},
		{"stale", sign(creds, body), body, suiteTime.Add(time.Hour), ErrExpired},
		{"unsigned", func() *http.Request { r, _ := http.NewRequest("POST", "https://h.example/", nil); return r }(), body, suiteTime, ErrMissingAuth},
	}
	for _, c := range cases {
		if err := s.Verify(c.req, c.body, lookup, c.now); !errors.Is(err, c.want) {
			t.Errorf("%s: Verify = %v, want %v", c.name, err, c.want)
		}
	}
}

func TestKey(t *testing.T) {
	for _, c := range []Credentials{{AccessKeyID: "AKID", SecretAccessKey: "s/e+c"}, {AccessKeyID: "ASIA", SecretAccessKey: "s", SessionToken: "t=="}} {
		got, err := ParseKey(c.Key())
		if err != nil || got != c {
			t.Errorf("ParseKey(Key()) = %v, %v; want %v", got, err, c)
		}
	}
	for _, bad := range []string{"", "AKID", "AKID:", ":s", "a:b:", "a:b:c:d", "a:b c"} {
		if _, err := ParseKey(bad); err == nil {
			t.Errorf("ParseKey(%q) accepted", bad)
		}
	}
}
