// Package consoletest serves console routes over a real socket for tests,
// with callers chosen by the test (fake sessions and tokens), and checks
// every answer a test receives against the console's OpenAPI document: a
// status, content type or body the document does not describe fails the
// test.
package consoletest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/switchyard/switchyard/internal/api"
	"github.com/switchyard/switchyard/internal/api/console"
)

// Server is a console API under test.
type Server struct {
	T   testing.TB
	URL string
	API *console.API

	doc  *openapi3.T
	mu   sync.Mutex
	who  map[string]*console.Principal // session cookie or bearer token → caller
	logs []console.AuditEntry
	next int
}

// Option changes the API's options before it is built.
type Option func(*setup)

type setup struct {
	opts  console.Options
	extra [][]byte
}

// WithNow sets the API's clock.
func WithNow(now func() time.Time) Option { return func(s *setup) { s.opts.Now = now } }

// WithAuditor replaces the recording auditor (Server.Audits then sees nothing).
func WithAuditor(a console.Auditor) Option { return func(s *setup) { s.opts.Auditor = a } }

// WithPublicURL sets the console's public URL (default http://console.test).
func WithPublicURL(u string) Option { return func(s *setup) { s.opts.PublicURL = u } }

// WithFragment adds an OpenAPI fragment (YAML) to the document the
// answers are checked against, for routes that exist only in a test.
func WithFragment(yaml string) Option {
	return func(s *setup) { s.extra = append(s.extra, []byte(yaml)) }
}

// WithAuth replaces the fake authenticator with a real one; As then only
// works for principals the real one knows how to resolve.
func WithAuth(a console.Authenticator) Option { return func(s *setup) { s.opts.Auth = a } }

// New builds an API with the routes mount adds, serves it on a loopback
// socket for the test's lifetime, and checks that every route is in the
// document.
func New(t testing.TB, mount func(a *console.API), opts ...Option) *Server {
	t.Helper()
	s := &Server{T: t, who: map[string]*console.Principal{}}
	st := setup{opts: console.Options{Auth: s, Auditor: s, PublicURL: "http://console.test"}}
	for _, opt := range opts {
		opt(&st)
	}
	s.API = console.New(st.opts)
	mount(s.API)
	rt := api.New(api.Options{})
	s.API.Mount(rt)
	hs := httptest.NewServer(rt.Handler())
	t.Cleanup(hs.Close)
	s.URL = hs.URL

	raw, err := console.DocumentWith(st.extra...)
	if err != nil {
		t.Fatalf("assemble the OpenAPI document: %v", err)
	}
	loader := openapi3.NewLoader()
	s.doc, err = loader.LoadFromData(raw)
	if err != nil {
		t.Fatalf("load the OpenAPI document: %v", err)
	}
	ops, err := console.Operations(raw)
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, op := range ops {
		have[op] = true
	}
	for _, r := range s.API.Routes() {
		if !have[r.Method+" "+r.Path] {
			t.Errorf("route %s %s is not in the OpenAPI document (internal/api/console/openapi/*.yaml)", r.Method, r.Path)
		}
	}
	return s
}

// Authenticate is the fake authenticator: the sy_session cookie or the
// bearer token names a principal registered by As.
func (s *Server) Authenticate(r *http.Request) (*console.Principal, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, err := r.Cookie("sy_session"); err == nil {
		if p := s.who["cookie:"+c.Value]; p != nil {
			cp := *p
			return &cp, nil
		}
		return nil, fmt.Errorf("unknown session")
	}
	if tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		if p := s.who["bearer:"+tok]; p != nil {
			cp := *p
			return &cp, nil
		}
		return nil, fmt.Errorf("unknown token")
	}
	return nil, nil
}

// Record keeps audit entries for Audits.
func (s *Server) Record(_ context.Context, e console.AuditEntry) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.logs = append(s.logs, e)
	return nil
}

// Audits returns the audit entries recorded so far.
func (s *Server) Audits() []console.AuditEntry {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]console.AuditEntry(nil), s.logs...)
}

// As returns a client calling as p: with a session cookie (and a same-origin
// Origin) when p.Via is ViaSession or empty, with a bearer token when it is
// ViaToken.
func (s *Server) As(p *console.Principal) *Client {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.next++
	cp := *p
	c := &Client{s: s, header: http.Header{}}
	if cp.Via == console.ViaToken {
		tok := fmt.Sprintf("sy-admin-test%d", s.next)
		s.who["bearer:"+tok] = &cp
		c.header.Set("Authorization", "Bearer "+tok)
		return c
	}
	cp.Via = console.ViaSession
	if cp.SessionID == "" {
		cp.SessionID = fmt.Sprintf("session-%d", s.next)
	}
	val := fmt.Sprintf("test-session-%d", s.next)
	s.who["cookie:"+val] = &cp
	c.header.Set("Cookie", "sy_session="+val)
	c.header.Set("Origin", "http://console.test")
	return c
}

// Admin is user 1, an admin with a session stepped up just now.
func (s *Server) Admin() *Client {
	return s.As(&console.Principal{UserID: 1, Email: "admin@example.com", Role: console.RoleAdmin, StepUpAt: time.Now()})
}

// User is user 2, a user with a session.
func (s *Server) User() *Client {
	return s.As(&console.Principal{UserID: 2, Email: "user@example.com", Role: console.RoleUser})
}

// Anon sends no credentials.
func (s *Server) Anon() *Client { return &Client{s: s, header: http.Header{}} }

// Client sends requests as one caller.
type Client struct {
	s      *Server
	header http.Header
}

// With returns a copy of c that also sends the header k: v (an empty v
// removes it).
func (c *Client) With(k, v string) *Client {
	cp := &Client{s: c.s, header: c.header.Clone()}
	if v == "" {
		cp.header.Del(k)
	} else {
		cp.header.Set(k, v)
	}
	return cp
}

// Header is a header the client sends.
func (c *Client) Header(k string) string { return c.header.Get(k) }

// Resp is an answer.
type Resp struct {
	Status int
	Header http.Header
	Body   []byte
	// JSON is the body decoded when it is a JSON object, else nil.
	JSON map[string]any
}

// Decode decodes the body into v, failing the test when it cannot.
func (r *Resp) Decode(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("decode %s: %v", r.Body, err)
	}
}

// ErrorCode is error.code of an error answer, "" otherwise.
func (r *Resp) ErrorCode() string { return r.errMember("code") }

// ErrorField is error.field of an error answer, "" otherwise.
func (r *Resp) ErrorField() string { return r.errMember("field") }

func (r *Resp) errMember(name string) string {
	e, _ := r.JSON["error"].(map[string]any)
	s, _ := e[name].(string)
	return s
}

// Expect fails the test unless the answer has the status.
func (r *Resp) Expect(t testing.TB, status int) *Resp {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status %d, want %d: %s", r.Status, status, r.Body)
	}
	return r
}

// ExpectError fails the test unless the answer is an error with the status,
// code and (when field is not "") field.
func (r *Resp) ExpectError(t testing.TB, status int, code, field string) *Resp {
	t.Helper()
	if r.Status != status || r.ErrorCode() != code || (field != "" && r.ErrorField() != field) {
		t.Fatalf("got %d %s field %q, want %d %s field %q: %s", r.Status, r.ErrorCode(), r.ErrorField(),
			status, code, field, r.Body)
	}
	return r
}

// Do sends a request; body is nil (none), a string or []byte (sent as it
// is, as JSON), or any other value (encoded as JSON). The answer is checked
// against the OpenAPI document.
func (c *Client) Do(method, path string, body any) *Resp {
	c.s.T.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			c.s.T.Fatalf("encode the request body: %v", err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, c.s.URL+path, rd)
	if err != nil {
		c.s.T.Fatal(err)
	}
	for k, v := range c.header {
		req.Header[k] = v
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return c.s.Send(req)
}

// Send sends a prepared request (for bodies that are not JSON) and checks
// the answer against the document.
func (s *Server) Send(req *http.Request) *Resp {
	s.T.Helper()
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		s.T.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		s.T.Fatalf("%s %s: read the answer: %v", req.Method, req.URL.Path, err)
	}
	r := &Resp{Status: res.StatusCode, Header: res.Header, Body: b}
	var obj map[string]any
	if json.Unmarshal(b, &obj) == nil {
		r.JSON = obj
	}
	// The escaped path: a path value may hold an escaped "/" (a model
	// name such as openai%2Fgpt-4o), which is one segment, as ServeMux
	// matches it.
	if err := s.Check(req.Method, req.URL.EscapedPath(), r); err != nil {
		s.T.Errorf("%s %s → %d does not match the OpenAPI document: %v\nbody: %.1000s", req.Method, req.URL.Path, r.Status, err, b)
	}
	return r
}

// Check validates an answer against the document's operation for method
// and path.
func (s *Server) Check(method, path string, r *Resp) error {
	return Check(s.doc, method, path, r)
}

// Check validates an answer against doc's operation for method and path.
func Check(doc *openapi3.T, method, path string, r *Resp) error {
	tmpl, item := findPath(doc, path)
	if item == nil {
		if r.Status == http.StatusNotFound || r.Status == http.StatusMethodNotAllowed {
			return nil // an unknown route is answered by the catch-all
		}
		return fmt.Errorf("no path in the document matches %s", path)
	}
	op := item.GetOperation(method)
	if op == nil {
		if r.Status == http.StatusMethodNotAllowed || r.Status == http.StatusNotFound {
			return nil
		}
		return fmt.Errorf("%s has no %s operation", tmpl, method)
	}
	ref := op.Responses.Status(r.Status)
	if ref == nil {
		ref = op.Responses.Default()
	}
	if ref == nil || ref.Value == nil {
		return fmt.Errorf("%s %s does not describe status %d", method, tmpl, r.Status)
	}
	resp := ref.Value
	if len(resp.Content) == 0 {
		if len(r.Body) != 0 {
			return fmt.Errorf("%s %s %d is described without a body, but one came", method, tmpl, r.Status)
		}
		return nil
	}
	ct := r.Header.Get("Content-Type")
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return fmt.Errorf("content type %q: %v", ct, err)
	}
	media := resp.Content.Get(mt)
	if media == nil {
		return fmt.Errorf("%s %s %d: content type %s is not described", method, tmpl, r.Status, mt)
	}
	if mt != "application/json" || media.Schema == nil || media.Schema.Value == nil {
		return nil
	}
	var v any
	if err := json.Unmarshal(r.Body, &v); err != nil {
		return fmt.Errorf("the body is not JSON: %v", err)
	}
	if err := media.Schema.Value.VisitJSON(v, openapi3.MultiErrors(), openapi3.EnableJSONSchema2020()); err != nil {
		return fmt.Errorf("%s %s %d: %v", method, tmpl, r.Status, err)
	}
	return nil
}

// findPath matches a request path to a document path template.
func findPath(doc *openapi3.T, path string) (string, *openapi3.PathItem) {
	segs := strings.Split(strings.Trim(path, "/"), "/")
	var bestT string
	var best *openapi3.PathItem
	bestLiteral := -1
	for tmpl, item := range doc.Paths.Map() {
		ts := strings.Split(strings.Trim(tmpl, "/"), "/")
		if len(ts) != len(segs) {
			continue
		}
		literal, ok := 0, true
		for i, t := range ts {
			if strings.HasPrefix(t, "{") && strings.HasSuffix(t, "}") {
				continue
			}
			if t != segs[i] {
				ok = false
				break
			}
			literal++
		}
		// The most literal match wins, as in ServeMux: /users/me over /users/{id}.
		if ok && literal > bestLiteral {
			bestT, best, bestLiteral = tmpl, item, literal
		}
	}
	return bestT, best
}
