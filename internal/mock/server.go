package mock

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Options configures a mock Server.
type Options struct {
	Logger *slog.Logger     // nil → discard
	Clock  func() time.Time // nil → time.Now; used for created timestamps, not for delays

	// DisableRecording turns off the per-request record (GET /_mock/requests),
	// for benchmarks where the mock must cost as little as possible. Counters
	// stay on: they are a few atomic adds.
	DisableRecording bool
}

// Server is the mock upstream; it implements http.Handler.
type Server struct {
	log      *slog.Logger
	now      func() time.Time
	record   bool
	mux      *http.ServeMux
	faults   faultTable
	counters counters
	rec      recorder
	files    fileStore
	images   imageCache
	ids      atomic.Uint64
	nonce    string
	oauth    oauthState
	vertex   vertexState
}

// New builds a mock with every provider surface routed.
func New(opts Options) *Server {
	s := &Server{
		log:    opts.Logger,
		now:    opts.Clock,
		record: !opts.DisableRecording,
		mux:    http.NewServeMux(),
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	var nb [3]byte
	_, _ = rand.Read(nb[:])
	s.nonce = hex.EncodeToString(nb[:]) // ids stay unique across mock restarts
	s.routes()
	return s
}

func (s *Server) routes() {
	m := s.mux
	// OpenAI.
	m.Handle("POST /v1/chat/completions", s.wrap(provOpenAI, s.chatCompletions))
	m.Handle("POST /v1/completions", s.wrap(provOpenAI, s.completions))
	m.Handle("POST /v1/embeddings", s.wrap(provOpenAI, s.embeddings))
	m.Handle("GET /v1/models", s.wrap(provOpenAI, s.listModels))
	m.Handle("GET /v1/models/{id...}", s.wrap(provOpenAI, s.getModel))
	m.Handle("POST /v1/images/generations", s.wrap(provOpenAI, s.imageGenerations))
	m.Handle("POST /v1/images/edits", s.wrap(provOpenAI, s.imageEdits))
	m.Handle("POST /v1/responses", s.wrap(provOpenAI, s.responses))
	m.Handle("POST /quirks/{quirks}/v1/chat/completions", s.wrap(provOpenAI, s.chatCompletions))
	// Anthropic shares /v1 with OpenAI; /v1/messages* is Anthropic's.
	m.Handle("POST /v1/messages", s.wrap(provAnthropic, s.anthropicMessages))
	m.Handle("POST /v1/messages/count_tokens", s.wrap(provAnthropic, s.anthropicCountTokens))
	// Gemini: "{model}:{action}" is one path segment.
	m.Handle("POST /v1beta/models/{target}", s.wrap(provGemini, s.geminiAction))
	m.Handle("GET /v1beta/models", s.wrap(provGemini, s.geminiListModels))
	m.Handle("GET /v1beta/models/{model}", s.wrap(provGemini, s.geminiGetModel))
	// Azure OpenAI: deployment routes and the v1 surface.
	m.Handle("POST /openai/deployments/{deployment}/{op...}", s.wrap(provAzure, s.azureDeployment))
	m.Handle("POST /openai/v1/chat/completions", s.wrap(provAzure, s.chatCompletions))
	m.Handle("POST /openai/v1/responses", s.wrap(provAzure, s.responses))
	m.Handle("POST /openai/v1/embeddings", s.wrap(provAzure, s.embeddings))
	// AWS Bedrock runtime: Converse and ConverseStream, SigV4-signed.
	m.Handle("POST /model/{model}/{op}", s.wrap(provBedrock, s.bedrockConverse))
	// OAuth2 token endpoint (refresh_token grant); not wrapped, as its
	// credential is a form field rather than a header.
	m.HandleFunc("POST /oauth/token", s.oauthToken)
	m.HandleFunc("POST "+VertexTokenPath, s.vertexToken)
	m.Handle("POST /v1/projects/{project}/locations/{location}/publishers/{publisher}/models/{target}", s.wrap(provVertex, s.vertexModel))
	// Control API.
	m.HandleFunc("GET /_mock/counters", s.handleCounters)
	m.HandleFunc("GET /_mock/requests", s.handleRequests)
	m.HandleFunc("POST /_mock/reset", s.handleReset)
	m.HandleFunc("GET /_mock/faults", s.handleGetFaults)
	m.HandleFunc("PUT /_mock/faults", s.handlePutFault)
	m.HandleFunc("DELETE /_mock/faults", s.handleDeleteFaults)
	m.HandleFunc("GET /_mock/files/{id}", s.handleFile)
	m.HandleFunc("GET /_mock/vertex-key", s.handleVertexKey)
	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, openAIError(http.StatusNotFound, "Unknown request URL: "+r.Method+" "+r.URL.Path, "unknown_url"))
	})
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// SetFault installs a per-credential rule, replacing any earlier one.
func (s *Server) SetFault(credential string, f Fault) { s.faults.set(credential, f) }

// ClearFaults removes every per-credential rule.
func (s *Server) ClearFaults() { s.faults.clear() }

// Counters returns a snapshot of the request counters.
func (s *Server) Counters() Counters { return s.counters.snapshot() }

// Requests returns the credential's recent requests, newest last; "" returns
// every recorded request (all credentials, and those that sent none).
func (s *Server) Requests(credential string) []RecordedRequest {
	return s.rec.list(credential, credential == "")
}

// Reset clears counters, recorded requests, faults and the record of used
// OAuth refresh tokens.
func (s *Server) Reset() {
	s.counters.reset()
	s.rec.reset()
	s.faults.clear()
	s.oauth.reset()
	s.vertex.reset()
}

type provider uint8

const (
	provOpenAI provider = iota
	provAzure
	provAnthropic
	provGemini
	provOAuth // the token endpoint: errors in the RFC 6749 §5.2 shape
	provVertex
	provBedrock // SigV4 auth; errors as {"message"} with x-amzn-ErrorType
)

// call carries one request through the shared pre-processing (auth, body,
// fault) into an endpoint handler.
type call struct {
	s     *Server
	w     *respWriter
	r     *http.Request
	prov  provider
	cred  string
	body  []byte
	form  map[string][]string // multipart text fields
	parts []PartSummary
	fault Fault
	model string // Azure deployment name; overrides the body's model
	// quirks are those of the /quirks/{list}/ route (quirks.go).
	quirks quirks
	done   bool // counted and recorded
}

// finish counts the status and records the request. It runs when the status
// is written — before the client can see the answer, so a test that reads
// counters right after a response finds it there — or, for a connection
// dropped before any status, when the handler ends.
func (c *call) finish() {
	if c.done {
		return
	}
	c.done = true
	c.s.counters.end(c.w.status)
	if c.s.record {
		c.s.recordCall(c)
	}
}

func (c *call) ctx() context.Context { return c.r.Context() }

const maxBodyBytes = 256 << 20 // image edits carry several large files

var bodyPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

func (s *Server) wrap(prov provider, h func(*call)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := &call{s: s, r: r, prov: prov}
		c.w = &respWriter{ResponseWriter: w, c: c}
		c.cred = credential(prov, r)
		if prov == provVertex {
			// An access token stands for the service account it was issued to.
			c.cred = s.vertex.email(c.cred, s.now())
		}
		s.counters.begin(c.cred, r.URL.Path)
		buf := bodyPool.Get().(*bytes.Buffer)
		buf.Reset()
		defer func() {
			// Runs during an abort panic too, so dropped connections are counted.
			c.finish()
			if buf.Cap() <= 1<<20 {
				bodyPool.Put(buf)
			}
		}()
		if prov == provAzure && strings.HasPrefix(r.URL.Path, "/openai/deployments/") && r.URL.Query().Get("api-version") == "" {
			// Azure answers an unversioned deployment URL as an unknown resource.
			c.fail(http.StatusNotFound, "Resource not found")
			return
		}
		c.quirks = parseQuirks(r)
		if c.cred == "" && c.quirks.keyless {
			c.cred = LocalCredential
		}
		if c.cred == "" {
			c.fail(http.StatusUnauthorized, "missing credential")
			return
		}
		if prov == provAnthropic && r.Header.Get("anthropic-version") == "" {
			c.fail(http.StatusBadRequest, "anthropic-version: header is required")
			return
		}
		if !c.readBody(buf) {
			return
		}
		if prov == provBedrock && !c.verifySigV4() {
			return
		}
		f, err := s.resolveFault(c)
		if err != nil {
			c.fail(http.StatusBadRequest, err.Error())
			return
		}
		c.fault = f
		if !c.applyFault() {
			return
		}
		h(c)
	})
}

// readBody loads a JSON body into buf, or streams a multipart body through
// hashes without holding its files.
func (c *call) readBody(buf *bytes.Buffer) bool {
	if c.r.Body == nil || c.r.Method == http.MethodGet {
		return true
	}
	if mt, params, _ := mime.ParseMediaType(c.r.Header.Get("Content-Type")); mt == "multipart/form-data" {
		if err := c.readMultipart(params["boundary"]); err != nil {
			c.fail(http.StatusBadRequest, "read multipart body: "+err.Error())
			return false
		}
		return true
	}
	n, err := buf.ReadFrom(io.LimitReader(c.r.Body, maxBodyBytes+1))
	if err != nil {
		c.fail(http.StatusBadRequest, "read body: "+err.Error())
		return false
	}
	if n > maxBodyBytes {
		c.fail(http.StatusRequestEntityTooLarge, "request body too large")
		return false
	}
	c.body = buf.Bytes()
	return true
}

// resolveFault picks the fault for this request: header, then a directive in
// the body (or multipart fields), then the credential's rule.
func (s *Server) resolveFault(c *call) (Fault, error) {
	if h := c.r.Header.Get("X-Mock-Fault"); h != "" {
		return parseDirective(h)
	}
	if d, ok := findDirective(c.body); ok {
		return parseDirective(d)
	}
	for _, vals := range c.form {
		for _, v := range vals {
			if d, ok := findDirective([]byte(v)); ok {
				return parseDirective(d)
			}
		}
	}
	f, _ := s.faults.take(c.cred)
	return f, nil
}

// applyFault performs the parts of a fault that precede the answer; false
// means the request has been answered (or dropped).
func (c *call) applyFault() bool {
	f := c.fault
	if f.RetryAfter > 0 {
		c.w.Header().Set("Retry-After", strconv.Itoa(f.RetryAfter))
	}
	if f.RetryAfterMS > 0 {
		c.w.Header().Set("retry-after-ms", strconv.Itoa(f.RetryAfterMS))
	}
	if f.Latency > 0 && !sleepCtx(c.ctx(), f.Latency) {
		return false
	}
	if f.Hangup {
		panic(http.ErrAbortHandler)
	}
	if f.Status != 0 && f.Status != http.StatusOK {
		c.s.log.Debug("mock fault", "path", c.r.URL.Path, "status", f.Status)
		c.failCode(f.Status, c.faultMessage("mock fault: status "+strconv.Itoa(f.Status)), f.Code)
		return false
	}
	return true
}

// faultMessage is the fault's Message with {key} and {host} filled in, or
// def when it has none.
func (c *call) faultMessage(def string) string {
	if c.fault.Message == "" {
		return def
	}
	return strings.NewReplacer("{key}", c.cred, "{host}", c.r.Host).Replace(c.fault.Message)
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// credential reads the key where each provider's clients send it.
func credential(prov provider, r *http.Request) string {
	switch prov {
	case provAzure:
		if k := r.Header.Get("api-key"); k != "" {
			return k
		}
	case provAnthropic:
		if k := r.Header.Get("x-api-key"); k != "" {
			return k
		}
	case provBedrock:
		return bedrockAccessKey(r)
	case provGemini:
		if k := r.Header.Get("x-goog-api-key"); k != "" {
			return k
		}
		if k := r.URL.Query().Get("key"); k != "" {
			return k
		}
	}
	if a := r.Header.Get("Authorization"); len(a) > 7 && strings.EqualFold(a[:7], "Bearer ") {
		return strings.TrimSpace(a[7:])
	}
	return ""
}

func (s *Server) recordCall(c *call) {
	rr := RecordedRequest{
		Time:       s.now(),
		Method:     c.r.Method,
		Path:       c.r.URL.Path,
		Query:      c.r.URL.RawQuery,
		Credential: c.cred,
		BodySize:   c.r.ContentLength,
		Parts:      c.parts,
		Status:     c.w.status,
	}
	for _, h := range recordedHeaders {
		if v := c.r.Header.Get(h); v != "" {
			if rr.Headers == nil {
				rr.Headers = make(map[string]string, 4)
			}
			rr.Headers[strings.ToLower(h)] = v
		}
	}
	if c.body != nil {
		rr.BodySize = int64(len(c.body))
		b := c.body
		if len(b) > recordBodyCap {
			b, rr.Truncated = b[:recordBodyCap], true
		}
		rr.Body = string(b) // copies: the buffer goes back to the pool
	}
	s.rec.add(rr)
}

func (s *Server) newID(prefix string) string {
	return prefix + s.nonce + strconv.FormatUint(s.ids.Add(1), 36)
}

// respWriter remembers the status for counters and records; Unwrap lets
// http.ResponseController reach the connection for flushes.
type respWriter struct {
	http.ResponseWriter
	c      *call
	status int
}

func (w *respWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
		w.c.finish()
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *respWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

func (w *respWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *respWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// decode reads the JSON body into v; on failure it answers 400 and returns false.
func (c *call) decode(v any) bool {
	if len(c.body) == 0 {
		c.fail(http.StatusBadRequest, "request body is empty; expected JSON")
		return false
	}
	if err := json.Unmarshal(c.body, v); err != nil {
		c.fail(http.StatusBadRequest, "invalid JSON body: "+err.Error())
		return false
	}
	return true
}

// reply writes a successful JSON answer, honouring malformed and drop_after.
func (c *call) reply(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		c.s.log.Error("mock encode reply", "path", c.r.URL.Path, "err", err)
		c.fail(http.StatusInternalServerError, "encode reply")
		return
	}
	h := c.w.Header()
	h.Set("Content-Type", "application/json")
	switch {
	case c.fault.Malformed:
		b = b[:len(b)/2] // a 200 whose JSON ends mid-value
		h.Set("Content-Length", strconv.Itoa(len(b)))
		c.w.WriteHeader(http.StatusOK)
		_, _ = c.w.Write(b)
	case c.fault.DropAfter > 0:
		// Promise the whole body, deliver half, then cut the connection: the
		// client sees an unexpected EOF.
		h.Set("Content-Length", strconv.Itoa(len(b)))
		c.w.WriteHeader(http.StatusOK)
		_, _ = c.w.Write(b[:len(b)/2])
		c.w.Flush()
		panic(http.ErrAbortHandler)
	default:
		h.Set("Content-Length", strconv.Itoa(len(b)))
		c.w.WriteHeader(http.StatusOK)
		_, _ = c.w.Write(b)
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "encode: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

var errClientGone = errors.New("client gone")
