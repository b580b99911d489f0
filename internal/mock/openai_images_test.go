package mock

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"image"
	_ "image/jpeg" // registered for image.DecodeConfig
	_ "image/png"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"strings"
	"testing"
)

type imagesOut struct {
	Created int64 `json:"created"`
	Data    []struct {
		B64JSON       string `json:"b64_json"`
		URL           string `json:"url"`
		RevisedPrompt string `json:"revised_prompt"`
	} `json:"data"`
	OutputFormat string `json:"output_format"`
	Size         string `json:"size"`
	Quality      string `json:"quality"`
	Usage        *struct {
		InputTokens        int            `json:"input_tokens"`
		OutputTokens       int            `json:"output_tokens"`
		TotalTokens        int            `json:"total_tokens"`
		InputTokensDetails map[string]int `json:"input_tokens_details"`
	} `json:"usage"`
}

// imageDims decodes PNG/JPEG headers, and reads WebP's VP8L header directly
// (the standard library has no WebP decoder; the encoder is checked against
// golang.org/x/image/webp out of tree).
func imageDims(t *testing.T, raw []byte, format string) (int, int) {
	t.Helper()
	if format == "webp" {
		if len(raw) < 30 || string(raw[:4]) != "RIFF" || string(raw[8:12]) != "WEBP" {
			t.Fatalf("not a RIFF/WEBP file: % x", raw[:min(len(raw), 16)])
		}
		if int(binary.LittleEndian.Uint32(raw[4:])) != len(raw)-8 {
			t.Fatalf("RIFF size %d, file %d", binary.LittleEndian.Uint32(raw[4:]), len(raw))
		}
		off := 12
		if string(raw[12:16]) == "VP8X" {
			off += 8 + 10
		}
		if string(raw[off:off+4]) != "VP8L" || raw[off+8] != 0x2f {
			t.Fatalf("no VP8L chunk at %d", off)
		}
		bits := binary.LittleEndian.Uint32(raw[off+9:])
		return int(bits&0x3fff) + 1, int(bits>>14&0x3fff) + 1
	}
	cfg, got, err := image.DecodeConfig(bytes.NewReader(raw))
	if err != nil || got != format {
		t.Fatalf("decode %s: got format %q, err %v", format, got, err)
	}
	return cfg.Width, cfg.Height
}

func TestImageGenerations(t *testing.T) {
	_, ts := newServer(t, Options{})
	tests := []struct {
		name         string
		body         map[string]any
		format       string
		w, h         int
		validateSpec bool
		wantUsage    bool
	}{
		{"defaults", map[string]any{"model": "gpt-image-1", "prompt": "a cat"}, "png", 1024, 1024, true, true},
		{"auto size jpeg", map[string]any{"prompt": "a cat", "size": "auto", "output_format": "jpeg", "quality": "low"}, "jpeg", 1024, 1024, true, true},
		{"portrait webp n=2", map[string]any{"prompt": "a cat", "size": "1024x1536", "output_format": "webp", "n": 2, "quality": "high"}, "webp", 1024, 1536, true, true},
		{"custom size", map[string]any{"prompt": "a cat", "size": "640x480"}, "png", 640, 480, false, true},
		{"dall-e-3", map[string]any{"model": "dall-e-3", "prompt": "a cat", "size": "1792x1024"}, "png", 1792, 1024, false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := mustOK(t, ts, req{path: "/v1/images/generations", body: tc.body})
			if tc.validateSpec {
				validate(t, "ImagesResponse", b)
			}
			var out imagesOut
			decodeInto(t, b, &out)
			n, _ := tc.body["n"].(int)
			if len(out.Data) != max(1, n) {
				t.Fatalf("%d images", len(out.Data))
			}
			raw, err := base64.StdEncoding.DecodeString(out.Data[0].B64JSON)
			if err != nil {
				t.Fatal(err)
			}
			if w, h := imageDims(t, raw, tc.format); w != tc.w || h != tc.h {
				t.Fatalf("image %dx%d, want %dx%d", w, h, tc.w, tc.h)
			}
			if (out.Usage != nil) != tc.wantUsage {
				t.Fatalf("usage present %v, want %v", out.Usage != nil, tc.wantUsage)
			}
			if out.Usage != nil && (out.Usage.OutputTokens <= 0 || out.Usage.TotalTokens != out.Usage.InputTokens+out.Usage.OutputTokens) {
				t.Fatalf("usage %+v", out.Usage)
			}
			if tc.body["model"] == "dall-e-3" && out.Data[0].RevisedPrompt != "a cat" {
				t.Fatalf("revised_prompt %q", out.Data[0].RevisedPrompt)
			}
		})
	}
	if resp, _ := do(t, ts, req{path: "/v1/images/generations", body: map[string]any{"prompt": "x", "size": "huge"}}); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("bad size: status %d", resp.StatusCode)
	}
}

func TestImageURLAndPadding(t *testing.T) {
	_, ts := newServer(t, Options{})
	b := mustOK(t, ts, req{path: "/v1/images/generations", body: map[string]any{"model": "dall-e-2", "prompt": "[[mock image_bytes=300000]] a dog", "response_format": "url", "size": "256x256"}})
	var out imagesOut
	decodeInto(t, b, &out)
	if out.Data[0].URL == "" || out.Data[0].B64JSON != "" {
		t.Fatalf("want a url only: %s", b)
	}
	resp, err := ts.Client().Get(out.Data[0].URL)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/png" {
		t.Fatalf("file: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if w, h := imageDims(t, raw, "png"); w != 256 || h != 256 {
		t.Fatalf("file is %dx%d", w, h)
	}
	if len(raw) < 290_000 || len(raw) > 310_000 {
		t.Fatalf("padded image is %d bytes, want about 300000", len(raw))
	}
	for _, f := range []string{"jpeg", "webp"} {
		var o imagesOut
		decodeInto(t, mustOK(t, ts, req{path: "/v1/images/generations", header: map[string]string{"X-Mock-Fault": "image_bytes=200000"},
			body: map[string]any{"prompt": "x", "output_format": f}}), &o)
		raw, _ := base64.StdEncoding.DecodeString(o.Data[0].B64JSON)
		if w, h := imageDims(t, raw, f); w != 1024 || h != 1024 || len(raw) < 190_000 || len(raw) > 210_000 {
			t.Fatalf("%s padded: %dx%d, %d bytes", f, w, h, len(raw))
		}
	}
	if resp, _ := do(t, ts, req{method: "GET", path: "/_mock/files/nope", noAuth: true}); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("missing file: %d", resp.StatusCode)
	}
}

func TestImageGenerationStream(t *testing.T) {
	_, ts := newServer(t, Options{})
	b := mustOK(t, ts, req{path: "/v1/images/generations", body: map[string]any{"prompt": "a fox", "stream": true, "partial_images": 2}})
	evs := parseSSE(t, b)
	want := []string{"image_generation.partial_image", "image_generation.partial_image", "image_generation.completed"}
	if len(evs) != len(want) {
		t.Fatalf("%d events: %v", len(evs), evs)
	}
	for i, ev := range evs {
		if ev.name != want[i] {
			t.Fatalf("event %d: %q, want %q", i, ev.name, want[i])
		}
		schema := "ImageGenPartialImageEvent"
		if i == 2 {
			schema = "ImageGenCompletedEvent"
		}
		validate(t, schema, []byte(ev.data))
		if i < 2 && !strings.Contains(ev.data, `"partial_image_index":`+string(rune('0'+i))) {
			t.Fatalf("partial index: %s", clip([]byte(ev.data)))
		}
	}
}

type filePart struct {
	field, name, ctype string
	data               []byte
}

func multipartBody(t *testing.T, fields map[string]string, files []filePart) ([]byte, string) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for k, v := range fields {
		if err := mw.WriteField(k, v); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range files {
		h := textproto.MIMEHeader{}
		h.Set("Content-Disposition", `form-data; name="`+f.field+`"; filename="`+f.name+`"`)
		h.Set("Content-Type", f.ctype)
		w, err := mw.CreatePart(h)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = w.Write(f.data)
	}
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), mw.FormDataContentType()
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func TestImageEditsMultipart(t *testing.T) {
	s, ts := newServer(t, Options{})
	img1 := bytes.Repeat([]byte{1}, 5000)
	img2 := bytes.Repeat([]byte{2}, 7000)
	mask := bytes.Repeat([]byte{3}, 900)
	files := []filePart{{"image[]", "a.png", "image/png", img1}, {"image[]", "b.jpg", "image/jpeg", img2}, {"mask", "m.png", "image/png", mask}}
	body, ctype := multipartBody(t, map[string]string{"model": "gpt-image-1", "prompt": "add a hat", "size": "1024x1024", "quality": "low"}, files)
	b := mustOK(t, ts, req{path: "/v1/images/edits", key: "edit-key", body: body, ctype: ctype})
	validate(t, "ImagesResponse", b)
	var out imagesOut
	decodeInto(t, b, &out)
	if out.Usage.InputTokensDetails["image_tokens"] != 2*imageInputTokensPerImage {
		t.Fatalf("input image tokens %v (want 2 images)", out.Usage.InputTokensDetails)
	}

	recs := s.Requests("edit-key")
	if len(recs) != 1 {
		t.Fatalf("%d recorded", len(recs))
	}
	got := map[string]PartSummary{}
	for _, p := range recs[0].Parts {
		got[p.Field+"/"+p.FileName] = p
	}
	for _, f := range files {
		p, ok := got[f.field+"/"+f.name]
		if !ok || p.Size != int64(len(f.data)) || p.SHA256 != sha(f.data) || p.ContentType != f.ctype {
			t.Fatalf("part %s/%s recorded as %+v", f.field, f.name, p)
		}
	}
	if p := got["prompt/"]; p.Value != "add a hat" {
		t.Fatalf("prompt field recorded as %+v", p)
	}

	// A single "image" field, streamed.
	files[0].field = "image"
	body, ctype = multipartBody(t, map[string]string{"prompt": "x", "stream": "true", "partial_images": "1"}, files[:1])
	evs := parseSSE(t, mustOK(t, ts, req{path: "/v1/images/edits", body: body, ctype: ctype}))
	if len(evs) != 2 || evs[0].name != "image_edit.partial_image" || evs[1].name != "image_edit.completed" {
		t.Fatalf("edit stream events: %v", evs)
	}
	validate(t, "ImageEditPartialImageEvent", []byte(evs[0].data))
	validate(t, "ImageEditCompletedEvent", []byte(evs[1].data))

	// No image at all is a client error.
	body, ctype = multipartBody(t, map[string]string{"prompt": "x"}, nil)
	if resp, _ := do(t, ts, req{path: "/v1/images/edits", body: body, ctype: ctype}); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("edit without image: %d", resp.StatusCode)
	}
}

func TestImageEditsJSON(t *testing.T) {
	s, ts := newServer(t, Options{})
	png := []byte("\x89PNG fake bytes")
	dataURL := "data:image/png;base64," + base64.StdEncoding.EncodeToString(png)
	mustOK(t, ts, req{path: "/v1/images/edits", key: "json-edit", body: map[string]any{"prompt": "p", "images": []map[string]any{
		{"image_url": dataURL}, {"image_url": "https://example.com/x.png"}}, "mask": map[string]any{"image_url": dataURL}}})
	parts := s.Requests("json-edit")[0].Parts
	if len(parts) != 3 || parts[0].Field != "images[0]" || parts[0].SHA256 != sha(png) || parts[0].Size != int64(len(png)) ||
		parts[0].ContentType != "image/png" || parts[1].Value != "https://example.com/x.png" || parts[2].Field != "mask" {
		t.Fatalf("parts %+v", parts)
	}
}
