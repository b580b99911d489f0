package openai

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"

	"github.com/switchyard/switchyard/internal/images"
	"github.com/switchyard/switchyard/internal/provider"
	"github.com/switchyard/switchyard/internal/provider/azure"
	"github.com/switchyard/switchyard/internal/provider/gemini"
	oaup "github.com/switchyard/switchyard/internal/provider/openai"
	"github.com/switchyard/switchyard/internal/relay"
	"github.com/switchyard/switchyard/internal/sse"
)

// imagesAccepts: OpenAI-compatible and Azure channels have the images API;
// Gemini and Vertex channels serve it through translation (images_gemini.go).
func imagesAccepts(typ string) bool {
	return typ == "openai" || typ == "azure" || typ == "gemini" || typ == "vertex"
}

// imageExchange is one upstream images call (the whole request, or one
// part of a fanned-out one) as a relay Exchange.
type imageExchange struct {
	h     *Handler
	ctx   context.Context
	job   *imageJob
	task  string
	n     int       // images this call asks for
	base  int       // index of its first image within the task
	store bool      // keep every image in the image store
	async *asyncRun // the async task's run; nil for a synchronous request

	dalle bool // the current attempt's upstream model is a DALL·E model
	// model is the current attempt's upstream model, which the answer of a
	// gemini channel needs to be read.
	model string

	outputs []images.Output // stored images, in order
}

func (h *Handler) newImageExchange(ctx context.Context, job *imageJob, task string, n, base int, run *asyncRun) *imageExchange {
	return &imageExchange{h: h, ctx: ctx, job: job, task: task, n: n, base: base, async: run,
		store: run != nil || job.Format == "url"}
}

// asyncRun is one run of an async task by the runner.
type asyncRun struct {
	// cancel ends the run: its relay calls stop, unbilled, and are not
	// retried.
	cancel context.CancelCauseFunc
}

// errTaskGone ends the run of an async task found cancelled (or taken
// over by another node) as its images arrived.
var errTaskGone = errors.New("the image task was cancelled or taken over while it ran")

// abandoned reports whether an async task is no longer this run's to
// deliver: cancelled through the API, or requeued and taken by another
// node. Asked as the upstream's answer arrives, just before it is
// charged, so that a task cancelled while the upstream worked (the
// heartbeat tells the run only every few seconds) costs nothing; the
// stored images are deleted. A task that cannot be read is delivered as
// usual: its Finish decides.
func (x *imageExchange) abandoned() bool {
	if x.async == nil {
		return false
	}
	if x.ctx.Err() != nil {
		return true
	}
	t, err := x.h.img.o.Tasks.Get(x.ctx, x.task)
	if err != nil {
		x.h.log.LogAttrs(x.ctx, slog.LevelWarn, "read image task before charging", slog.String("task", x.task),
			slog.String("error", err.Error()))
		return x.ctx.Err() != nil
	}
	return t.Status != images.StatusRunning || t.Node != x.h.img.o.Node
}

// drop ends an abandoned run: the images this call stored are deleted,
// and the run's context cancelled, so the relay charges nothing, records
// the request as the client's cancellation (499) and tries no other
// credential.
func (x *imageExchange) drop() error {
	ctx := context.WithoutCancel(x.ctx)
	for _, o := range x.outputs {
		if err := x.h.img.o.Store.Delete(ctx, o.Key); err != nil {
			x.h.log.LogAttrs(ctx, slog.LevelWarn, "delete image of a cancelled task", slog.String("task", x.task),
				slog.String("key", o.Key), slog.String("error", err.Error()))
		}
	}
	x.outputs = nil
	x.async.cancel(errTaskGone)
	return errTaskGone
}

// call is the relay's view of this exchange.
func (x *imageExchange) call(requestID string, res *relay.Result) *relay.ExchangeCall {
	j := x.job
	prompt := relay.EstimatePromptTokens(make([]byte, j.PromptBytes)) + len(j.Files)*inputImageTokens
	var prepare func(context.Context) error
	if j.Kind == "edit" {
		prepare = x.prepare
	}
	return &relay.ExchangeCall{
		Prepare:   prepare,
		RequestID: requestID, Model: j.Model, Stream: x.streams(), Route: j.Route, Result: res,
		Estimate: relay.Estimate{
			PromptTokens: prompt, MaxOutputTokens: x.n * imageTokens(j.Size, j.Quality),
			Images: x.n, ImageSize: j.Size, ImageQuality: j.Quality,
		},
	}
}

// inputImageTokens is a generous estimate of an input image's tokens
// (gpt-image-1 counts a few hundred, more at high input fidelity).
const inputImageTokens = 1500

// imageTokens is an upper estimate of one output image's tokens for the
// reservation of token-priced image models: gpt-image-1's published
// counts for 1024x1024 (272 low, 1056 medium, 4160 high) scaled by area,
// with an unknown quality counted as high.
func imageTokens(size, quality string) int {
	per := 4160
	switch quality {
	case "low":
		per = 272
	case "medium", "standard":
		per = 1056
	}
	w, h := 1536, 1536 // auto: the largest standard size
	if s := size; s != "" && s != "auto" {
		ws, hs, _ := strings.Cut(s, "x")
		fmt.Sscan(ws, &w)
		fmt.Sscan(hs, &h)
	}
	return int(int64(per)*int64(w)*int64(h)/(1024*1024)) + 1
}

func (x *imageExchange) Accepts(typ string) bool { return imagesAccepts(typ) }

func (x *imageExchange) op() string {
	if x.job.Kind == "edit" {
		return "images/edits"
	}
	return "images/generations"
}

func (x *imageExchange) NewRequest(ctx context.Context, t *relay.Target, _ relay.ChatAdapter, upstreamModel string) (*http.Request, error) {
	x.dalle, x.model = strings.HasPrefix(upstreamModel, "dall-e"), upstreamModel
	if t.Channel.Type == "gemini" || t.Channel.Type == "vertex" {
		return x.geminiRequest(ctx, t, upstreamModel)
	}
	var u string
	if t.Channel.Type == "azure" {
		u = azure.DeploymentURL(t.Channel.BaseURL, upstreamModel, x.op(), t.Channel.APIVersion)
	} else {
		u = oaup.EndpointURL(t.Channel.BaseURL, x.op())
	}
	var body io.ReadCloser
	var ctype string
	if x.job.Multipart {
		body, ctype = x.multipartBody(ctx, upstreamModel)
	} else {
		b, err := x.jsonBody(upstreamModel)
		if err != nil {
			return nil, err
		}
		body, ctype = io.NopCloser(bytes.NewReader(b)), "application/json"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, body)
	if err != nil {
		body.Close()
		return nil, err
	}
	req.Header.Set("Content-Type", ctype)
	if x.streams() {
		req.Header.Set("Accept", "text/event-stream")
	}
	if t.Channel.Type == "azure" {
		azure.SetKey(req.Header, t.Secret())
	} else if t.Secret() != "" { // none for a keyless local server
		req.Header.Set("Authorization", "Bearer "+t.Secret())
	}
	return req, nil
}

// jsonBody is the client's JSON with the members the gateway owns set for
// this call. DALL·E models are asked for base64 (their URLs expire within
// the hour); gpt-image models return base64 and refuse the parameter.
func (x *imageExchange) jsonBody(upstreamModel string) ([]byte, error) {
	m := make(map[string]any, len(x.job.Body)+4)
	for k, v := range x.job.Body {
		m[k] = v
	}
	m["model"], m["n"] = upstreamModel, x.n
	if x.dalle {
		m["response_format"] = "b64_json"
	}
	if x.streams() {
		m["stream"] = true
	}
	return json.Marshal(m)
}

// Response turns the upstream's answer into the client's: each image as
// the format asked, stored when it must be. An image that cannot be
// delivered (a URL that fails to download, storage that fails) is left
// out, and the usage counts the images delivered, which is what is billed.
func (x *imageExchange) Response(t *relay.Target, body []byte) ([]byte, relay.Usage, error) {
	if t.Channel.Type == "gemini" || t.Channel.Type == "vertex" {
		var err error
		if body, err = gemini.ToImagesAnswer(x.model, body, x.h.img.o.Now().Unix()); err != nil {
			return nil, relay.Usage{}, err
		}
	}
	if !x.store {
		// The common case, base64 asked and base64 returned, without
		// decoding megabytes of JSON (see images_scan.go).
		if sc, ok := scanImageAnswer(body); ok && sc.allB64 && sc.images > 0 && sc.images <= x.n {
			u := usageOf(sc.usage)
			u.Images = sc.images
			return body, u, nil
		}
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil {
		return nil, relay.Usage{}, fmt.Errorf("decode images answer: %w", err)
	}
	var data []map[string]json.RawMessage
	if err := json.Unmarshal(top["data"], &data); err != nil {
		return nil, relay.Usage{}, fmt.Errorf("decode images answer's data: %w", err)
	}
	u := usageOf(top["usage"])
	if len(data) == 0 {
		return nil, u, errors.New("the upstream answered with no images")
	}
	passthrough := !x.store && len(data) <= x.n
	if len(data) > x.n {
		data = data[:x.n] // never more than asked (and reserved)
	}
	for _, d := range data {
		if _, ok := d["b64_json"]; !ok {
			passthrough = false
		}
	}
	if passthrough {
		// The client asked for base64, which it got: the body goes as is.
		u.Images = len(data)
		return body, u, nil
	}
	out := make([]map[string]json.RawMessage, 0, len(data))
	for i, d := range data {
		conv, err := x.convert(t, x.base+i, d)
		if err != nil {
			x.h.log.LogAttrs(x.ctx, slog.LevelWarn, "image not delivered", slog.String("task", x.task),
				slog.Int("index", x.base+i), slog.String("error", err.Error()))
			continue
		}
		out = append(out, conv)
	}
	if x.abandoned() {
		return nil, relay.Usage{}, x.drop()
	}
	if len(out) == 0 {
		return nil, u, errors.New("no image of the upstream's answer could be delivered")
	}
	u.Images = len(out)
	var err error
	if top["data"], err = marshalJSON(out); err != nil {
		return nil, u, err
	}
	b, err := marshalJSON(top)
	return b, u, err
}

// usageOf reads the images API's usage member, if any.
func usageOf(raw []byte) relay.Usage {
	var iu imageUsage
	if len(raw) == 0 || json.Unmarshal(raw, &iu) != nil {
		return relay.Usage{}
	}
	return relay.Usage{PromptTokens: iu.InputTokens, CompletionTokens: iu.OutputTokens}
}

// convert delivers one image as the client's format.
func (x *imageExchange) convert(t *relay.Target, index int, d map[string]json.RawMessage) (map[string]json.RawMessage, error) {
	var raw []byte
	var b64, link string
	if v, ok := d["b64_json"]; ok {
		if err := json.Unmarshal(v, &b64); err != nil || b64 == "" {
			return nil, errors.New("b64_json is not a base64 string")
		}
		var err error
		if raw, err = base64.StdEncoding.DecodeString(b64); err != nil {
			return nil, fmt.Errorf("b64_json: %w", err)
		}
	} else if v, ok := d["url"]; ok {
		if err := json.Unmarshal(v, &link); err != nil || link == "" {
			return nil, errors.New("url is not a string")
		}
		var err error
		if raw, _, err = images.Fetch(x.ctx, x.fetchClient(t, link), link, x.h.img.o.FetchMax); err != nil {
			return nil, fmt.Errorf("download the upstream's image: %w", err)
		}
	} else {
		return nil, errors.New("neither b64_json nor url")
	}
	out := make(map[string]json.RawMessage, len(d))
	for k, v := range d {
		if k != "b64_json" && k != "url" {
			out[k] = v
		}
	}
	if x.store {
		key, err := images.Key(x.task, index)
		if err != nil {
			return nil, err
		}
		ctype := http.DetectContentType(raw)
		if err := x.h.img.o.Store.Put(x.ctx, key, bytes.NewReader(raw), int64(len(raw)), ctype); err != nil {
			return nil, fmt.Errorf("store image: %w", err)
		}
		x.outputs = append(x.outputs, images.Output{Key: key, ContentType: ctype, Bytes: int64(len(raw))})
	}
	if x.job.Format == "url" {
		signed, err := x.h.signedURL(x.task, index)
		if err != nil {
			return nil, err
		}
		out["url"], _ = marshalJSON(signed)
		return out, nil
	}
	if b64 == "" {
		b64 = base64.StdEncoding.EncodeToString(raw)
	}
	out["b64_json"], _ = json.Marshal(b64)
	return out, nil
}

// fetchClient trusts the channel's own host (the operator configured it,
// and a self-hosted upstream is often on a private address); any other
// host goes through the SSRF guard.
func (x *imageExchange) fetchClient(t *relay.Target, link string) *http.Client {
	lu, err1 := url.Parse(link)
	bu, err2 := url.Parse(t.Channel.BaseURL)
	if err1 == nil && err2 == nil && strings.EqualFold(lu.Host, bu.Host) && lu.Scheme == bu.Scheme {
		return x.h.img.o.FetchTrusted
	}
	return x.h.img.o.Fetch
}

// signedURL is the public URL of image index of task, valid for url_ttl.
func (h *Handler) signedURL(task string, index int) (string, error) {
	o := h.img.o
	return o.Signer.URL(o.PublicURL(), task, index, o.Now().Add(o.URLTTL))
}

func (x *imageExchange) NewStream(t *relay.Target) relay.EventStream {
	if x.previewing() {
		return &previewStream{x: x, t: t}
	}
	return &imageStream{}
}

// imageStream relays the images API's named events as they come,
// counting completed images and their usage.
type imageStream struct {
	usage   relay.Usage
	errData []byte // the upstream's error event, relayed as the abort
}

func (s *imageStream) Feed(ev sse.Event, emit func(string, []byte) error) error {
	if strings.HasSuffix(ev.Name, ".completed") {
		s.usage.Images++
		var e struct {
			Usage *imageUsage `json:"usage"`
		}
		if json.Unmarshal(ev.Data, &e) == nil && e.Usage != nil {
			s.usage.PromptTokens += e.Usage.InputTokens
			s.usage.CompletionTokens += e.Usage.OutputTokens
		}
	}
	if ev.Name == "error" {
		var e struct {
			Error struct {
				Type    string `json:"type"`
				Message string `json:"message"`
			} `json:"error"`
		}
		_ = json.Unmarshal(ev.Data, &e)
		s.errData = append([]byte(nil), ev.Data...)
		return &provider.StreamError{Type: e.Error.Type, Message: e.Error.Message}
	}
	return emit(ev.Name, ev.Data)
}

func (s *imageStream) Finish(func(string, []byte) error) error { return nil }
func (s *imageStream) Usage() relay.Usage                      { return s.usage }
func (s *imageStream) Abort() (string, []byte) {
	if s.errData != nil {
		return "error", s.errData
	}
	return "error", imageAbort
}

var imageAbort = []byte(`{"type":"error","error":{"message":"The upstream stream ended unexpectedly.","type":"upstream_error","code":"upstream_error"}}`)

func base64Reader(s string) io.Reader {
	return base64.NewDecoder(base64.StdEncoding, strings.NewReader(s))
}

func removeFile(path string) error { return os.Remove(path) }

// marshalJSON is json.Marshal without HTML escaping, so signed URLs keep
// their '&' instead of \u0026 (both are valid JSON; this reads as sent).
func marshalJSON(v any) (json.RawMessage, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}
