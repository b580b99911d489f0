package mock

import (
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Counters is a snapshot of what the mock has served since the last Reset.
// Status 0 counts connections aborted before a status was written.
type Counters struct {
	Total            int64                       `json:"total"`
	ByCredential     map[string]int64            `json:"by_credential"`
	ByCredentialPath map[string]map[string]int64 `json:"by_credential_path"`
	Status           map[string]int64            `json:"status"`
}

// counters avoids a global lock per request: totals and statuses are plain
// atomics, and per-credential/per-path cells are created once in sync.Maps
// (read-mostly, which is what sync.Map is built for) and then bumped
// atomically.
type counters struct {
	total  atomic.Int64
	status [600]atomic.Int64
	creds  sync.Map // credential → *credCounter
}

type credCounter struct {
	n     atomic.Int64
	paths sync.Map // path → *atomic.Int64
}

func (c *counters) begin(cred, path string) {
	c.total.Add(1)
	if cred == "" {
		return
	}
	v, ok := c.creds.Load(cred)
	if !ok {
		v, _ = c.creds.LoadOrStore(cred, &credCounter{})
	}
	cc := v.(*credCounter)
	cc.n.Add(1)
	p, ok := cc.paths.Load(path)
	if !ok {
		p, _ = cc.paths.LoadOrStore(path, new(atomic.Int64))
	}
	p.(*atomic.Int64).Add(1)
}

func (c *counters) end(status int) {
	if status < 0 || status >= len(c.status) {
		status = 0
	}
	c.status[status].Add(1)
}

func (c *counters) snapshot() Counters {
	out := Counters{
		Total:            c.total.Load(),
		ByCredential:     map[string]int64{},
		ByCredentialPath: map[string]map[string]int64{},
		Status:           map[string]int64{},
	}
	c.creds.Range(func(k, v any) bool {
		cc := v.(*credCounter)
		out.ByCredential[k.(string)] = cc.n.Load()
		paths := map[string]int64{}
		cc.paths.Range(func(p, n any) bool {
			paths[p.(string)] = n.(*atomic.Int64).Load()
			return true
		})
		out.ByCredentialPath[k.(string)] = paths
		return true
	})
	for i := range c.status {
		if n := c.status[i].Load(); n > 0 {
			out.Status[strconv.Itoa(i)] = n
		}
	}
	return out
}

func (c *counters) reset() {
	c.total.Store(0)
	for i := range c.status {
		c.status[i].Store(0)
	}
	c.creds.Clear()
}

// RecordedRequest is what the mock saw of one request. The credential is
// kept as given: mock keys are not secrets, and tests need to see which key a
// gateway chose.
type RecordedRequest struct {
	Seq        int64             `json:"seq"`
	Time       time.Time         `json:"time"`
	Method     string            `json:"method"`
	Path       string            `json:"path"`
	Query      string            `json:"query,omitempty"`
	Credential string            `json:"credential"`
	Headers    map[string]string `json:"headers,omitempty"`
	Body       string            `json:"body,omitempty"` // JSON bodies, capped at 64 KiB
	BodySize   int64             `json:"body_size"`
	Truncated  bool              `json:"body_truncated,omitempty"`
	Parts      []PartSummary     `json:"parts,omitempty"` // multipart fields and files, or JSON image inputs
	Status     int               `json:"status"`
}

// PartSummary describes one received form field, file or image input.
type PartSummary struct {
	Field       string `json:"field"`
	FileName    string `json:"filename,omitempty"`
	ContentType string `json:"content_type,omitempty"`
	Size        int64  `json:"size"`
	SHA256      string `json:"sha256,omitempty"` // files and decoded data: URLs
	Value       string `json:"value,omitempty"`  // text fields (capped) and image URLs
}

const (
	recordRing    = 512
	recordBodyCap = 64 << 10
)

// recordedHeaders are the request headers worth keeping; credentials and
// everything else are left out.
var recordedHeaders = []string{"Content-Type", "Anthropic-Version", "Anthropic-Beta", "User-Agent", "Accept", "X-Mock-Fault"}

// recorder keeps a ring per credential, each with its own lock, so
// concurrent requests on different keys never contend.
type recorder struct {
	seq   atomic.Int64
	rings sync.Map // credential → *ring
}

type ring struct {
	mu   sync.Mutex
	buf  []RecordedRequest
	next int
	full bool
}

func (rc *recorder) add(rr RecordedRequest) {
	rr.Seq = rc.seq.Add(1)
	v, ok := rc.rings.Load(rr.Credential)
	if !ok {
		v, _ = rc.rings.LoadOrStore(rr.Credential, &ring{buf: make([]RecordedRequest, recordRing)})
	}
	r := v.(*ring)
	r.mu.Lock()
	r.buf[r.next] = rr
	r.next = (r.next + 1) % len(r.buf)
	if r.next == 0 {
		r.full = true
	}
	r.mu.Unlock()
}

func (r *ring) list() []RecordedRequest {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.full {
		return slices.Clone(r.buf[:r.next])
	}
	return append(slices.Clone(r.buf[r.next:]), r.buf[:r.next]...)
}

// list returns one credential's requests, or every credential's when all is
// set, oldest first.
func (rc *recorder) list(cred string, all bool) []RecordedRequest {
	if !all {
		v, ok := rc.rings.Load(cred)
		if !ok {
			return []RecordedRequest{}
		}
		return v.(*ring).list()
	}
	out := []RecordedRequest{}
	rc.rings.Range(func(_, v any) bool {
		out = append(out, v.(*ring).list()...)
		return true
	})
	slices.SortFunc(out, func(a, b RecordedRequest) int { return int(a.Seq - b.Seq) })
	return out
}

func (rc *recorder) reset() { rc.rings.Clear() }
