package mock

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Fault describes how the mock misbehaves (or shapes its answer) for one
// request. The zero value is a normal, successful answer. The same struct is
// set per credential with SetFault / PUT /_mock/faults, or per request with
// the X-Mock-Fault header or a [[mock key=value …]] directive in prompt text.
type Fault struct {
	Status       int           // answer with this HTTP status and the provider's error shape (200 = normal)
	RetryAfter   int           // seconds, sent as Retry-After
	RetryAfterMS int           // milliseconds, sent as retry-after-ms
	Latency      time.Duration // delay before the first byte
	ChunkDelay   time.Duration // delay between stream events
	Chunks       int           // stream chunks / reply pieces (default 8)
	DropAfter    int           // stream: abort the connection after N events; non-stream: after half the body (0 = off)
	Hangup       bool          // abort the connection before any response byte (after Latency)
	Malformed    bool          // non-stream: truncated JSON with 200; stream: one corrupt data line
	Times        int           // per-credential rules only: apply to the next N requests it governs (a per-request fault overrides without using one), then expire; 0 = until cleared
	ImageBytes   int           // pad generated images to about this many bytes
	// ImagesDelivered answers only this many of the n images asked for
	// (0 = all), as an upstream that fails some of a batch does.
	ImagesDelivered int
	// ImageURLs answers image URLs (on /_mock/files) even when base64
	// was asked, as some OpenAI-compatible image servers always do.
	ImageURLs bool
	LineBytes int // one stream chunk carries this many content bytes (long SSE lines)

	// Usage shaping, for billing tests: report this many prompt tokens as
	// cache reads / cache writes in each provider's usage fields.
	CachedTokens     int
	CacheWriteTokens int
	// NoUsage omits usage from OpenAI chat/completions/Responses answers,
	// as some OpenAI-compatible servers do, to exercise token counting.
	NoUsage bool

	// Tool makes a request that declares tools call this one of them
	// instead of the first, as an agent's prompt steers a real model among
	// dozens of declared tools. ToolArg ("key:value") sets one string
	// argument of the call over the ones synthesised from its schema.
	Tool    string
	ToolArg string
	// Message replaces the error message of a Status fault; "{key}" in it
	// becomes the credential the request carried and "{host}" the Host it
	// was sent to, as real upstreams quote both. In a directive the value
	// is URL-encoded (message=Incorrect+key+{key}).
	Message string
	// Code sets the error code of a Status fault where the provider's
	// shape has one (OpenAI, Azure), e.g. invalid_api_key.
	Code string
	// ErrorAfter sends, after N stream events, an error event in the
	// provider's stream shape (OpenAI chat {"error":…}, Responses and
	// Anthropic "event: error") carrying Message, then drops the
	// connection, as an upstream that fails mid-stream does.
	ErrorAfter int
}

// faultJSON is the wire form of Fault: snake_case names and Go duration
// strings ("200ms"), so the control API and directives read the same.
type faultJSON struct {
	Status           int    `json:"status,omitempty"`
	RetryAfter       int    `json:"retry_after,omitempty"`
	RetryAfterMS     int    `json:"retry_after_ms,omitempty"`
	Latency          string `json:"latency,omitempty"`
	ChunkDelay       string `json:"chunk_delay,omitempty"`
	Chunks           int    `json:"chunks,omitempty"`
	DropAfter        int    `json:"drop_after,omitempty"`
	Hangup           bool   `json:"hangup,omitempty"`
	Malformed        bool   `json:"malformed,omitempty"`
	Times            int    `json:"times,omitempty"`
	ImageBytes       int    `json:"image_bytes,omitempty"`
	ImagesDelivered  int    `json:"images_delivered,omitempty"`
	ImageURLs        bool   `json:"image_urls,omitempty"`
	LineBytes        int    `json:"line_bytes,omitempty"`
	CachedTokens     int    `json:"cached_tokens,omitempty"`
	CacheWriteTokens int    `json:"cache_write_tokens,omitempty"`
	NoUsage          bool   `json:"no_usage,omitempty"`
	Tool             string `json:"tool,omitempty"`
	ToolArg          string `json:"tool_arg,omitempty"`
	Message          string `json:"message,omitempty"`
	Code             string `json:"error_code,omitempty"`
	ErrorAfter       int    `json:"error_after,omitempty"`
}

// MarshalJSON writes the snake_case wire form with duration strings.
func (f Fault) MarshalJSON() ([]byte, error) {
	j := faultJSON{
		Status: f.Status, RetryAfter: f.RetryAfter, RetryAfterMS: f.RetryAfterMS,
		Chunks: f.Chunks, DropAfter: f.DropAfter, Hangup: f.Hangup, Malformed: f.Malformed,
		Times: f.Times, ImageBytes: f.ImageBytes, ImagesDelivered: f.ImagesDelivered, ImageURLs: f.ImageURLs, LineBytes: f.LineBytes,
		CachedTokens: f.CachedTokens, CacheWriteTokens: f.CacheWriteTokens, NoUsage: f.NoUsage,
		Tool: f.Tool, ToolArg: f.ToolArg,
		Message: f.Message, Code: f.Code, ErrorAfter: f.ErrorAfter,
	}
	if f.Latency > 0 {
		j.Latency = f.Latency.String()
	}
	if f.ChunkDelay > 0 {
		j.ChunkDelay = f.ChunkDelay.String()
	}
	return json.Marshal(j)
}

// UnmarshalJSON reads the wire form and validates it like a directive.
func (f *Fault) UnmarshalJSON(b []byte) error {
	var j faultJSON
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields() // a misspelt field must not silently mean "no fault"
	if err := dec.Decode(&j); err != nil {
		return fmt.Errorf("decode fault: %w", err)
	}
	out := Fault{
		Status: j.Status, RetryAfter: j.RetryAfter, RetryAfterMS: j.RetryAfterMS,
		Chunks: j.Chunks, DropAfter: j.DropAfter, Hangup: j.Hangup, Malformed: j.Malformed,
		Times: j.Times, ImageBytes: j.ImageBytes, ImagesDelivered: j.ImagesDelivered, ImageURLs: j.ImageURLs, LineBytes: j.LineBytes,
		CachedTokens: j.CachedTokens, CacheWriteTokens: j.CacheWriteTokens, NoUsage: j.NoUsage,
		Tool: j.Tool, ToolArg: j.ToolArg,
		Message: j.Message, Code: j.Code, ErrorAfter: j.ErrorAfter,
	}
	var err error
	if j.Latency != "" {
		if out.Latency, err = parseDuration("latency", j.Latency); err != nil {
			return err
		}
	}
	if j.ChunkDelay != "" {
		if out.ChunkDelay, err = parseDuration("chunk_delay", j.ChunkDelay); err != nil {
			return err
		}
	}
	if err := out.validate(); err != nil {
		return err
	}
	*f = out
	return nil
}

func (f Fault) validate() error {
	switch {
	case f.Status != 0 && (f.Status < 100 || f.Status > 599):
		return fmt.Errorf("status %d out of range 100-599", f.Status)
	case f.RetryAfter < 0, f.RetryAfterMS < 0, f.Chunks < 0, f.DropAfter < 0, f.Times < 0,
		f.ImageBytes < 0, f.ImagesDelivered < 0, f.LineBytes < 0, f.CachedTokens < 0, f.CacheWriteTokens < 0,
		f.ErrorAfter < 0:
		return fmt.Errorf("negative value in fault")
	case f.Chunks > maxChunks:
		return fmt.Errorf("chunks %d above limit %d", f.Chunks, maxChunks)
	case f.ImageBytes > maxImageBytes:
		return fmt.Errorf("image_bytes %d above limit %d", f.ImageBytes, maxImageBytes)
	case f.LineBytes > maxLineBytes:
		return fmt.Errorf("line_bytes %d above limit %d", f.LineBytes, maxLineBytes)
	case f.ToolArg != "" && !strings.Contains(f.ToolArg, ":"):
		return fmt.Errorf("tool_arg %q: want key:value", f.ToolArg)
	}
	return nil
}

// Limits keep a typo in a directive from exhausting the machine.
const (
	maxChunks     = 10_000_000
	maxImageBytes = 256 << 20
	maxLineBytes  = 64 << 20
)

func parseDuration(key, v string) (time.Duration, error) {
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%s=%s: want a Go duration like 200ms", key, v)
	}
	return d, nil
}

// parseDirective reads "status=429 retry_after=2 malformed" (spaces or commas
// between fields; a bare flag name means true).
func parseDirective(s string) (Fault, error) {
	var f Fault
	for _, field := range strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == ',' || r == '\t' }) {
		key, val, hasVal := strings.Cut(field, "=")
		if err := f.set(key, val, hasVal); err != nil {
			return Fault{}, fmt.Errorf("bad mock directive %q: %w", field, err)
		}
	}
	if err := f.validate(); err != nil {
		return Fault{}, fmt.Errorf("bad mock directive %q: %w", s, err)
	}
	return f, nil
}

func (f *Fault) set(key, val string, hasVal bool) error {
	intField := map[string]*int{
		"status": &f.Status, "retry_after": &f.RetryAfter, "retry_after_ms": &f.RetryAfterMS,
		"chunks": &f.Chunks, "drop_after": &f.DropAfter, "times": &f.Times,
		"image_bytes": &f.ImageBytes, "images_delivered": &f.ImagesDelivered, "line_bytes": &f.LineBytes,
		"cached_tokens": &f.CachedTokens, "cache_write_tokens": &f.CacheWriteTokens,
		"error_after": &f.ErrorAfter,
	}
	if p, ok := intField[key]; ok {
		n, err := strconv.Atoi(val)
		if err != nil || !hasVal {
			return fmt.Errorf("%s wants an integer", key)
		}
		*p = n
		return nil
	}
	var err error
	switch key {
	case "tool":
		f.Tool = val
	case "tool_arg":
		f.ToolArg = val
	case "latency":
		f.Latency, err = parseDuration(key, val)
	case "chunk_delay":
		f.ChunkDelay, err = parseDuration(key, val)
	case "message":
		f.Message, err = url.QueryUnescape(val)
	case "error_code":
		f.Code = val
	case "malformed", "hangup", "no_usage", "image_urls":
		b := true
		if hasVal {
			if b, err = strconv.ParseBool(val); err != nil {
				return fmt.Errorf("%s wants true or false", key)
			}
		}
		switch key {
		case "malformed":
			f.Malformed = b
		case "hangup":
			f.Hangup = b
		case "image_urls":
			f.ImageURLs = b
		default:
			f.NoUsage = b
		}
	default:
		return fmt.Errorf("unknown key %q", key)
	}
	return err
}

var (
	directiveOpen  = []byte("[[mock")
	directiveClose = []byte("]]")
)

// findDirective returns the body of the last [[mock …]] in b. The last one
// wins because conversation history comes before the newest message.
func findDirective(b []byte) (string, bool) {
	for end := len(b); ; {
		i := bytes.LastIndex(b[:end], directiveOpen)
		if i < 0 {
			return "", false
		}
		rest := b[i+len(directiveOpen):]
		j := bytes.Index(rest, directiveClose)
		if j >= 0 && (j == 0 || rest[0] == ' ') {
			return string(bytes.TrimSpace(rest[:j])), true
		}
		end = i // "[[mockery" or unterminated: keep looking further back
	}
}

// CarriesDirective reports whether a request body could make the mock
// fault: it holds "[[mock" raw, or once its JSON escapes are read (a
// gateway that translates the request sends the decoded text). Fuzz tests
// skip such bodies, so that random input never asks the mock to fail.
func CarriesDirective(body []byte) bool {
	if bytes.Contains(body, directiveOpen) {
		return true
	}
	var v any
	if json.Unmarshal(body, &v) != nil {
		return false
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	return enc.Encode(v) == nil && bytes.Contains(buf.Bytes(), directiveOpen)
}

// stripDirectives removes [[mock …]] from text that is echoed back, so a
// reply quoted in the next turn's history cannot re-trigger the fault.
func stripDirectives(s string) string {
	for {
		i := strings.Index(s, "[[mock")
		if i < 0 {
			return s
		}
		j := strings.Index(s[i:], "]]")
		if j < 0 {
			return s[:i]
		}
		s = s[:i] + s[i+j+2:]
	}
}

// faultRule is one per-credential rule; remaining counts down when Times > 0.
type faultRule struct {
	fault     Fault
	remaining atomic.Int64
}

// faultTable is copy-on-write: requests read an immutable map through an
// atomic pointer (no lock on the hot path); writers, which are rare test
// set-up calls, take a mutex and swap in a new map.
type faultTable struct {
	mu    sync.Mutex
	rules atomic.Pointer[map[string]*faultRule]
}

func (t *faultTable) set(cred string, f Fault) {
	t.mu.Lock()
	defer t.mu.Unlock()
	next := make(map[string]*faultRule)
	if cur := t.rules.Load(); cur != nil {
		for k, v := range *cur {
			next[k] = v
		}
	}
	r := &faultRule{fault: f}
	r.remaining.Store(int64(f.Times))
	next[cred] = r
	t.rules.Store(&next)
}

func (t *faultTable) clear() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.rules.Store(nil)
}

// take returns the credential's rule, consuming one use of a counted rule.
func (t *faultTable) take(cred string) (Fault, bool) {
	m := t.rules.Load()
	if m == nil {
		return Fault{}, false
	}
	r, ok := (*m)[cred]
	if !ok {
		return Fault{}, false
	}
	if r.fault.Times == 0 {
		return r.fault, true
	}
	for {
		n := r.remaining.Load()
		if n <= 0 {
			return Fault{}, false
		}
		if r.remaining.CompareAndSwap(n, n-1) {
			return r.fault, true
		}
	}
}

// snapshot lists the active rules for GET /_mock/faults.
func (t *faultTable) snapshot() map[string]Fault {
	out := map[string]Fault{}
	if m := t.rules.Load(); m != nil {
		for k, r := range *m {
			if r.fault.Times > 0 && r.remaining.Load() <= 0 {
				continue
			}
			out[k] = r.fault
		}
	}
	return out
}
