package mock

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"strconv"
	"strings"
)

// imageRequest is the union of generation and edit parameters, from JSON
// or from multipart fields.
type imageRequest struct {
	Model          string `json:"model"`
	Prompt         string `json:"prompt"`
	N              int    `json:"n"`
	Size           string `json:"size"`
	Quality        string `json:"quality"`
	OutputFormat   string `json:"output_format"`
	ResponseFormat string `json:"response_format"`
	Background     string `json:"background"`
	Stream         bool   `json:"stream"`
	PartialImages  int    `json:"partial_images"`

	// JSON edits: images and mask by URL (data: or http).
	Images []imageRef `json:"images"`
	Mask   *imageRef  `json:"mask"`

	inputImages int
}

type imageRef struct {
	ImageURL string `json:"image_url"`
	FileID   string `json:"file_id"`
}

func (s *Server) imageGenerations(c *call) {
	var req imageRequest
	if !c.decode(&req) {
		return
	}
	s.serveImages(c, &req, "image_generation")
}

func (s *Server) imageEdits(c *call) {
	var req imageRequest
	if c.form != nil {
		req = formImageRequest(c.form)
		for _, p := range c.parts {
			if p.FileName != "" && p.Field != "mask" {
				req.inputImages++
			}
		}
	} else {
		if !c.decode(&req) {
			return
		}
		c.parts = jsonImageParts(&req)
		req.inputImages = len(req.Images)
	}
	if req.inputImages == 0 {
		c.fail(http.StatusBadRequest, "image: at least one input image is required")
		return
	}
	s.serveImages(c, &req, "image_edit")
}

func formImageRequest(form map[string][]string) imageRequest {
	get := func(k string) string {
		if v := form[k]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	req := imageRequest{
		Model: get("model"), Prompt: get("prompt"), Size: get("size"), Quality: get("quality"),
		OutputFormat: get("output_format"), ResponseFormat: get("response_format"), Background: get("background"),
	}
	req.N, _ = strconv.Atoi(get("n"))
	req.PartialImages, _ = strconv.Atoi(get("partial_images"))
	req.Stream, _ = strconv.ParseBool(get("stream"))
	return req
}

// jsonImageParts summarises JSON edit inputs like multipart files: data URLs
// are decoded and hashed, other URLs kept as given.
func jsonImageParts(req *imageRequest) []PartSummary {
	var out []PartSummary
	add := func(field string, ref imageRef) {
		p := PartSummary{Field: field}
		if rest, ok := strings.CutPrefix(ref.ImageURL, "data:"); ok {
			meta, data, _ := strings.Cut(rest, ",")
			p.ContentType, _, _ = strings.Cut(meta, ";")
			raw, err := base64.StdEncoding.DecodeString(data)
			if err == nil {
				sum := sha256.Sum256(raw)
				p.Size, p.SHA256 = int64(len(raw)), hex.EncodeToString(sum[:])
			}
		} else if ref.ImageURL != "" {
			p.Value = ref.ImageURL
		} else {
			p.Value = "file_id:" + ref.FileID
		}
		out = append(out, p)
	}
	for i, ref := range req.Images {
		add(fmt.Sprintf("images[%d]", i), ref)
	}
	if req.Mask != nil {
		add("mask", *req.Mask)
	}
	return out
}

const formValueCap = 4 << 10

// readMultipart streams the form: files are hashed and counted as they pass,
// text fields are kept (they are small) for the handler and for directives.
func (c *call) readMultipart(boundary string) error {
	if boundary == "" {
		return fmt.Errorf("no boundary in Content-Type")
	}
	mr := multipart.NewReader(io.LimitReader(c.r.Body, maxBodyBytes), boundary)
	c.form = map[string][]string{}
	var total int64
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		ps := PartSummary{Field: part.FormName(), FileName: part.FileName(), ContentType: part.Header.Get("Content-Type")}
		if ps.FileName != "" {
			h := sha256.New()
			n, err := io.Copy(h, part)
			if err != nil {
				return fmt.Errorf("read part %q: %w", ps.Field, err)
			}
			ps.Size, ps.SHA256 = n, hex.EncodeToString(h.Sum(nil))
		} else {
			var b bytes.Buffer
			n, err := b.ReadFrom(io.LimitReader(part, 1<<20))
			if err != nil {
				return fmt.Errorf("read field %q: %w", ps.Field, err)
			}
			ps.Size = n
			c.form[ps.Field] = append(c.form[ps.Field], b.String())
			ps.Value = firstRunes(b.String(), formValueCap)
		}
		total += ps.Size
		c.parts = append(c.parts, ps)
	}
	c.r.ContentLength = max(c.r.ContentLength, total)
	return nil
}

// gpt-image-1's output tokens for a 1024x1024 image by quality; other sizes
// scale by area.
var imageOutputTokens = map[string]int{"low": 272, "medium": 1056, "high": 4160}

const imageInputTokensPerImage = 323

type imageUsage struct {
	TotalTokens        int            `json:"total_tokens"`
	InputTokens        int            `json:"input_tokens"`
	OutputTokens       int            `json:"output_tokens"`
	InputTokensDetails map[string]int `json:"input_tokens_details"`
	OutputTokensDetail map[string]int `json:"output_tokens_details,omitempty"`
}

type imageDatum struct {
	B64JSON       string `json:"b64_json,omitempty"`
	URL           string `json:"url,omitempty"`
	RevisedPrompt string `json:"revised_prompt,omitempty"`
}

// serveImages answers generations and edits; kind is the stream event prefix.
func (s *Server) serveImages(c *call, req *imageRequest, kind string) {
	w, h, err := parseImageSize(req.Size)
	if err != nil {
		c.fail(http.StatusBadRequest, err.Error())
		return
	}
	format := req.OutputFormat
	if format == "" {
		format = "png"
	}
	if format != "png" && format != "jpeg" && format != "webp" {
		c.fail(http.StatusBadRequest, fmt.Sprintf("output_format %q: want png, jpeg or webp", format))
		return
	}
	n := max(1, req.N)
	if n > 10 {
		c.fail(http.StatusBadRequest, "n: must be at most 10")
		return
	}
	if strings.HasPrefix(c.modelOr(req.Model, ""), "dall-e-3") && n > 1 {
		// As OpenAI answers: DALL·E 3 makes one image per request.
		c.fail(http.StatusBadRequest, "You must provide n=1 for this model.")
		return
	}
	if d := c.fault.ImagesDelivered; d > 0 && d < n {
		n = d // a batch that came back short; usage counts what was made
	}
	if req.PartialImages < 0 || req.PartialImages > 3 {
		c.fail(http.StatusBadRequest, "partial_images: must be between 0 and 3")
		return
	}
	img, err := s.images.get(format, w, h, c.fault.ImageBytes)
	if err != nil {
		c.fail(http.StatusInternalServerError, err.Error())
		return
	}
	model := c.modelOr(req.Model, "gpt-image-1")
	quality := req.Quality
	if quality == "" || quality == "auto" || quality == "standard" || quality == "hd" {
		quality = map[string]string{"hd": "high", "standard": "medium"}[quality]
		if quality == "" {
			quality = "medium"
		}
	}
	background := req.Background
	if background == "" || background == "auto" {
		background = "opaque"
	}
	size := req.Size
	if size == "" || size == "auto" {
		size = "1024x1024"
	}
	u := imageUsageFor(req, quality, w, h, n)
	if req.Stream {
		s.imageStream(c, img, kind, req, size, quality, background, format, u, n)
		return
	}
	data := make([]imageDatum, n)
	for i := range data {
		if req.ResponseFormat == "url" || c.fault.ImageURLs {
			id := s.newID("img_")
			s.files.put(id, img)
			data[i].URL = fileURL(c.r, id)
		} else {
			data[i].B64JSON = img.b64
		}
		if strings.HasPrefix(model, "dall-e-3") {
			data[i].RevisedPrompt = stripDirectives(req.Prompt)
		}
	}
	resp := map[string]any{"created": s.now().Unix(), "data": data}
	if !strings.HasPrefix(model, "dall-e") {
		// gpt-image models describe the output and bill in tokens.
		resp["background"], resp["output_format"], resp["quality"], resp["size"], resp["usage"] = background, format, quality, size, u
	}
	c.reply(resp)
}

func imageUsageFor(req *imageRequest, quality string, w, h, n int) imageUsage {
	text := max(1, len(req.Prompt)/4)
	imgIn := req.inputImages * imageInputTokensPerImage
	out := n * imageOutputTokens[quality] * w * h / (1024 * 1024)
	return imageUsage{
		TotalTokens: text + imgIn + out, InputTokens: text + imgIn, OutputTokens: out,
		InputTokensDetails: map[string]int{"text_tokens": text, "image_tokens": imgIn},
		OutputTokensDetail: map[string]int{"image_tokens": out, "text_tokens": 0},
	}
}

func fileURL(r *http.Request, id string) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + "/_mock/files/" + id
}

type imageEvent struct {
	Type              string      `json:"type"`
	B64JSON           string      `json:"b64_json"`
	CreatedAt         int64       `json:"created_at"`
	Size              string      `json:"size"`
	Quality           string      `json:"quality"`
	Background        string      `json:"background"`
	OutputFormat      string      `json:"output_format"`
	PartialImageIndex *int        `json:"partial_image_index,omitempty"`
	Usage             *imageUsage `json:"usage,omitempty"`
}

// imageStream sends partial_images previews then a completed event per
// image, as named SSE events.
func (s *Server) imageStream(c *call, img *encodedImage, kind string, req *imageRequest, size, quality, background, format string, u imageUsage, n int) {
	st := c.startStream(modeSSE)
	ev := imageEvent{B64JSON: img.b64, CreatedAt: s.now().Unix(), Size: size, Quality: quality, Background: background, OutputFormat: format}
	for range n {
		for p := 0; p < req.PartialImages && st.ok(); p++ {
			e := ev
			e.Type = kind + ".partial_image"
			e.PartialImageIndex = &p
			st.sendJSON(e.Type, e)
		}
		e := ev
		e.Type = kind + ".completed"
		e.Usage = &u
		st.sendJSON(e.Type, e)
	}
}

func (s *Server) handleFile(w http.ResponseWriter, r *http.Request) {
	img, ok := s.files.get(r.PathValue("id"))
	if !ok {
		writeJSON(w, http.StatusNotFound, openAIError(http.StatusNotFound, "file not found or expired", "not_found"))
		return
	}
	w.Header().Set("Content-Type", img.contentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(img.raw)))
	_, _ = w.Write(img.raw)
}
