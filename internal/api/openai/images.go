package openai

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/switchyard/switchyard/internal/api"
	"github.com/switchyard/switchyard/internal/apierror"
	"github.com/switchyard/switchyard/internal/auth"
	"github.com/switchyard/switchyard/internal/images"
	"github.com/switchyard/switchyard/internal/relay"
)

// Images: POST /v1/images/generations and /v1/images/edits, the task
// endpoints and the signed file URLs.
//
// Every image request gets a task id (X-Switchyard-Task-Id) and a task
// record. The gateway owns four parameters and forwards every other one
// as the client wrote it: model (renamed per channel), n (split when a
// channel makes fewer images per call), response_format (the gateway
// answers in the format asked whatever the upstream returns, so gpt-image
// models, which refuse the parameter, and DALL·E models, whose URLs
// expire upstream, look the same) and async (ours).

// ImageOptions are what the image endpoints need besides the relay.
type ImageOptions struct {
	Store  images.Store
	Signer *images.Signer
	Tasks  *images.Tasks
	// Kick wakes the task runner after an async submit; nil is fine.
	Kick func()
	// PublicURL is the base of signed URLs (server.public_url).
	PublicURL func() string
	URLTTL    time.Duration
	// Limits bound each uploaded image; MaxInputs the images per edit.
	Limits    images.Limits
	MaxInputs int
	// DefaultFormat is images.response_format: "", "url" or "b64_json".
	DefaultFormat string
	// DefaultFormatOf, when set, is read at each request instead of
	// DefaultFormat: the console's image default, which changes live.
	DefaultFormatOf func() string
	// Fetch downloads URLs an upstream returns on a host other than the
	// channel's own (SSRF-guarded); FetchTrusted those on the channel's
	// host, which the operator configured. Neither follows redirects.
	Fetch, FetchTrusted *http.Client
	FetchMax            int64
	// SpoolDir holds uploads while a synchronous edit runs.
	SpoolDir string
	// Track lets the runner's heartbeat cancel a synchronous task that
	// is cancelled through the API (Runner.Track); nil is fine.
	Track func(id string, cancel context.CancelFunc) (untrack func())
	// MaxImages is the images per upstream call the model's channels
	// make (pool.MaxImages).
	MaxImages func(model string) int
	// TaskTimeout bounds one async task, every upstream call included.
	TaskTimeout time.Duration
	// Node is the runner's node name (Runner.Node): sync task records
	// carry it, and an async run checks its task is still this node's.
	Node string
	// Previews receives the partial images an async task's upstream
	// streams (partial_images), for the studio; nil drops them.
	Previews *images.Previews
	Now      func() time.Time
}

type imageHandler struct {
	o ImageOptions
}

// EnableImages turns the image endpoints on; Mount then registers them.
func (h *Handler) EnableImages(o ImageOptions) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.MaxImages == nil {
		o.MaxImages = func(string) int { return maxN }
	}
	if o.MaxInputs <= 0 {
		o.MaxInputs = 16
	}
	if o.URLTTL <= 0 {
		o.URLTTL = 24 * time.Hour
	}
	h.img = &imageHandler{o: o}
}

// mountImages registers the image routes when images are enabled.
func (h *Handler) mountImages(rt *api.Router) {
	if h.img == nil {
		return
	}
	rt.Handle("POST /v1/images/generations", http.HandlerFunc(h.ImageGenerations))
	rt.Handle("POST /v1/images/edits", http.HandlerFunc(h.ImageEdits))
	rt.Handle("GET /v1/images/tasks/{id}", http.HandlerFunc(h.ImageTask))
	rt.Handle("DELETE /v1/images/tasks/{id}", http.HandlerFunc(h.CancelImageTask))
	rt.Handle("GET "+images.PathPrefix+"{task}/{index}", http.HandlerFunc(h.ImageFile))
}

const (
	maxN         = 10
	maxPartial   = 3
	maxImageSide = 16384
	taskHeader   = "X-Switchyard-Task-Id"
)

// imageJob is one image request as the gateway runs it. Async tasks keep
// it, JSON-encoded, as their params, so a restarted node can run them.
type imageJob struct {
	Kind    string `json:"kind"` // generation | edit
	Model   string `json:"model"`
	N       int    `json:"n"`
	Size    string `json:"size,omitempty"`
	Quality string `json:"quality,omitempty"`
	Format  string `json:"response_format"` // url | b64_json, resolved
	Stream  bool   `json:"stream,omitempty"`
	// Partials is partial_images: an async task then streams from the
	// upstream to keep its previews (ImageOptions.Previews).
	Partials int         `json:"partials,omitempty"`
	Route    relay.Route `json:"route"`
	// PromptBytes sizes the reservation's prompt estimate.
	PromptBytes int `json:"prompt_bytes"`
	// Body holds a JSON request's members other than the four the
	// gateway owns; Form a multipart request's text fields, in order.
	Body      map[string]json.RawMessage `json:"body,omitempty"`
	Multipart bool                       `json:"multipart,omitempty"`
	Form      []formField                `json:"form,omitempty"`
	Files     []inputFile                `json:"files,omitempty"`

	// The uploads' full inspection (Prepare), once for all of a
	// fanned-out job's calls.
	inspected  sync.Once
	inspectErr error
}

type formField struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// inputFile is one uploaded image: spooled to a temporary file for a
// synchronous edit, or kept in the image store for an async one.
type inputFile struct {
	Field       string `json:"field"`
	Filename    string `json:"filename"`
	ContentType string `json:"content_type"` // sniffed from the bytes
	Size        int64  `json:"size"`
	Key         string `json:"key,omitempty"` // in the image store
	path        string // spool file
}

// owned are the members the gateway sets itself on the upstream request.
var owned = map[string]bool{"model": true, "n": true, "response_format": true, "async": true, "stream": true}

// imageFlags are the request members the gateway reads, from JSON or
// from multipart text fields.
type imageFlags struct {
	Model, Prompt, Size, Quality, ResponseFormat string
	N, PartialImages                             int
	Stream, Async                                bool
	hasPrompt                                    bool
}

// ImageGenerations serves POST /v1/images/generations.
func (h *Handler) ImageGenerations(w http.ResponseWriter, r *http.Request) {
	key, ok := h.imageKey(w, r)
	if !ok {
		return
	}
	body, err := api.ReadJSONBody(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	job, flags, err := h.jsonImageJob(body, "generation")
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.serveImageJob(w, r, key, job, flags)
}

// imageKey authenticates an image request.
func (h *Handler) imageKey(w http.ResponseWriter, r *http.Request) (*auth.Key, bool) {
	key, err := h.keys.Authenticate(r, api.ClientIP(r.Context()))
	if err != nil {
		apierror.WriteOpenAI(w, r, err)
		return nil, false
	}
	return key, true
}

// imageMembers are the members of a JSON image body the gateway judges
// (api.PeekJSON): what it reads to allow, route, price and reserve, and the
// input images it inspects. Their ranges are checked by
// validateImageFlags, shared with multipart forms.
var imageMembers = []api.Judged{
	memberModel,
	{Name: "prompt", Kind: api.KindString},
	{Name: "size", Kind: api.KindString},
	{Name: "quality", Kind: api.KindString},
	{Name: "response_format", Kind: api.KindString},
	{Name: "n", Kind: api.KindInt, Min: 0, Max: maxN},
	{Name: "partial_images", Kind: api.KindInt, Min: 0, Max: maxPartial},
	memberStream,
	{Name: "async", Kind: api.KindBool},
	{Name: "images", Kind: api.KindAny},
	{Name: "mask", Kind: api.KindAny},
}

// jsonImageJob reads a JSON generation or edit body.
func (h *Handler) jsonImageJob(body []byte, kind string) (*imageJob, imageFlags, error) {
	var v [11]api.Peeked
	var f imageFlags
	if err := api.PeekJSON(body, imageMembers, v[:]); err != nil {
		return nil, f, err
	}
	f.Model, f.Prompt, f.hasPrompt = v[0].Str, v[1].Str, v[1].Present()
	f.Size, f.Quality, f.ResponseFormat = v[2].Str, v[3].Str, v[4].Str
	f.N, f.PartialImages = int(v[5].Int), int(v[6].Int)
	f.Stream, f.Async = v[7].Bool, v[8].Bool
	// The members the gateway does not own go upstream as written; the
	// peek has made sure no judged member hides among them.
	var members map[string]json.RawMessage
	if err := json.Unmarshal(body, &members); err != nil {
		return nil, f, apierror.InvalidRequest("The request body must be a JSON object.", "")
	}
	job := &imageJob{Kind: kind, Body: make(map[string]json.RawMessage, len(members)), PromptBytes: len(f.Prompt)}
	for k, v := range members {
		if !owned[k] {
			job.Body[k] = v
		}
	}
	if kind == "edit" {
		if err := h.checkJSONEditImages(members); err != nil {
			return nil, f, err
		}
	}
	return job, f, nil
}

// checkJSONEditImages checks a JSON edit's images and mask: data: URLs are
// decoded and inspected like uploads; other URLs and file ids go to the
// upstream as given.
func (h *Handler) checkJSONEditImages(members map[string]json.RawMessage) error {
	type ref struct {
		ImageURL string `json:"image_url"`
		FileID   string `json:"file_id"`
	}
	var imgs []ref
	raw, ok := members["images"]
	if !ok {
		return apierror.InvalidRequest("An edit needs at least one input image in images (or a multipart image upload).", "images")
	}
	if err := json.Unmarshal(raw, &imgs); err != nil {
		return apierror.InvalidRequest("images must be an array of {\"image_url\"} or {\"file_id\"} objects.", "images")
	}
	if len(imgs) == 0 {
		return apierror.InvalidRequest("images must not be empty.", "images")
	}
	if len(imgs) > h.img.o.MaxInputs {
		return apierror.InvalidRequest(fmt.Sprintf("At most %d input images are accepted; got %d.", h.img.o.MaxInputs, len(imgs)), "images")
	}
	check := func(param string, r ref) error {
		switch {
		case r.ImageURL == "" && r.FileID == "":
			return apierror.InvalidRequest(param+" needs image_url or file_id.", param)
		case strings.HasPrefix(r.ImageURL, "data:"):
			return inspectDataURL(param, r.ImageURL, h.img.o.Limits)
		case r.ImageURL != "" && !strings.HasPrefix(r.ImageURL, "https://") && !strings.HasPrefix(r.ImageURL, "http://"):
			return apierror.InvalidRequest(param+".image_url must be an http(s) URL or a data: URL.", param)
		}
		return nil
	}
	for i, r := range imgs {
		if err := check(fmt.Sprintf("images[%d]", i), r); err != nil {
			return err
		}
	}
	if raw, ok := members["mask"]; ok && string(raw) != "null" {
		var m ref
		if err := json.Unmarshal(raw, &m); err != nil {
			return apierror.InvalidRequest("mask must be an {\"image_url\"} or {\"file_id\"} object.", "mask")
		}
		return check("mask", m)
	}
	return nil
}

// validate checks what the gateway reads and fills job from it.
func (h *Handler) validateImageFlags(job *imageJob, f imageFlags, key *auth.Key) error {
	switch {
	case f.Model == "":
		return apierror.InvalidRequest("The model field is required.", "model")
	case !f.hasPrompt || strings.TrimSpace(f.Prompt) == "":
		return apierror.InvalidRequest("The prompt field is required.", "prompt")
	case f.N < 0 || f.N > maxN:
		return apierror.InvalidRequest(fmt.Sprintf("n must be between 1 and %d; got %d.", maxN, f.N), "n")
	case f.PartialImages < 0 || f.PartialImages > maxPartial:
		return apierror.InvalidRequest(fmt.Sprintf("partial_images must be between 0 and %d; got %d.", maxPartial, f.PartialImages), "partial_images")
	case f.Stream && f.Async:
		return apierror.InvalidRequest("An async task cannot be streamed; ask for one or the other.", "stream")
	}
	if err := checkSize(f.Size); err != nil {
		return err
	}
	format := f.ResponseFormat
	switch format {
	case "", "url", "b64_json":
	default:
		return apierror.InvalidRequest(fmt.Sprintf("response_format must be url or b64_json; got %q.", format), "response_format")
	}
	if format == "" {
		format = key.ImageResponseFormat
	}
	if format == "" {
		format = h.img.o.DefaultFormat
		if h.img.o.DefaultFormatOf != nil {
			format = h.img.o.DefaultFormatOf()
		}
	}
	if format == "" {
		// Each model family's own default: DALL·E answers with URLs,
		// gpt-image models with base64.
		format = "b64_json"
		if strings.HasPrefix(f.Model, "dall-e") {
			format = "url"
		}
	}
	job.Model, job.N, job.Size, job.Quality, job.Format, job.Stream = f.Model, max(f.N, 1), f.Size, f.Quality, format, f.Stream
	job.Partials = f.PartialImages
	return nil
}

// checkSize accepts "", "auto" and WxH with both sides 1..16384; which
// sizes a model supports is the upstream's to say.
func checkSize(s string) error {
	if s == "" || s == "auto" {
		return nil
	}
	ws, hs, ok := strings.Cut(s, "x")
	w, err1 := strconv.Atoi(ws)
	ht, err2 := strconv.Atoi(hs)
	if !ok || err1 != nil || err2 != nil || w < 1 || ht < 1 || w > maxImageSide || ht > maxImageSide ||
		strconv.Itoa(w) != ws || strconv.Itoa(ht) != hs {
		return apierror.InvalidRequest(fmt.Sprintf("size must be auto or WIDTHxHEIGHT (e.g. 1024x1024); got %q.", s), "size")
	}
	return nil
}

// serveImageJob routes, then runs job now or queues it.
func (h *Handler) serveImageJob(w http.ResponseWriter, r *http.Request, key *auth.Key, job *imageJob, f imageFlags) {
	defer job.removeSpool()
	f.Async = f.Async || preferAsync(r.Header)
	if err := h.validateImageFlags(job, f, key); err != nil {
		h.fail(w, r, err)
		return
	}
	if err := key.AllowModel(job.Model); err != nil {
		h.fail(w, r, err)
		return
	}
	route, err := routeOf(r, key)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	job.Route = route
	if !h.servable(w, r, job.Model, "images", imagesAccepts) {
		return
	}
	per := h.img.o.MaxImages(job.Model)
	if job.Stream && job.N > per {
		h.fail(w, r, apierror.InvalidRequest(fmt.Sprintf(
			"Model %s makes at most %d image(s) per call, so n=%d cannot be streamed; drop stream or lower n.", job.Model, per, job.N), "n"))
		return
	}
	if f.Async {
		// No reservation before the 202: the headers are read now (a few
		// kilobytes each), the decode waits for the runner's reservation.
		if err := h.checkHeaders(job); err != nil {
			h.fail(w, r, err)
			return
		}
	}
	task := images.NewTaskID()
	w.Header().Set(taskHeader, task)
	ctx := auth.WithKey(r.Context(), key)
	if f.Async {
		h.submitImageTask(ctx, w, r, key, job, task)
		return
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := h.recordSyncTask(ctx, cancel, key, job, task)
	out := h.runImageJobID(ctx, w, job, task, api.RequestID(ctx), nil)
	done <- out
	if out.err != nil {
		if ctx.Err() != nil && r.Context().Err() == nil {
			// Cancelled through DELETE /v1/images/tasks/{id}, not by the client leaving.
			out.err = fmt.Errorf("%w: %w", apierror.TaskCancelled(task), out.err)
		}
		h.fail(w, r, out.err)
	}
}

// preferAsync reports whether the client sent Prefer: respond-async
// (RFC 7240), possibly among other preferences.
func preferAsync(h http.Header) bool {
	for _, v := range h.Values("Prefer") {
		for p := range strings.SplitSeq(v, ",") {
			name, _, _ := strings.Cut(strings.TrimSpace(p), ";")
			if strings.EqualFold(strings.TrimSpace(name), "respond-async") {
				return true
			}
		}
	}
	return false
}

// removeSpool deletes a synchronous edit's spooled uploads.
func (j *imageJob) removeSpool() {
	for _, f := range j.Files {
		if f.path != "" {
			_ = removeFile(f.path)
		}
	}
}

// imageOutcome is what a run produced, for the task record.
type imageOutcome struct {
	delivered int
	cost      int64
	outputs   []images.Output
	status    int
	err       error // nothing was written to the client
}

// runImageJobID runs job through the relay: one exchange when the model's
// channels make n images per call, else parallel calls of at most that
// many, each with its own credential and failover, gathered into one
// answer that counts (and bills) only the images that arrived. An async
// run (run not nil) keeps every image in the image store whatever the
// format asked.
func (h *Handler) runImageJobID(ctx context.Context, w http.ResponseWriter, job *imageJob, task, requestID string, run *asyncRun) imageOutcome {
	per := max(h.img.o.MaxImages(job.Model), 1)
	if job.N <= per {
		x := h.newImageExchange(ctx, job, task, job.N, 0, run)
		var res relay.Result
		call := x.call(requestID, &res)
		err := h.relay.Exchange(ctx, w, call, x)
		return imageOutcome{delivered: res.Images, cost: res.Cost, outputs: x.outputs, status: res.Status, err: err}
	}
	parts := (job.N + per - 1) / per
	type part struct {
		rec  *captureWriter
		res  relay.Result
		x    *imageExchange
		err  error
		done chan struct{}
	}
	ps := make([]*part, parts)
	for i := range ps {
		n := min(per, job.N-i*per)
		p := &part{rec: newCaptureWriter(), x: h.newImageExchange(ctx, job, task, n, i*per, run), done: make(chan struct{})}
		ps[i] = p
		go func() {
			defer close(p.done)
			call := p.x.call(requestID, &p.res)
			p.err = h.relay.Exchange(ctx, p.rec, call, p.x)
		}()
	}
	var out imageOutcome
	var merged imageMerge
	streamed := 0
	for _, p := range ps {
		<-p.done
		out.cost += p.res.Cost
		if p.err != nil {
			if out.err == nil {
				out.err = p.err
			}
			continue
		}
		if p.rec.status != http.StatusOK {
			continue
		}
		if p.x.previewing() {
			// An async part streamed for its previews: its images are
			// stored, and no one reads the merged answer.
			out.delivered += p.res.Images
			out.outputs = append(out.outputs, p.x.outputs...)
			streamed += p.res.Images
			continue
		}
		if err := merged.add(p.rec.buf.Bytes()); err != nil {
			h.log.LogAttrs(ctx, slog.LevelWarn, "image part unreadable", slog.String("task", task), slog.String("error", err.Error()))
			continue
		}
		out.delivered += p.res.Images
		out.outputs = append(out.outputs, p.x.outputs...)
	}
	if merged.count == 0 && streamed > 0 {
		out.err, out.status = nil, http.StatusOK
		return out
	}
	if merged.count == 0 {
		if out.err == nil {
			out.err = apierror.UpstreamError("The upstream returned no images.")
		}
		out.status = apierror.As(out.err).Status
		return out
	}
	// Some images arrived: the answer is a success with what arrived.
	out.err, out.status = nil, http.StatusOK
	b, err := merged.bytes()
	if err != nil {
		out.err = fmt.Errorf("merge image parts: %w", err)
		return out
	}
	hd := w.Header()
	hd.Set("Content-Type", "application/json")
	hd.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
	return out
}

// imageMerge joins the answers of a fanned-out request: the data arrays
// in call order, the other members from the first answer, usage summed.
type imageMerge struct {
	top   map[string]json.RawMessage
	data  []json.RawMessage
	usage imageUsage
	used  bool
	count int
}

func (m *imageMerge) add(body []byte) error {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil {
		return err
	}
	var data []json.RawMessage
	if err := json.Unmarshal(top["data"], &data); err != nil {
		return fmt.Errorf("data: %w", err)
	}
	if raw, ok := top["usage"]; ok {
		var u imageUsage
		if json.Unmarshal(raw, &u) == nil {
			m.usage.add(u)
			m.used = true
		}
	}
	if m.top == nil {
		m.top = top
	}
	m.data = append(m.data, data...)
	m.count += len(data)
	return nil
}

func (m *imageMerge) bytes() ([]byte, error) {
	data, err := marshalJSON(m.data)
	if err != nil {
		return nil, err
	}
	m.top["data"] = data
	if m.used {
		u, err := json.Marshal(m.usage)
		if err != nil {
			return nil, err
		}
		m.top["usage"] = u
	}
	return marshalJSON(m.top)
}

// imageUsage is the usage member of the images API.
type imageUsage struct {
	TotalTokens        int            `json:"total_tokens"`
	InputTokens        int            `json:"input_tokens"`
	OutputTokens       int            `json:"output_tokens"`
	InputTokensDetails map[string]int `json:"input_tokens_details,omitempty"`
}

func (u *imageUsage) add(v imageUsage) {
	u.TotalTokens += v.TotalTokens
	u.InputTokens += v.InputTokens
	u.OutputTokens += v.OutputTokens
	for k, n := range v.InputTokensDetails {
		if u.InputTokensDetails == nil {
			u.InputTokensDetails = map[string]int{}
		}
		u.InputTokensDetails[k] += n
	}
}

// captureWriter is an http.ResponseWriter kept in memory: a fanned-out
// part's answer, or an async task's.
type captureWriter struct {
	h      http.Header
	status int
	buf    bytes.Buffer
}

func newCaptureWriter() *captureWriter { return &captureWriter{h: http.Header{}} }

func (c *captureWriter) Header() http.Header { return c.h }
func (c *captureWriter) WriteHeader(code int) {
	if c.status == 0 {
		c.status = code
	}
}
func (c *captureWriter) Write(b []byte) (int, error) {
	if c.status == 0 {
		c.status = http.StatusOK
	}
	return c.buf.Write(b)
}
