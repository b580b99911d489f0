package openai

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"mime"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"os"
	"strconv"
	"strings"

	"github.com/switchyard/switchyard/internal/api"
	"github.com/switchyard/switchyard/internal/apierror"
	"github.com/switchyard/switchyard/internal/images"
)

// Multipart edits are read part by part: each file goes to a spool file as
// it arrives, unread, so memory does not grow with the upload. The images
// are inspected only once the request may go ahead: the key is
// authenticated before the body is read, the model authorized after the
// whole form is (the client chooses the order of its parts), and the
// full decode runs after the reservation (relay.ExchangeCall.Prepare), so
// a key that may not use the model, or has no credit, costs the node no
// decode. An async submission reads the headers before its 202 (a few
// kilobytes each, whatever they claim); its decode comes when the runner
// has reserved. Each attempt's upstream body is written from the spool
// files through a pipe, so a retry resends the same bytes and nothing is
// held in memory either.

const (
	maxFormField  = 64 << 10 // one text field (a prompt is at most 32k characters)
	maxFormFields = 1 << 20  // all text fields together
	maxFormParts  = 64
	spoolBuffer   = 256 << 10
)

// ImageEdits serves POST /v1/images/edits, multipart or JSON.
func (h *Handler) ImageEdits(w http.ResponseWriter, r *http.Request) {
	key, ok := h.imageKey(w, r)
	if !ok {
		return
	}
	mt, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt != "multipart/form-data" {
		body, err := api.ReadJSONBody(r)
		if err != nil {
			if ae := apierror.As(err); ae != nil && ae.Code == apierror.CodeUnsupportedMediaType {
				err = apierror.UnsupportedMediaType(r.Header.Get("Content-Type"), "multipart/form-data or application/json")
			}
			h.fail(w, r, err)
			return
		}
		job, flags, err := h.jsonImageJob(body, "edit")
		if err != nil {
			h.fail(w, r, err)
			return
		}
		h.serveImageJob(w, r, key, job, flags)
		return
	}
	job, flags, err := h.readEditForm(r, params["boundary"])
	if err != nil {
		job.removeSpool()
		h.fail(w, r, err)
		return
	}
	h.serveImageJob(w, r, key, job, flags)
}

// readEditForm streams the multipart body into a job; on error the job's
// spool files must still be removed.
func (h *Handler) readEditForm(r *http.Request, boundary string) (*imageJob, imageFlags, error) {
	job := &imageJob{Kind: "edit", Multipart: true}
	var f imageFlags
	if boundary == "" {
		return job, f, apierror.InvalidRequest("The multipart Content-Type has no boundary.", "")
	}
	// multipart reads its source 4 KB at a time; a larger buffer under it
	// saves most of the read calls on a large upload.
	mr := multipart.NewReader(bufio.NewReaderSize(r.Body, spoolBuffer), boundary)
	textBytes, parts, images_ := 0, 0, 0
	seen := map[string]bool{}
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return job, f, formError(err)
		}
		parts++
		if parts > maxFormParts {
			return job, f, apierror.InvalidRequest(fmt.Sprintf("The form has more than %d parts.", maxFormParts), "")
		}
		name := p.FormName()
		switch {
		case name == "":
			return job, f, apierror.InvalidRequest("A form part has no name.", "")
		case name == "image" || name == "image[]" || name == "mask" || p.FileName() != "":
			if name != "image" && name != "image[]" && name != "mask" {
				return job, f, apierror.InvalidRequest(fmt.Sprintf("Unexpected file in form field %q; images go in image, image[] or mask.", name), name)
			}
			if name == "mask" && job.hasMask() {
				return job, f, apierror.InvalidRequest("Only one mask may be given.", "mask")
			}
			if name != "mask" {
				images_++
				if images_ > h.img.o.MaxInputs {
					return job, f, apierror.InvalidRequest(fmt.Sprintf("At most %d input images are accepted.", h.img.o.MaxInputs), "image")
				}
			}
			param := "mask"
			if name != "mask" {
				param = fmt.Sprintf("image[%d]", images_-1)
			}
			in, err := h.spoolImage(p, name, param)
			if in.path != "" {
				job.Files = append(job.Files, in)
			}
			if err != nil {
				return job, f, err
			}
		default:
			b, err := io.ReadAll(io.LimitReader(p, maxFormField+1))
			if err != nil {
				return job, f, formError(err)
			}
			if len(b) > maxFormField {
				return job, f, apierror.InvalidRequest(fmt.Sprintf("Form field %q is longer than %d bytes.", name, maxFormField), name)
			}
			if single[name] {
				if seen[name] {
					// The upstream may read the first where the gateway
					// reads the last: one value, or none.
					return job, f, apierror.InvalidRequest(fmt.Sprintf("Form field %q is given more than once.", name), name)
				}
				seen[name] = true
			}
			textBytes += len(b)
			if textBytes > maxFormFields {
				return job, f, apierror.InvalidRequest("The form's text fields are too large together.", "")
			}
			if err := f.setForm(name, string(b)); err != nil {
				return job, f, err
			}
			if !owned[name] {
				job.Form = append(job.Form, formField{Name: name, Value: string(b)})
			}
		}
	}
	if images_ == 0 {
		return job, f, apierror.InvalidRequest("An edit needs at least one input image: upload it as image (or image[] for several).", "image")
	}
	job.PromptBytes = len(f.Prompt)
	return job, f, nil
}

// single are the form fields the gateway reads for authorization and
// price, which may be given at most once.
var single = map[string]bool{"model": true, "n": true, "size": true, "quality": true}

func (j *imageJob) hasMask() bool {
	for _, f := range j.Files {
		if f.Field == "mask" {
			return true
		}
	}
	return false
}

// setForm reads a multipart text field the gateway needs.
func (f *imageFlags) setForm(name, v string) error {
	atoi := func() (int, error) {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil {
			return 0, apierror.InvalidRequest(fmt.Sprintf("%s must be an integer; got %q.", name, v), name)
		}
		return n, nil
	}
	atob := func() (bool, error) {
		b, err := strconv.ParseBool(strings.TrimSpace(v))
		if err != nil {
			return false, apierror.InvalidRequest(fmt.Sprintf("%s must be true or false; got %q.", name, v), name)
		}
		return b, nil
	}
	var err error
	switch name {
	case "model":
		f.Model = v
	case "prompt":
		f.Prompt, f.hasPrompt = v, true
	case "size":
		f.Size = v
	case "quality":
		f.Quality = v
	case "response_format":
		f.ResponseFormat = v
	case "n":
		f.N, err = atoi()
	case "partial_images":
		f.PartialImages, err = atoi()
	case "stream":
		f.Stream, err = atob()
	case "async":
		f.Async, err = atob()
	}
	return err
}

// spoolImage copies one uploaded image to a spool file, unread: its
// inspection comes once the request may go ahead. The returned file has a
// path whenever one was created, error or not.
func (h *Handler) spoolImage(p *multipart.Part, field, param string) (inputFile, error) {
	in := inputFile{Field: field, Filename: cleanFilename(p.FileName(), field)}
	tmp, err := os.CreateTemp(h.img.o.SpoolDir, "upload-*")
	if err != nil {
		return in, fmt.Errorf("spool %s: %w", param, err)
	}
	in.path = tmp.Name()
	defer tmp.Close()
	// multipart.Part reads in small pieces; buffered, the spool file is
	// written in large ones.
	bw := bufio.NewWriterSize(tmp, spoolBuffer)
	limit := h.img.o.Limits.MaxBytes
	n, err := io.Copy(bw, io.LimitReader(p, limit+1))
	if err != nil {
		return in, formError(err)
	}
	if n > limit {
		return in, apierror.InvalidRequest(fmt.Sprintf("%s is larger than %d bytes.", param, limit), param)
	}
	if err := bw.Flush(); err != nil {
		return in, fmt.Errorf("spool %s: %w", param, err)
	}
	if err := tmp.Close(); err != nil {
		return in, fmt.Errorf("spool %s: %w", param, err)
	}
	in.Size = n
	return in, nil
}

// inputParam names the job's file i in errors: image[k] or mask.
func (j *imageJob) inputParam(i int) string {
	if j.Files[i].Field == "mask" {
		return "mask"
	}
	k := 0
	for _, f := range j.Files[:i] {
		if f.Field != "mask" {
			k++
		}
	}
	return fmt.Sprintf("image[%d]", k)
}

// checkHeaders reads each spooled upload's header (format, dimensions,
// estimated decode memory) without decoding it, and records its content
// type: what an async submission checks before its 202.
func (h *Handler) checkHeaders(job *imageJob) error {
	for i := range job.Files {
		in := &job.Files[i]
		f, err := os.Open(in.path)
		if err != nil {
			return fmt.Errorf("open spooled %s: %w", job.inputParam(i), err)
		}
		info, err := images.InspectHeader(f, h.img.o.Limits)
		f.Close()
		if err != nil {
			return inspectError(job.inputParam(i), err)
		}
		in.ContentType = info.ContentType()
	}
	return nil
}

// prepare is the exchange's relay.ExchangeCall.Prepare: the job's images
// decoded in full, once for all the calls of a fanned-out job.
func (x *imageExchange) prepare(ctx context.Context) error {
	j := x.job
	j.inspected.Do(func() { j.inspectErr = x.h.inspectInputs(ctx, j) })
	return j.inspectErr
}

// inspectInputs decodes every image the job uploads (files, and a JSON
// edit's data: URLs), within the byte limits and at most images.MaxDecodes
// at a time on this node, and records each file's content type.
func (h *Handler) inspectInputs(ctx context.Context, j *imageJob) error {
	limits := h.img.o.Limits
	for i := range j.Files {
		in := &j.Files[i]
		rc, err := h.openInput(ctx, *in)
		if err != nil {
			return err
		}
		info, err := images.Inspect(ctx, rc, limits)
		rc.Close()
		if err != nil {
			return decodeError(ctx, j.inputParam(i), err)
		}
		in.ContentType = info.ContentType()
	}
	for param, u := range jsonDataURLs(j.Body) {
		_, data, _ := strings.Cut(u, ",")
		if _, err := images.Inspect(ctx, base64Reader(data), limits); err != nil {
			return decodeError(ctx, param, err)
		}
	}
	return nil
}

// decodeError is the client's 400 for an image that fails its decode, or
// the server's error for a spool or store that cannot be read.
func decodeError(ctx context.Context, param string, err error) error {
	var b64 base64.CorruptInputError
	switch {
	case ctx.Err() != nil:
		return fmt.Errorf("inspect %s: %w", param, err)
	case errors.As(err, &b64), errors.Is(err, images.ErrUnsupported), errors.Is(err, images.ErrTooLarge), errors.Is(err, images.ErrInvalid):
		return inspectError(param, err)
	}
	return fmt.Errorf("inspect %s: %w", param, err)
}

// jsonDataURLs yields a JSON edit's data: URL images by their param
// (images[i], mask); the request was checked as it was read.
func jsonDataURLs(body map[string]json.RawMessage) iter.Seq2[string, string] {
	return func(yield func(string, string) bool) {
		type ref struct {
			ImageURL string `json:"image_url"`
		}
		var imgs []ref
		_ = json.Unmarshal(body["images"], &imgs)
		for i, r := range imgs {
			if strings.HasPrefix(r.ImageURL, "data:") && !yield(fmt.Sprintf("images[%d]", i), r.ImageURL) {
				return
			}
		}
		var m ref
		if raw, ok := body["mask"]; ok && json.Unmarshal(raw, &m) == nil && strings.HasPrefix(m.ImageURL, "data:") {
			yield("mask", m.ImageURL)
		}
	}
}

// cleanFilename keeps a safe base name for the upstream's form; it is
// never used as a path here.
func cleanFilename(name, field string) string {
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	name = strings.Map(func(r rune) rune {
		if r < 0x20 || r == '"' || r == 0x7f {
			return -1
		}
		return r
	}, name)
	if name == "" || name == "." || name == ".." {
		name = strings.TrimSuffix(field, "[]") + ".png"
	}
	if len(name) > 200 {
		name = name[len(name)-200:]
	}
	return name
}

// inspectError turns an Inspect failure into the client's 400 (or 413).
func inspectError(param string, err error) error {
	var mbe *http.MaxBytesError
	var b64 base64.CorruptInputError
	switch {
	case errors.As(err, &mbe):
		return apierror.RequestTooLarge(mbe.Limit)
	case errors.As(err, &b64):
		return apierror.InvalidRequest(fmt.Sprintf("%s: the data URL's base64 is invalid at byte %d.", param, int64(b64)), param)
	case errors.Is(err, images.ErrUnsupported), errors.Is(err, images.ErrTooLarge), errors.Is(err, images.ErrInvalid):
		return apierror.InvalidRequest(fmt.Sprintf("%s: %v", param, err), param)
	}
	return formError(err)
}

// formError is a multipart body that could not be read.
func formError(err error) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return apierror.RequestTooLarge(mbe.Limit)
	}
	return fmt.Errorf("%w: %w", apierror.InvalidRequest("The multipart body could not be read: "+err.Error(), ""), err)
}

// inspectDataURL checks a data: URL image of a JSON edit as it is read:
// its size and header; the decode waits for the reservation (Prepare).
func inspectDataURL(param, u string, limits images.Limits) error {
	meta, data, ok := strings.Cut(strings.TrimPrefix(u, "data:"), ",")
	if !ok || !strings.HasSuffix(meta, ";base64") {
		return apierror.InvalidRequest(param+".image_url: a data URL must be base64 (data:image/png;base64,…).", param)
	}
	if limits.MaxBytes > 0 && int64(base64.StdEncoding.DecodedLen(len(data))) > limits.MaxBytes+2 {
		return apierror.InvalidRequest(fmt.Sprintf("%s is larger than %d bytes.", param, limits.MaxBytes), param)
	}
	if _, err := images.InspectHeader(base64Reader(data), limits); err != nil {
		return inspectError(param, err)
	}
	return nil
}

// multipartBody writes the upstream form for one attempt through a pipe:
// the job's text fields, the four the gateway owns, then the files from
// their spool files or the image store. The goroutine ends when the form
// is written or the transport closes the reader.
func (x *imageExchange) multipartBody(ctx context.Context, upstreamModel string) (io.ReadCloser, string) {
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		err := x.writeForm(ctx, mw, upstreamModel)
		if err == nil {
			err = mw.Close()
		}
		pw.CloseWithError(err)
	}()
	return pr, mw.FormDataContentType()
}

func (x *imageExchange) writeForm(ctx context.Context, mw *multipart.Writer, upstreamModel string) error {
	j := x.job
	fields := []formField{{"model", upstreamModel}, {"n", strconv.Itoa(x.n)}}
	if x.dalle {
		fields = append(fields, formField{"response_format", "b64_json"})
	}
	if x.streams() {
		fields = append(fields, formField{"stream", "true"})
	}
	for _, f := range append(fields, j.Form...) {
		if err := mw.WriteField(f.Name, f.Value); err != nil {
			return err
		}
	}
	for _, in := range j.Files {
		hd := textproto.MIMEHeader{}
		hd.Set("Content-Disposition", fmt.Sprintf(`form-data; name="%s"; filename="%s"`, in.Field, in.Filename))
		hd.Set("Content-Type", in.ContentType)
		pw, err := mw.CreatePart(hd)
		if err != nil {
			return err
		}
		src, err := x.h.openInput(ctx, in)
		if err != nil {
			return err
		}
		_, err = io.Copy(pw, src)
		src.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

func (h *Handler) openInput(ctx context.Context, in inputFile) (io.ReadCloser, error) {
	if in.path != "" {
		return os.Open(in.path)
	}
	rc, _, err := h.img.o.Store.Open(ctx, in.Key)
	if err != nil {
		return nil, fmt.Errorf("open input image %s: %w", in.Key, err)
	}
	return rc, nil
}
