// Package sigv4 signs HTTP requests with AWS Signature Version 4 and
// verifies such signatures (for the mock upstream). It is the one signer of
// the project: S3 image storage and Bedrock channels both use it.
//
// The standard library is enough for the algorithm; an AWS SDK would bring
// a large dependency tree for a few hashes.
package sigv4

import (
	"cmp"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"
)

// EmptySHA256 is the hex SHA-256 of an empty payload.
const EmptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

// UnsignedPayload is the payload hash S3 accepts for a streamed body.
const UnsignedPayload = "UNSIGNED-PAYLOAD"

const (
	algorithm  = "AWS4-HMAC-SHA256"
	dateFormat = "20060102T150405Z"
)

// Credentials are an AWS access key pair with an optional session token.
type Credentials struct {
	AccessKeyID     string
	SecretAccessKey string
	// SessionToken is sent as x-amz-security-token when set (temporary
	// credentials from STS).
	SessionToken string
}

// String keeps the secret out of %v and %+v.
func (c Credentials) String() string {
	return "Credentials{AccessKeyID: " + c.AccessKeyID + ", SecretAccessKey: <redacted>}"
}

// GoString keeps the secret out of %#v.
func (c Credentials) GoString() string { return c.String() }

// Signer signs for one service in one region.
type Signer struct {
	Service string // "s3", "bedrock", …
	Region  string
	// S3 selects S3's variant: the path is encoded once rather than twice
	// and x-amz-content-sha256 is sent, as S3 requires it.
	S3 bool
}

// Sign adds x-amz-date, x-amz-security-token (with a session token),
// x-amz-content-sha256 (S3 only) and an Authorization header to req, as of
// t. payloadHash is the hex SHA-256 of the body (or UnsignedPayload for S3).
// Signed are host, content-type, content-md5, range and every x-amz-*
// header. The time is a parameter so the published examples can be checked.
func (s Signer) Sign(req *http.Request, c Credentials, payloadHash string, t time.Time) {
	amzDate := t.UTC().Format(dateFormat)
	req.Header.Set("X-Amz-Date", amzDate)
	if s.S3 {
		req.Header.Set("X-Amz-Content-Sha256", payloadHash)
	}
	if c.SessionToken != "" {
		req.Header.Set("X-Amz-Security-Token", c.SessionToken)
	}
	canonical, signed := s.CanonicalRequest(req, payloadHash, nil)
	scope := amzDate[:8] + "/" + s.Region + "/" + s.Service + "/aws4_request"
	sig := s.signature(c.SecretAccessKey, amzDate, scope, canonical)
	req.Header.Set("Authorization", algorithm+" Credential="+c.AccessKeyID+"/"+scope+
		",SignedHeaders="+signed+",Signature="+sig)
}

func (s Signer) signature(secret, amzDate, scope, canonical string) string {
	h := sha256.Sum256([]byte(canonical))
	stringToSign := algorithm + "\n" + amzDate + "\n" + scope + "\n" + hex.EncodeToString(h[:])
	key := mac([]byte("AWS4"+secret), amzDate[:8])
	key = mac(key, s.Region)
	key = mac(key, s.Service)
	key = mac(key, "aws4_request")
	return hex.EncodeToString(mac(key, stringToSign))
}

// CanonicalRequest returns the canonical request of req and its signed
// header list. With only nil, the headers are chosen as Sign chooses them;
// a verifier passes the list the client signed.
func (s Signer) CanonicalRequest(req *http.Request, payloadHash string, only []string) (canonical, signedHeaders string) {
	host := req.Host
	if host == "" {
		host = req.URL.Host
	}
	headers := map[string]string{}
	want := func(n string) bool {
		if only == nil {
			return n == "host" || n == "content-type" || n == "content-md5" || n == "range" || strings.HasPrefix(n, "x-amz-")
		}
		for _, o := range only {
			if o == n {
				return true
			}
		}
		return false
	}
	if want("host") {
		headers["host"] = host
	}
	for name, vals := range req.Header {
		lname := strings.ToLower(name)
		if lname == "host" || !want(lname) {
			continue
		}
		trimmed := make([]string, len(vals))
		for i, v := range vals {
			trimmed[i] = strings.Join(strings.Fields(v), " ")
		}
		headers[lname] = strings.Join(trimmed, ",")
	}
	names := make([]string, 0, len(headers))
	for n := range headers {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteString(req.Method + "\n")
	// Services other than S3 encode the already-encoded path a second
	// time: a Bedrock model id's ':' travels as %3A and is signed as %253A.
	if s.S3 {
		b.WriteString(URIEncode(req.URL.Path, false) + "\n")
	} else {
		b.WriteString(URIEncode(cmp.Or(req.URL.EscapedPath(), "/"), false) + "\n")
	}
	b.WriteString(CanonicalQuery(req.URL.Query()) + "\n")
	for _, n := range names {
		b.WriteString(n + ":" + headers[n] + "\n")
	}
	signedHeaders = strings.Join(names, ";")
	b.WriteString("\n" + signedHeaders + "\n" + payloadHash)
	return b.String(), signedHeaders
}

// CanonicalQuery sorts by encoded name, then value; sorting "name=value"
// strings would put "a-b" before "a".
func CanonicalQuery(q url.Values) string {
	var pairs [][2]string
	for k, vs := range q {
		for _, v := range vs {
			pairs = append(pairs, [2]string{URIEncode(k, true), URIEncode(v, true)})
		}
	}
	sort.Slice(pairs, func(i, j int) bool {
		if pairs[i][0] != pairs[j][0] {
			return pairs[i][0] < pairs[j][0]
		}
		return pairs[i][1] < pairs[j][1]
	})
	var b strings.Builder
	for i, p := range pairs {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(p[0] + "=" + p[1])
	}
	return b.String()
}

// URIEncode is SigV4's UriEncode: every byte but A-Z a-z 0-9 - . _ ~ is
// %XX (upper-case hex); '/' too when encodeSlash, as in query strings.
func URIEncode(s string, encodeSlash bool) string {
	const hexdig = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' ||
			c == '-' || c == '.' || c == '_' || c == '~' || c == '/' && !encodeSlash {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexdig[c>>4])
		b.WriteByte(hexdig[c&15])
	}
	return b.String()
}

// PayloadHash is the hex SHA-256 of body.
func PayloadHash(body []byte) string {
	h := sha256.Sum256(body)
	return hex.EncodeToString(h[:])
}

func mac(key []byte, msg string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}

// Errors of Verify, named after the AWS error codes a client would see.
var (
	ErrMissingAuth       = errors.New("MissingAuthenticationToken")
	ErrUnknownAccessKey  = errors.New("UnrecognizedClientException")
	ErrSignatureMismatch = errors.New("SignatureDoesNotMatch")
	ErrExpired           = errors.New("request signature expired")
)

// Verify checks req's Authorization header as the service s would, with
// body as the payload; a Signer without a Region accepts any region (a mock
// that stands in for every region). lookup finds the secret of an access
// key id. A
// signature more than 15 minutes from now is refused, as AWS does.
func (s Signer) Verify(req *http.Request, body []byte, lookup func(accessKeyID string) (Credentials, bool), now time.Time) error {
	auth := req.Header.Get("Authorization")
	rest, ok := strings.CutPrefix(auth, algorithm+" ")
	if !ok {
		return ErrMissingAuth
	}
	fields := map[string]string{}
	for _, f := range strings.Split(rest, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(f), "=")
		fields[k] = v
	}
	cred := strings.Split(fields["Credential"], "/")
	if len(cred) != 5 || cred[4] != "aws4_request" {
		return fmt.Errorf("%w: malformed credential scope", ErrMissingAuth)
	}
	c, ok := lookup(cred[0])
	if !ok {
		return ErrUnknownAccessKey
	}
	if c.SessionToken != "" && req.Header.Get("X-Amz-Security-Token") != c.SessionToken {
		return fmt.Errorf("%w: session token", ErrUnknownAccessKey)
	}
	amzDate := req.Header.Get("X-Amz-Date")
	t, err := time.Parse(dateFormat, amzDate)
	if err != nil || cred[1] != amzDate[:8] || (s.Region != "" && cred[2] != s.Region) || cred[3] != s.Service {
		return fmt.Errorf("%w: credential scope", ErrSignatureMismatch)
	}
	s.Region = cred[2] // a verifier without a region takes the one signed
	if d := now.Sub(t); d > 15*time.Minute || d < -15*time.Minute {
		return ErrExpired
	}
	only := strings.Split(fields["SignedHeaders"], ";")
	canonical, _ := s.CanonicalRequest(req, PayloadHash(body), only)
	want := s.signature(c.SecretAccessKey, amzDate, strings.Join(cred[1:], "/"), canonical)
	if !hmac.Equal([]byte(want), []byte(fields["Signature"])) {
		return ErrSignatureMismatch
	}
	return nil
}

// Key is c as one credential string, "ACCESS_KEY_ID:SECRET_ACCESS_KEY" or
// "ACCESS_KEY_ID:SECRET_ACCESS_KEY:SESSION_TOKEN", the form in which a
// credential pool that keeps one secret per credential stores it (AWS key
// ids, secrets and session tokens never contain ':').
func (c Credentials) Key() string {
	k := c.AccessKeyID + ":" + c.SecretAccessKey
	if c.SessionToken != "" {
		k += ":" + c.SessionToken
	}
	return k
}

// ErrKeyFormat is returned by ParseKey for a string not in Key's form.
var ErrKeyFormat = errors.New("not ACCESS_KEY_ID:SECRET_ACCESS_KEY[:SESSION_TOKEN]")

// ParseKey reverses Credentials.Key. Its error never includes s.
func ParseKey(s string) (Credentials, error) {
	parts := strings.Split(s, ":")
	if len(parts) < 2 || len(parts) > 3 {
		return Credentials{}, ErrKeyFormat
	}
	c := Credentials{AccessKeyID: parts[0], SecretAccessKey: parts[1]}
	if len(parts) == 3 {
		c.SessionToken = parts[2]
		if c.SessionToken == "" {
			return Credentials{}, ErrKeyFormat
		}
	}
	if c.AccessKeyID == "" || c.SecretAccessKey == "" || strings.ContainsAny(s, " \t\r\n") {
		return Credentials{}, ErrKeyFormat
	}
	return c, nil
}
