package openai_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"image"
	"image/gif"
	"image/jpeg"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/config"
	"github.com/switchyard/switchyard/internal/images"
	"github.com/switchyard/switchyard/internal/mock"
)

// The image fuzz targets call the gateway's handler in-process, as
// FuzzEndpoints does, so an iteration costs a fraction of a millisecond;
// the gateway still reaches the mock upstream over a loopback socket.

// imageGatewayData is imageGateway that also returns the node's data_dir.
func imageGatewayData(t testing.TB, mutate func(cfg *config.Config)) (*gateway, string) {
	t.Helper()
	var dir string
	g := imageGateway(t, func(cfg *config.Config) {
		if mutate != nil {
			mutate(cfg)
		}
		dir = cfg.Server.DataDir
	})
	return g, dir
}

// spoolLeft lists what is in the upload spool (data_dir/tmp).
func spoolLeft(t testing.TB, dataDir string) []string {
	t.Helper()
	// A request's spool files are removed as its handler returns, which
	// is just after a non-stream client has its answer: wait a moment for
	// that before calling a file left over.
	deadline := time.Now().Add(2 * time.Second)
	for {
		entries, err := os.ReadDir(filepath.Join(dataDir, "tmp"))
		if err != nil {
			t.Fatalf("read the spool: %v", err)
		}
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		if len(names) == 0 || time.Now().After(deadline) {
			return names
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// maxFuzzPixels keeps a fuzzed size from making the mock draw a huge
// picture: the gateway accepts sides up to 16384, which the mock would
// then encode for seconds.
const maxFuzzPixels = 1 << 21

func hugeSize(s string) bool {
	ws, hs, ok := strings.Cut(s, "x")
	w, err1 := strconv.Atoi(ws)
	h, err2 := strconv.Atoi(hs)
	return ok && err1 == nil && err2 == nil && int64(w)*int64(h) > maxFuzzPixels
}

// formIsTame reads a fuzzed form as the gateway will and reports whether
// it is fit for an iteration: no mock directive in any decoded part (Go
// decodes quoted-printable parts) and no huge size.
func formIsTame(body []byte, boundary string) bool {
	if boundary == "" {
		return true
	}
	mr := multipart.NewReader(bytes.NewReader(body), boundary)
	for {
		p, err := mr.NextPart()
		if err != nil {
			return true
		}
		b, _ := io.ReadAll(io.LimitReader(p, 1<<20))
		if bytes.Contains(b, []byte("[[mock")) || (p.FormName() == "size" && hugeSize(strings.TrimSpace(string(b)))) {
			return false
		}
	}
}

// imageFuzzCall is one in-process request and what the mock saw of it.
type imageFuzzCall struct {
	status int
	header http.Header
	body   []byte
	recs   []mock.RecordedRequest // upstream calls it caused
}

// serveImage runs req through the gateway's handler and waits for an
// async task it queued to end, so the mock's records of the next
// iteration are the next iteration's alone.
func serveImage(t *testing.T, g *gateway, req *http.Request) imageFuzzCall {
	t.Helper()
	// The mock keeps its last 512 requests, so the new ones are found by
	// sequence number rather than by count.
	var last int64
	if recs := g.mock.Requests("img-1"); len(recs) > 0 {
		last = recs[len(recs)-1].Seq
	}
	rec := httptest.NewRecorder()
	start := time.Now()
	g.app.Router().Handler().ServeHTTP(rec, req)
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("%s %s took %v", req.Method, req.URL, d)
	}
	if rec.Code == http.StatusAccepted {
		g.waitTask(t, rec.Header().Get("X-Switchyard-Task-Id"), finished)
	}
	var recs []mock.RecordedRequest
	for _, r := range g.mock.Requests("img-1") {
		if r.Seq > last {
			recs = append(recs, r)
		}
	}
	return imageFuzzCall{status: rec.Code, header: rec.Header(), body: rec.Body.Bytes(), recs: recs}
}

// checkImageCall holds for every image request: no 5xx of the gateway's
// own making (502 and 503 speak for the upstream), an OpenAI error for
// every failure, and a 400 of the gateway's own never preceded by an
// upstream call.
func checkImageCall(t *testing.T, path string, in []byte, c imageFuzzCall) {
	t.Helper()
	if c.status >= 500 && c.status != http.StatusBadGateway && c.status != http.StatusServiceUnavailable {
		t.Fatalf("POST %s %q: status %d: %.300s", path, in, c.status, c.body)
	}
	checkOpenAIAnswer(t, path, in, c.status, c.body)
	if c.status == http.StatusBadRequest {
		for _, r := range c.recs {
			if r.Status < 400 {
				t.Fatalf("POST %s %q: answered 400 after the upstream accepted it (%d): %.300s", path, in, r.Status, c.body)
			}
		}
	}
	if c.status == http.StatusOK && len(c.recs) == 0 {
		t.Fatalf("POST %s %q: 200 without an upstream call", path, in)
	}
}

// editSeeds are the forms FuzzImageEditMultipart starts from.
func editSeeds(t testing.TB) []struct {
	boundary string
	body     []byte
} {
	png8 := pngBytes(t, 8, 8, 0)
	jpeg8 := jpegBytes(t, 8, 8)
	gif8 := gifBytes(t, 8, 8)
	base := [][2]string{{"model", "gpt-image-1"}, {"prompt", "add a hat"}}
	forms := []struct {
		fields [][2]string
		files  []formFile
	}{
		{base, []formFile{{"image", "a.png", "image/png", png8}}},
		{append(base, [2]string{"n", "2"}, [2]string{"size", "256x256"}, [2]string{"input_fidelity", "high"}),
			[]formFile{{"image[]", "a.png", "image/png", png8}, {"image[]", "b.jpg", "image/jpeg", jpeg8}, {"mask", "m.png", "image/png", png8}}},
		{append(base, [2]string{"response_format", "url"}), []formFile{{"image", "g.gif", "application/octet-stream", gif8}}},
		{append(base, [2]string{"stream", "true"}, [2]string{"partial_images", "1"}), []formFile{{"image", "a.png", "image/png", png8}}},
		{append(base, [2]string{"async", "true"}), []formFile{{"image", "a.png", "image/png", png8}}},
		{base, []formFile{{"image", "../../etc/passwd", "image/png", png8}}},
		{base, []formFile{{"image", "x.svg", "image/svg+xml", []byte(`<svg xmlns="http://www.w3.org/2000/svg"/>`)}}},
		{base, []formFile{{"image", "t.png", "image/png", png8[:40]}}},
		{base, []formFile{{"other", "a.png", "image/png", png8}}},
		{[][2]string{{"model", "dall-e-2"}, {"prompt", "x"}, {"n", "3"}}, []formFile{{"image", "a.png", "image/png", png8}}},
		{[][2]string{{"prompt", "no model"}}, []formFile{{"image", "a.png", "image/png", png8}}},
	}
	var out []struct {
		boundary string
		body     []byte
	}
	for _, f := range forms {
		b, ctype := multipartBody(t, f.fields, f.files)
		_, params, _ := mime.ParseMediaType(ctype)
		out = append(out, struct {
			boundary string
			body     []byte
		}{params["boundary"], b.Bytes()})
	}
	// A boundary that needs quoting, and bare LF line ends.
	b := strings.ReplaceAll(string(out[0].body), out[0].boundary, "a'(b)+_,-./:=?z")
	out = append(out, struct {
		boundary string
		body     []byte
	}{"a'(b)+_,-./:=?z", []byte(b)})
	out = append(out, struct {
		boundary string
		body     []byte
	}{out[0].boundary, bytes.ReplaceAll(out[0].body, []byte("\r\n"), []byte("\n"))})
	// Parts in the client's order: the model after the image, fields the
	// gateway prices given twice, and a header whose decode would take
	// 196 MB (over images.max_decode_bytes, under the pixel limit).
	img := func(data []byte) rawPart {
		return rawPart{disposition: `form-data; name="image"; filename="a.png"`, ctype: "image/png", data: data}
	}
	for _, parts := range [][]rawPart{
		{field("prompt", "x"), img(png8), field("model", "gpt-image-1")},
		{field("prompt", "x"), img(png8), field("model", "gpt-image-1"), field("async", "true")},
		{field("model", "dall-e-2"), field("prompt", "x"), img(png8), field("model", "gpt-image-1")},
		{field("model", "gpt-image-1"), field("n", "1"), field("prompt", "x"), img(png8), field("n", "9")},
		{field("model", "gpt-image-1"), field("size", "256x256"), field("quality", "low"), field("quality", "high"), field("prompt", "x"), img(png8)},
		{field("model", "gpt-image-1"), field("prompt", "x"), img(pngBomb(7000, 7000))},
	} {
		b, ctype := rawForm(parts)
		_, params, _ := mime.ParseMediaType(ctype)
		out = append(out, struct {
			boundary string
			body     []byte
		}{params["boundary"], b.Bytes()})
	}
	return out
}

// FuzzImageEditMultipart sends fuzzed multipart bodies to /v1/images/edits.
// Whatever the form, the gateway answers without a 5xx of its own, fails
// in OpenAI's error shape, forwards only what it accepted, sends the
// upstream only sniffed image types and safe file names, and leaves no
// spool file behind.
func FuzzImageEditMultipart(f *testing.F) {
	for _, s := range editSeeds(f) {
		f.Add(s.boundary, s.body)
	}
	g, dataDir := imageGatewayData(f, nil)
	f.Fuzz(func(t *testing.T, boundary string, body []byte) {
		if mock.CarriesDirective(body) || !formIsTame(body, boundary) {
			return
		}
		ctype := mime.FormatMediaType("multipart/form-data", map[string]string{"boundary": boundary})
		if ctype == "" {
			ctype = "multipart/form-data; boundary=" + boundary
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		req := httptest.NewRequestWithContext(ctx, http.MethodPost, "/v1/images/edits", bytes.NewReader(body))
		req.Header.Set("Content-Type", ctype)
		req.Header.Set("Authorization", "Bearer "+testKey)
		c := serveImage(t, g, req)
		checkImageCall(t, "/v1/images/edits", body, c)
		if left := spoolLeft(t, dataDir); len(left) != 0 {
			t.Fatalf("status %d left %v in the spool for %q", c.status, left, body)
		}
		for _, r := range c.recs {
			for _, p := range r.Parts {
				if p.FileName == "" {
					continue
				}
				switch p.ContentType {
				case "image/png", "image/jpeg", "image/webp", "image/gif":
				default:
					t.Fatalf("the upstream got file %q as %q for %q", p.FileName, p.ContentType, body)
				}
				if p.FileName != filepath.Base(p.FileName) || strings.ContainsAny(p.FileName, "/\\\"\x00\r\n") || len(p.FileName) > 200 {
					t.Fatalf("the upstream got file name %q for %q", p.FileName, body)
				}
			}
		}
	})
}

// FuzzImageGenerationJSON sends fuzzed JSON to /v1/images/generations:
// never a 500, an OpenAI error for every failure, no upstream call behind
// a 400 of the gateway's own.
func FuzzImageGenerationJSON(f *testing.F) {
	for _, s := range []string{
		`{"model":"gpt-image-1","prompt":"a red fox","n":2,"size":"256x256","quality":"low","background":"transparent"}`,
		`{"model":"dall-e-3","prompt":"three cats","n":3,"response_format":"url"}`,
		`{"model":"dall-e-2","prompt":"x","n":1,"response_format":"b64_json","size":"256x256"}`,
		`{"model":"gpt-image-1","prompt":"stream","stream":true,"partial_images":2,"size":"256x256"}`,
		`{"model":"gpt-image-1","prompt":"later","async":true,"size":"256x256"}`,
		`{"model":"gpt-image-1","prompt":"x","size":"0x10"}`,
		`{"model":"gpt-image-1","prompt":"x","n":"2"}`,
		`{"model":"gpt-image-1","prompt":null,"n":null}`,
		`{"model":"gpt-image-1","model":"dall-e-3","prompt":"x"}`,
		`{"model":"claude-test","prompt":"x"}`,
		`{"model":["gpt-image-1"],"prompt":{"text":"x"}}`,
		`[{"model":"gpt-image-1"}]`,
		`{"model":"gpt-image-1","prompt":"x","stream":true,"async":true}`,
		`{"model":"gpt-image-1","prompt":"x","n":1e400}`,
		`{"model":"gpt-image-1","prompt":"x","size":"256x256","SIZE":"4096x4096","quality":"low","Quality":"high"}`,
		`{"model":"gpt-image-1","prompt":"x","n":1,"n":10,"N":10,"stream":false,"Stream":true}`,
		`{"model":"gpt-image-1","prompt":"x","si\u007ae":"256x256","images":[],"IMAGES":[]}`,
	} {
		f.Add([]byte(s))
	}
	g := imageGateway(f, nil)
	f.Fuzz(func(t *testing.T, body []byte) {
		if mock.CarriesDirective(body) {
			return
		}
		var m map[string]json.RawMessage
		if json.Unmarshal(body, &m) == nil {
			var size string
			if json.Unmarshal(m["size"], &size) == nil && hugeSize(size) {
				return
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		req := httptest.NewRequestWithContext(ctx, http.MethodPost, "/v1/images/generations", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+testKey)
		checkImageCall(t, "/v1/images/generations", body, serveImage(t, g, req))
	})
}

// fuzzMethods are the methods FuzzSignedImagePath picks from by index.
var fuzzMethods = []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodDelete, http.MethodPut, http.MethodOptions}

// plantedMarker is in files planted next to and inside the image store;
// no answer may ever carry it.
const plantedMarker = "PLANTED-SECRET-7f3a"

// plantFiles puts files the signed-URL handler must never serve: beside
// the store, inside it under names that are not keys, and behind a
// symlink out of it (TestHostileImageStoreSymlink asks for that one with
// a genuine signature, which a fuzzer cannot make).
func plantFiles(t testing.TB, dataDir, task string) {
	t.Helper()
	store := filepath.Join(dataDir, "images")
	for _, p := range []string{
		filepath.Join(dataDir, "planted.png"),
		filepath.Join(dataDir, "0"),
		filepath.Join(store, "planted"),
		filepath.Join(store, task, "00"),
		filepath.Join(store, task, "planted"),
	} {
		if err := os.WriteFile(p, []byte(plantedMarker), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// A task directory that is a symlink to data_dir: key "escape/0"
	// would read data_dir/0 if the store followed it out.
	if err := os.Symlink(dataDir, filepath.Join(store, "escape")); err != nil {
		t.Fatal(err)
	}
}

// FuzzSignedImagePath asks for fuzzed paths and queries under /p/img/.
// An answer is 200 only for exactly the path and query the gateway signed,
// with the stored image's bytes; otherwise an OpenAI error of 400, 403,
// 404, 405 or 410 (or ServeMux's redirect to the cleaned path). No answer
// carries a file planted beside or inside the store.
func FuzzSignedImagePath(f *testing.F) {
	g, dataDir := imageGatewayData(f, nil)
	resp, a := g.generate(f, `{"model":"gpt-image-1","prompt":"x","response_format":"url","size":"64x64"}`)
	if resp.StatusCode != http.StatusOK || len(a.Data) != 1 {
		f.Fatalf("generate: %d %+v", resp.StatusCode, a.Error)
	}
	task := resp.Header.Get("X-Switchyard-Task-Id")
	plantFiles(f, dataDir, task)
	signer := images.NewSigner(g.app.Keyring())
	valid, err := url.Parse(a.Data[0].URL)
	if err != nil {
		f.Fatal(err)
	}
	exp := time.Now().Add(time.Hour)
	other, _ := signer.URL("", task, 7, exp)
	expired, _ := signer.URL("", task, 0, time.Now().Add(-time.Hour))
	q := valid.RawQuery
	for _, s := range []struct {
		method uint8
		target string
	}{
		{0, valid.RequestURI()},
		{1, valid.RequestURI()},
		{2, valid.RequestURI()},
		{0, valid.Path},
		{0, other},
		{0, expired},
		{0, valid.Path + "?" + q + "&sig=x"},
		{0, strings.Replace(valid.RequestURI(), "sig=", "sig=A", 1)},
		{0, images.PathPrefix + task + "/00?" + q},
		{0, images.PathPrefix + task + "/planted?" + q},
		{0, images.PathPrefix + task + "/0/../../../planted.png?" + q},
		{0, images.PathPrefix + "%2e%2e/%2e%2e/planted.png?" + q},
		{0, images.PathPrefix + "..%2F..%2Fplanted.png/0?" + q},
		{0, images.PathPrefix + task + "%2F0/0?" + q},
		{0, images.PathPrefix + task + "/-1?" + q},
		{0, images.PathPrefix + strings.Repeat("a", 65) + "/0?" + q},
		{0, images.PathPrefix + task + "/0?exp=00&sig="},
	} {
		f.Add(s.method, s.target)
	}
	h := g.app.Router().Handler()
	storeDir := filepath.Join(dataDir, "images")
	f.Fuzz(func(t *testing.T, m uint8, target string) {
		method := fuzzMethods[int(m)%len(fuzzMethods)]
		req, err := http.ReadRequest(bufio.NewReader(strings.NewReader(method + " " + target + " HTTP/1.1\r\nHost: gw\r\n\r\n")))
		if err != nil || req.Method != method {
			return // net/http refuses it before any handler runs
		}
		if !strings.HasPrefix(req.URL.Path, images.PathPrefix) {
			return // other paths are FuzzEndpoints' and the router's business
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		req = req.WithContext(ctx)
		req.RemoteAddr = "127.0.0.1:1234"
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		body := rec.Body.Bytes()
		if bytes.Contains(body, []byte(plantedMarker)) {
			t.Fatalf("%s %q served a planted file: %d", method, target, rec.Code)
		}
		switch rec.Code {
		case http.StatusOK:
			checkSignedServe(t, signer, storeDir, method, target, req, body)
		case http.StatusMovedPermanently, http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
			if loc := rec.Header().Get("Location"); loc == "" {
				t.Fatalf("%s %q: redirect without a Location", method, target)
			}
		case http.StatusBadRequest, http.StatusForbidden, http.StatusNotFound, http.StatusMethodNotAllowed, http.StatusGone:
			if method != http.MethodHead {
				checkOpenAIAnswer(t, target, nil, rec.Code, body)
			}
		default:
			t.Fatalf("%s %q: status %d: %.300s", method, target, rec.Code, body)
		}
	})
}

// checkSignedServe fails unless a 200 answered exactly a path and query
// the signer made, with the stored bytes of that image.
func checkSignedServe(t *testing.T, signer *images.Signer, storeDir, method, target string, req *http.Request, body []byte) {
	t.Helper()
	if method != http.MethodGet && method != http.MethodHead {
		t.Fatalf("%s %q: 200", method, target)
	}
	task, idx, err := images.ParsePath(req.URL.Path)
	if err != nil {
		t.Fatalf("%s %q: 200 for a path the gateway never made (%v)", method, target, err)
	}
	q := req.URL.Query()
	exp, err := strconv.ParseInt(q.Get("exp"), 10, 64)
	if err != nil {
		t.Fatalf("%s %q: 200 without a valid exp", method, target)
	}
	want, err := signer.Sign(task, idx, time.Unix(exp, 0))
	if err != nil || want != "exp="+q.Get("exp")+"&sig="+q.Get("sig") {
		t.Fatalf("%s %q: 200 for a signature the gateway did not make", method, target)
	}
	if method == http.MethodHead {
		return
	}
	stored, err := os.ReadFile(filepath.Join(storeDir, task, strconv.Itoa(idx)))
	if err != nil || !bytes.Equal(stored, body) {
		t.Fatalf("%s %q: served %d bytes that are not the stored image (%v)", method, target, len(body), err)
	}
}

// jpegBytes and gifBytes are small valid images of the other formats.
func jpegBytes(t testing.TB, w, h int) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := jpeg.Encode(&b, testPicture(w, h), nil); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func gifBytes(t testing.TB, w, h int) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := gif.Encode(&b, testPicture(w, h), nil); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func testPicture(w, h int) image.Image {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = byte(i * 7)
	}
	return img
}
