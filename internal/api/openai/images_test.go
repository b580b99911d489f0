package openai_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"image"
	"image/color"
	"image/png"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/config"
	"github.com/switchyard/switchyard/internal/images"
	"github.com/switchyard/switchyard/internal/mock"
	"github.com/switchyard/switchyard/internal/sse"
)

const otherKey = "sk-test-other-user-0123456789"

// imageGateway adds an images channel: gpt-image-1 (ten images a call)
// and dall-e-3 (one a call, as OpenAI serves it).
func imageGateway(t testing.TB, mutate func(cfg *config.Config)) *gateway {
	t.Helper()
	return startGateway(t, func(cfg *config.Config) {
		base := cfg.Channels[0].BaseURL
		cfg.Channels = append(cfg.Channels, config.Channel{Name: "img", Type: "openai", BaseURL: base,
			Models: []string{"gpt-image-1", "dall-e-3", "dall-e-2"}, Credentials: []config.Credential{{Key: "img-1"}}})
		cfg.Users = append(cfg.Users, config.User{Email: "other@example.com"})
		cfg.Keys = append(cfg.Keys, config.Key{Name: "other", User: "other@example.com", Key: otherKey})
		if mutate != nil {
			mutate(cfg)
		}
	})
}

type imagesAnswer struct {
	Created int64 `json:"created"`
	Data    []struct {
		B64JSON       string `json:"b64_json"`
		URL           string `json:"url"`
		RevisedPrompt string `json:"revised_prompt"`
	} `json:"data"`
	Usage *struct {
		InputTokens  int `json:"input_tokens"`
		OutputTokens int `json:"output_tokens"`
	} `json:"usage"`
	Error *struct {
		Message string `json:"message"`
		Code    string `json:"code"`
		Param   string `json:"param"`
	} `json:"error"`
}

func (g *gateway) imagePost(t testing.TB, path, key, ctype string, body io.Reader, hdr map[string]string) (*http.Response, imagesAnswer) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, g.base+path, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", ctype)
	req.Header.Set("Authorization", "Bearer "+key)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	var a imagesAnswer
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &a); err != nil && resp.StatusCode != http.StatusAccepted {
		t.Fatalf("POST %s: status %d, body not JSON: %.300s", path, resp.StatusCode, b)
	}
	return resp, a
}

func (g *gateway) generate(t testing.TB, body string) (*http.Response, imagesAnswer) {
	t.Helper()
	return g.imagePost(t, "/v1/images/generations", testKey, "application/json", strings.NewReader(body), nil)
}

// decodeImage checks b is a real image and returns its size.
func decodeImage(t testing.TB, b []byte) image.Point {
	t.Helper()
	cfg, format, err := image.DecodeConfig(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("not an image (%d bytes): %v", len(b), err)
	}
	if format != "png" {
		t.Errorf("format %s, want png", format)
	}
	return image.Point{cfg.Width, cfg.Height}
}

func get(t testing.TB, u, key string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

type taskJSON struct {
	ID         string `json:"id"`
	Status     string `json:"status"`
	Progress   int    `json:"progress"`
	N          int    `json:"n"`
	Delivered  int    `json:"delivered"`
	CostMicros int64  `json:"cost_micros"`
	Async      bool   `json:"async"`
	Error      *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
	Data []struct {
		Index int    `json:"index"`
		URL   string `json:"url"`
	} `json:"data"`
	Webhook *struct {
		State    string `json:"state"`
		Attempts int    `json:"attempts"`
	} `json:"webhook"`
}

// waitTask polls the task until done(t) or the deadline.
func (g *gateway) waitTask(t testing.TB, id string, done func(taskJSON) bool) taskJSON {
	t.Helper()
	return g.waitTaskAs(t, testKey, id, done)
}

// waitTaskAs is waitTask for a task of key.
func (g *gateway) waitTaskAs(t testing.TB, key, id string, done func(taskJSON) bool) taskJSON {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, b := get(t, g.base+"/v1/images/tasks/"+id, key)
		var tj taskJSON
		if resp.StatusCode == http.StatusOK {
			if err := json.Unmarshal(b, &tj); err != nil {
				t.Fatalf("task JSON: %v: %s", err, b)
			}
			if done(tj) {
				return tj
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("task %s: still %d %s", id, resp.StatusCode, b)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func finished(tj taskJSON) bool {
	return tj.Status == "succeeded" || tj.Status == "failed" || tj.Status == "cancelled"
}

func TestImageGenerationBase64(t *testing.T) {
	g := imageGateway(t, nil)
	for _, n := range []int{1, 4} {
		t.Run(fmt.Sprint("n=", n), func(t *testing.T) {
			resp, a := g.generate(t, fmt.Sprintf(`{"model":"gpt-image-1","prompt":"a red fox","n":%d,"size":"1024x1536","quality":"low","background":"transparent","output_format":"png"}`, n))
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d: %+v", resp.StatusCode, a.Error)
			}
			task := resp.Header.Get("X-Switchyard-Task-Id")
			if images.ValidTask(task) != nil {
				t.Fatalf("task header %q", task)
			}
			if len(a.Data) != n {
				t.Fatalf("%d images, want %d", len(a.Data), n)
			}
			for _, d := range a.Data {
				raw, err := base64.StdEncoding.DecodeString(d.B64JSON)
				if err != nil {
					t.Fatal(err)
				}
				if got := decodeImage(t, raw); got != (image.Point{1024, 1536}) {
					t.Errorf("image %v, want 1024x1536", got)
				}
			}
			if a.Usage == nil || a.Usage.OutputTokens == 0 {
				t.Errorf("usage not relayed: %+v", a.Usage)
			}
			// The parameters reached the upstream; the gateway's own did not.
			recs := g.mock.Requests("img-1")
			var sent map[string]any
			if err := json.Unmarshal([]byte(recs[len(recs)-1].Body), &sent); err != nil {
				t.Fatal(err)
			}
			if sent["background"] != "transparent" || sent["quality"] != "low" || sent["n"] != float64(n) || sent["size"] != "1024x1536" {
				t.Errorf("upstream got %v", sent)
			}
			if _, ok := sent["response_format"]; ok {
				t.Errorf("response_format sent to a gpt-image model: %v", sent)
			}
			tj := g.waitTask(t, task, finished)
			if tj.Status != "succeeded" || tj.Delivered != n || tj.N != n || tj.Async {
				t.Errorf("task %+v", tj)
			}
			if len(tj.Data) != 0 {
				t.Errorf("a base64 answer is not stored, yet the task lists %d images", len(tj.Data))
			}
		})
	}
}

func TestImageCustomSizeAndValidation(t *testing.T) {
	g := imageGateway(t, nil)
	resp, a := g.generate(t, `{"model":"gpt-image-1","prompt":"wide","size":"1536x640"}`)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %+v", resp.StatusCode, a.Error)
	}
	raw, _ := base64.StdEncoding.DecodeString(a.Data[0].B64JSON)
	if got := decodeImage(t, raw); got != (image.Point{1536, 640}) {
		t.Errorf("custom size: got %v", got)
	}
	for _, c := range []struct{ body, param string }{
		{`{"model":"gpt-image-1","prompt":"x","size":"big"}`, "size"},
		{`{"model":"gpt-image-1","prompt":"x","size":"0x10"}`, "size"},
		{`{"model":"gpt-image-1","prompt":"x","n":11}`, "n"},
		{`{"model":"gpt-image-1","prompt":"x","n":"2"}`, "n"},
		{`{"model":"gpt-image-1"}`, "prompt"},
		{`{"model":"gpt-image-1","prompt":"x","response_format":"jpeg"}`, "response_format"},
		{`{"model":"gpt-image-1","prompt":"x","partial_images":4,"stream":true}`, "partial_images"},
		{`{"model":"gpt-image-1","prompt":"x","stream":true,"async":true}`, "stream"},
		{`{"prompt":"x"}`, "model"},
	} {
		resp, a := g.generate(t, c.body)
		if resp.StatusCode != http.StatusBadRequest || a.Error == nil || a.Error.Param != c.param {
			t.Errorf("%s: status %d error %+v, want 400 naming %s", c.body, resp.StatusCode, a.Error, c.param)
		}
	}
	resp, a = g.generate(t, `{"model":"claude-test","prompt":"x"}`)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(a.Error.Message, "anthropic") {
		t.Errorf("anthropic-only model: %d %+v", resp.StatusCode, a.Error)
	}
	resp, _ = g.generate(t, `{"model":"no-such-model","prompt":"x"}`)
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown model: %d", resp.StatusCode)
	}
}

func TestImageSignedURLs(t *testing.T) {
	g := imageGateway(t, nil)
	resp, a := g.generate(t, `{"model":"gpt-image-1","prompt":"a lighthouse","n":2,"response_format":"url"}`)
	if resp.StatusCode != http.StatusOK || len(a.Data) != 2 {
		t.Fatalf("status %d, %d images: %+v", resp.StatusCode, len(a.Data), a.Error)
	}
	task := resp.Header.Get("X-Switchyard-Task-Id")
	for i, d := range a.Data {
		if d.B64JSON != "" || !strings.HasPrefix(d.URL, g.base+"/p/img/"+task+"/") {
			t.Fatalf("image %d: url %q", i, d.URL)
		}
		resp, b := get(t, d.URL, "") // no API key: the signature is the credential
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "image/png" {
			t.Fatalf("GET signed url: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		decodeImage(t, b)
	}
	u, _ := url.Parse(a.Data[0].URL)
	q := u.Query()
	tamper := func(mod func(u *url.URL)) string {
		c := *u
		mod(&c)
		return c.String()
	}
	sig := q.Get("sig")
	flipped := string(rune(sig[0]^1)) + sig[1:]
	cases := map[string]string{
		"tampered signature": tamper(func(c *url.URL) { v := c.Query(); v.Set("sig", flipped); c.RawQuery = v.Encode() }),
		"other index":        tamper(func(c *url.URL) { c.Path = strings.TrimSuffix(c.Path, "/0") + "/1" }),
		"later expiry":       tamper(func(c *url.URL) { v := c.Query(); v.Set("exp", q.Get("exp")+"0"); c.RawQuery = v.Encode() }),
		"no signature":       tamper(func(c *url.URL) { c.RawQuery = "" }),
	}
	for name, link := range cases {
		resp, b := get(t, link, "")
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(b), "invalid_signature") {
			t.Errorf("%s: %d %s", name, resp.StatusCode, b)
		}
	}
	// A genuine link past its expiry, signed with the node's own key.
	signer := images.NewSigner(g.app.Keyring())
	expired, _ := signer.URL(g.base, task, 0, time.Now().Add(-time.Minute))
	if resp, b := get(t, expired, ""); resp.StatusCode != http.StatusForbidden || !strings.Contains(string(b), "link_expired") {
		t.Errorf("expired: %d %s", resp.StatusCode, b)
	}
	missing, _ := signer.URL(g.base, task, 7, time.Now().Add(time.Minute))
	if resp, b := get(t, missing, ""); resp.StatusCode != http.StatusGone {
		t.Errorf("unstored index: %d %s", resp.StatusCode, b)
	}
	// The task lists the stored images with fresh links.
	tj := g.waitTask(t, task, finished)
	if tj.Status != "succeeded" || len(tj.Data) != 2 {
		t.Fatalf("task %+v", tj)
	}
	if resp, _ := get(t, tj.Data[1].URL, ""); resp.StatusCode != http.StatusOK {
		t.Errorf("task link: %d", resp.StatusCode)
	}
	// Another user's key cannot read the task.
	if resp, b := get(t, g.base+"/v1/images/tasks/"+task, otherKey); resp.StatusCode != http.StatusNotFound || !strings.Contains(string(b), "task_not_found") {
		t.Errorf("other user's key: %d %s", resp.StatusCode, b)
	}
}

func TestImageFanOutDallE3(t *testing.T) {
	g := imageGateway(t, nil)
	before := len(g.mock.Requests("img-1"))
	resp, a := g.generate(t, `{"model":"dall-e-3","prompt":"three cats","n":3}`)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %+v", resp.StatusCode, a.Error)
	}
	if len(a.Data) != 3 {
		t.Fatalf("%d images, want 3", len(a.Data))
	}
	for _, d := range a.Data {
		// dall-e-3's own default format is url; the gateway's links are signed.
		if !strings.Contains(d.URL, "/p/img/") || d.RevisedPrompt == "" {
			t.Errorf("datum %+v", d)
		}
		if resp, _ := get(t, d.URL, ""); resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s: %d", d.URL, resp.StatusCode)
		}
	}
	recs := g.mock.Requests("img-1")[before:]
	if len(recs) != 3 {
		t.Fatalf("%d upstream calls, want 3", len(recs))
	}
	for _, r := range recs {
		var sent map[string]any
		_ = json.Unmarshal([]byte(r.Body), &sent)
		if sent["n"] != float64(1) || sent["response_format"] != "b64_json" {
			t.Errorf("upstream call %v", sent)
		}
	}
	resp, a = g.generate(t, `{"model":"dall-e-3","prompt":"x","n":2,"stream":true}`)
	if resp.StatusCode != http.StatusBadRequest || a.Error.Param != "n" {
		t.Errorf("stream with fan-out: %d %+v", resp.StatusCode, a.Error)
	}
}

func TestImageDallEURLDownloaded(t *testing.T) {
	// dall-e-2 asked for url: the upstream is asked for base64 and the
	// gateway stores it; a client asking b64_json of a URL-only upstream
	// is covered by convert's url path through the mock's file URLs.
	g := imageGateway(t, nil)
	resp, a := g.generate(t, `{"model":"dall-e-2","prompt":"x","n":2,"response_format":"url"}`)
	if resp.StatusCode != http.StatusOK || len(a.Data) != 2 || !strings.Contains(a.Data[1].URL, "/p/img/") {
		t.Fatalf("status %d %+v %+v", resp.StatusCode, a.Data, a.Error)
	}
}

// pngBytes encodes a w×h image; pad adds a private ancillary chunk of that
// many bytes, which decoders skip, to make a large upload of small pixels.
func pngBytes(t testing.TB, w, h, pad int) []byte {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = byte(i * 7)
	}
	img.Set(0, 0, color.NRGBA{1, 2, 3, 255})
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	raw := b.Bytes()
	if pad == 0 {
		return raw
	}
	// IHDR ends at 8+25 bytes; insert the chunk right after it.
	chunk := make([]byte, 12+pad)
	chunk[0], chunk[1], chunk[2], chunk[3] = byte(pad>>24), byte(pad>>16), byte(pad>>8), byte(pad)
	copy(chunk[4:], "spAd")
	// CRC over type and data.
	crc := crc32.ChecksumIEEE(chunk[4 : 8+pad])
	chunk[8+pad], chunk[9+pad], chunk[10+pad], chunk[11+pad] = byte(crc>>24), byte(crc>>16), byte(crc>>8), byte(crc)
	out := append([]byte{}, raw[:33]...)
	out = append(out, chunk...)
	return append(out, raw[33:]...)
}

type formFile struct {
	field, name, ctype string
	data               []byte
}

func multipartBody(t testing.TB, fields [][2]string, files []formFile) (*bytes.Buffer, string) {
	t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	for _, f := range fields {
		_ = mw.WriteField(f[0], f[1])
	}
	for _, f := range files {
		h := textproto.MIMEHeader{}
		h.Set("Content-Disposition", fmt.Sprintf(`form-data; name=%q; filename=%q`, f.field, f.name))
		h.Set("Content-Type", f.ctype)
		w, _ := mw.CreatePart(h)
		_, _ = w.Write(f.data)
	}
	_ = mw.Close()
	return &b, mw.FormDataContentType()
}

func sum(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

func TestImageEditsMultipart(t *testing.T) {
	g := imageGateway(t, nil)
	imgs := [][]byte{pngBytes(t, 64, 48, 0), pngBytes(t, 32, 32, 0), pngBytes(t, 16, 16, 1000)}
	mask := pngBytes(t, 64, 48, 0)
	for _, count := range []int{1, 3} {
		t.Run(fmt.Sprint(count, " images"), func(t *testing.T) {
			field := "image"
			if count > 1 {
				field = "image[]"
			}
			var files []formFile
			for i := range count {
				// The part's content type lies; the gateway sniffs the bytes.
				files = append(files, formFile{field, fmt.Sprintf("in%d.bin", i), "application/octet-stream", imgs[i]})
			}
			files = append(files, formFile{"mask", "mask.png", "image/png", mask})
			body, ctype := multipartBody(t, [][2]string{{"model", "gpt-image-1"}, {"prompt", "add a hat"}, {"n", "2"},
				{"input_fidelity", "high"}, {"size", "1024x1024"}}, files)
			before := len(g.mock.Requests("img-1"))
			resp, a := g.imagePost(t, "/v1/images/edits", testKey, ctype, body, nil)
			if resp.StatusCode != http.StatusOK || len(a.Data) != 2 {
				t.Fatalf("status %d, %d images: %+v", resp.StatusCode, len(a.Data), a.Error)
			}
			recs := g.mock.Requests("img-1")[before:]
			if len(recs) != 1 || recs[0].Path != "/v1/images/edits" {
				t.Fatalf("upstream calls %+v", recs)
			}
			got := map[string]string{}
			var files2 []mock.PartSummary
			for _, p := range recs[0].Parts {
				if p.FileName != "" {
					files2 = append(files2, p)
				} else {
					got[p.Field] = p.Value
				}
			}
			if got["model"] != "gpt-image-1" || got["prompt"] != "add a hat" || got["n"] != "2" || got["input_fidelity"] != "high" {
				t.Errorf("upstream fields %v", got)
			}
			if len(files2) != count+1 {
				t.Fatalf("upstream got %d files, want %d", len(files2), count+1)
			}
			for i := range count {
				if files2[i].Field != field || files2[i].SHA256 != sum(imgs[i]) || files2[i].ContentType != "image/png" {
					t.Errorf("file %d: %+v", i, files2[i])
				}
			}
			if m := files2[count]; m.Field != "mask" || m.SHA256 != sum(mask) {
				t.Errorf("mask %+v", m)
			}
		})
	}
}

func TestImageEditsRefuseBadInput(t *testing.T) {
	g := imageGateway(t, nil)
	svg := []byte(`<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"></svg>`)
	cases := []struct {
		name   string
		files  []formFile
		fields [][2]string
		param  string
	}{
		{"svg", []formFile{{"image", "a.png", "image/png", svg}}, nil, "image[0]"},
		{"text", []formFile{{"image[]", "a.png", "image/png", pngBytes(t, 8, 8, 0)}, {"image[]", "b.png", "image/png", []byte("hello world, not an image")}}, nil, "image[1]"},
		{"truncated png", []formFile{{"image", "a.png", "image/png", pngBytes(t, 64, 64, 0)[:60]}}, nil, "image[0]"},
		{"no image", nil, nil, "image"},
		{"bad n", []formFile{{"image", "a.png", "image/png", pngBytes(t, 8, 8, 0)}}, [][2]string{{"n", "two"}}, "n"},
		{"two masks", []formFile{{"image", "a.png", "image/png", pngBytes(t, 8, 8, 0)}, {"mask", "m.png", "image/png", pngBytes(t, 8, 8, 0)}, {"mask", "m.png", "image/png", pngBytes(t, 8, 8, 0)}}, nil, "mask"},
	}
	before := len(g.mock.Requests("img-1"))
	for _, c := range cases {
		fields := append([][2]string{{"model", "gpt-image-1"}, {"prompt", "x"}}, c.fields...)
		body, ctype := multipartBody(t, fields, c.files)
		resp, a := g.imagePost(t, "/v1/images/edits", testKey, ctype, body, nil)
		if resp.StatusCode != http.StatusBadRequest || a.Error == nil || a.Error.Param != c.param {
			t.Errorf("%s: %d %+v, want 400 naming %s", c.name, resp.StatusCode, a.Error, c.param)
		}
	}
	if n := len(g.mock.Requests("img-1")) - before; n != 0 {
		t.Errorf("%d bad edits reached the upstream", n)
	}
}

func TestImageEditsJSON(t *testing.T) {
	g := imageGateway(t, nil)
	img := pngBytes(t, 20, 20, 0)
	data := "data:image/png;base64," + base64.StdEncoding.EncodeToString(img)
	body := fmt.Sprintf(`{"model":"gpt-image-1","prompt":"sky","images":[{"image_url":%q},{"image_url":"https://example.com/a.png"}],"mask":{"image_url":%q}}`, data, data)
	before := len(g.mock.Requests("img-1"))
	resp, a := g.imagePost(t, "/v1/images/edits", testKey, "application/json", strings.NewReader(body), nil)
	if resp.StatusCode != http.StatusOK || len(a.Data) != 1 {
		t.Fatalf("status %d: %+v", resp.StatusCode, a.Error)
	}
	recs := g.mock.Requests("img-1")[before:]
	if len(recs) != 1 || len(recs[0].Parts) != 3 || recs[0].Parts[0].SHA256 != sum(img) || recs[0].Parts[1].Value != "https://example.com/a.png" {
		t.Fatalf("upstream got %+v", recs)
	}
	bad := fmt.Sprintf(`{"model":"gpt-image-1","prompt":"sky","images":[{"image_url":"data:image/svg+xml;base64,%s"}]}`,
		base64.StdEncoding.EncodeToString([]byte(`<svg xmlns="http://www.w3.org/2000/svg"/>`)))
	resp, a = g.imagePost(t, "/v1/images/edits", testKey, "application/json", strings.NewReader(bad), nil)
	if resp.StatusCode != http.StatusBadRequest || a.Error.Param != "images[0]" {
		t.Errorf("svg data URL: %d %+v", resp.StatusCode, a.Error)
	}
}

func TestImageStreamPartials(t *testing.T) {
	g := imageGateway(t, nil)
	req, _ := http.NewRequest(http.MethodPost, g.base+"/v1/images/generations",
		strings.NewReader(`{"model":"gpt-image-1","prompt":"stream me","stream":true,"partial_images":2}`))
	req.Header.Set("Authorization", "Bearer "+testKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("status %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	rd := sse.NewReader(resp.Body, 0)
	var names []string
	for {
		ev, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, ev.Name)
		var e struct {
			Type    string `json:"type"`
			B64JSON string `json:"b64_json"`
		}
		if err := json.Unmarshal(ev.Data, &e); err != nil || e.Type != ev.Name {
			t.Fatalf("event %s: %v %.100s", ev.Name, err, ev.Data)
		}
		raw, _ := base64.StdEncoding.DecodeString(e.B64JSON)
		decodeImage(t, raw)
	}
	want := "image_generation.partial_image,image_generation.partial_image,image_generation.completed"
	if strings.Join(names, ",") != want {
		t.Errorf("events %v, want %s", names, want)
	}
	task := resp.Header.Get("X-Switchyard-Task-Id")
	if tj := g.waitTask(t, task, finished); tj.Status != "succeeded" || tj.Delivered != 1 {
		t.Errorf("task %+v", tj)
	}
}

func TestImageAsyncTask(t *testing.T) {
	g := imageGateway(t, nil)
	resp, _ := g.imagePost(t, "/v1/images/generations", testKey, "application/json",
		strings.NewReader(`{"model":"gpt-image-1","prompt":"slow [[mock latency=300ms]]","n":2}`),
		map[string]string{"Prefer": "respond-async"})
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("status %d", resp.StatusCode)
	}
	task := resp.Header.Get("X-Switchyard-Task-Id")
	tj := g.waitTask(t, task, func(taskJSON) bool { return true })
	if tj.ID != task || !tj.Async || finished(tj) {
		t.Errorf("right after submit: %+v", tj)
	}
	tj = g.waitTask(t, task, finished)
	if tj.Status != "succeeded" || tj.Delivered != 2 || len(tj.Data) != 2 || tj.Progress != 100 {
		t.Fatalf("task %+v", tj)
	}
	for _, d := range tj.Data {
		if resp, b := get(t, d.URL, ""); resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s: %d", d.URL, resp.StatusCode)
		} else {
			decodeImage(t, b)
		}
	}
	req, _ := http.NewRequest(http.MethodDelete, g.base+"/v1/images/tasks/"+task, nil)
	req.Header.Set("Authorization", "Bearer "+testKey)
	dresp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	dresp.Body.Close()
	if dresp.StatusCode != http.StatusConflict {
		t.Errorf("cancel of a finished task: %d", dresp.StatusCode)
	}

	// An async multipart edit keeps its inputs until it runs.
	body, ctype := multipartBody(t, [][2]string{{"model", "gpt-image-1"}, {"prompt", "later"}, {"async", "true"}},
		[]formFile{{"image", "a.png", "image/png", pngBytes(t, 30, 30, 0)}})
	resp, _ = g.imagePost(t, "/v1/images/edits", testKey, ctype, body, nil)
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("async edit: %d", resp.StatusCode)
	}
	tj = g.waitTask(t, resp.Header.Get("X-Switchyard-Task-Id"), finished)
	if tj.Status != "succeeded" || tj.Delivered != 1 {
		t.Errorf("async edit task %+v", tj)
	}
}

func TestImageAsyncCancel(t *testing.T) {
	g := imageGateway(t, nil)
	resp, _ := g.imagePost(t, "/v1/images/generations", testKey, "application/json",
		strings.NewReader(`{"model":"gpt-image-1","prompt":"very slow [[mock latency=20s]]","async":true}`), nil)
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("status %d", resp.StatusCode)
	}
	task := resp.Header.Get("X-Switchyard-Task-Id")
	g.waitTask(t, task, func(tj taskJSON) bool { return tj.Status == "running" })
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodDelete, g.base+"/v1/images/tasks/"+task, nil)
	req.Header.Set("Authorization", "Bearer "+testKey)
	dresp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var tj taskJSON
	_ = json.NewDecoder(dresp.Body).Decode(&tj)
	dresp.Body.Close()
	if dresp.StatusCode != http.StatusOK || tj.Status != "cancelled" {
		t.Fatalf("cancel: %d %+v", dresp.StatusCode, tj)
	}
	// It stays cancelled: the runner's late result does not overwrite it.
	time.Sleep(300 * time.Millisecond)
	if tj = g.waitTask(t, task, finished); tj.Status != "cancelled" {
		t.Errorf("after cancel: %+v", tj)
	}
}

// TestImageUpstreamURLs: an upstream that answers with URLs is downloaded
// from its own host (the channel's, which the operator configured), so the
// client gets base64 or the gateway's own signed link, never the
// upstream's URL.
func TestImageUpstreamURLs(t *testing.T) {
	g := imageGateway(t, nil)
	for _, format := range []string{"b64_json", "url"} {
		resp, a := g.generate(t, `{"model":"gpt-image-1","prompt":"urls [[mock image_urls]]","n":2,"response_format":"`+format+`"}`)
		if resp.StatusCode != http.StatusOK || len(a.Data) != 2 {
			t.Fatalf("%s: status %d, %d images: %+v", format, resp.StatusCode, len(a.Data), a.Error)
		}
		for _, d := range a.Data {
			var raw []byte
			if format == "url" {
				if !strings.Contains(d.URL, "/p/img/") || d.B64JSON != "" {
					t.Fatalf("url answer %+v", d)
				}
				var r *http.Response
				r, raw = get(t, d.URL, "")
				if r.StatusCode != http.StatusOK {
					t.Fatalf("GET: %d", r.StatusCode)
				}
			} else {
				if d.URL != "" {
					t.Fatalf("the upstream's URL leaked: %q", d.URL)
				}
				raw, _ = base64.StdEncoding.DecodeString(d.B64JSON)
			}
			decodeImage(t, raw)
		}
	}
}

// TestImageUpstreamURLOtherHostRefused: a URL an upstream returns on any
// other host goes through the SSRF guard: a loopback target is refused,
// so the image is not delivered and nothing is billed.
func TestImageUpstreamURLOtherHostRefused(t *testing.T) {
	var hits atomic.Int32
	internal := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Content-Type", "image/png")
		_, _ = w.Write(pngBytes(t, 4, 4, 0))
	}))
	t.Cleanup(internal.Close)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"created":1,"data":[{"url":%q}]}`, internal.URL+"/secret.png")
	}))
	t.Cleanup(up.Close)
	g := startGateway(t, func(cfg *config.Config) {
		cfg.Channels = append(cfg.Channels, config.Channel{Name: "evil", Type: "openai", BaseURL: up.URL,
			Models: []string{"evil-image"}, Credentials: []config.Credential{{Key: "e-1"}}})
	})
	resp, a := g.generate(t, `{"model":"evil-image","prompt":"x"}`)
	if resp.StatusCode != http.StatusBadGateway || a.Error == nil {
		t.Fatalf("status %d %+v, want 502", resp.StatusCode, a.Error)
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("the gateway fetched a loopback URL an upstream named (%d hits)", n)
	}
}
