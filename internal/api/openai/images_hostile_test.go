package openai_test

import (
	"bytes"
	"compress/zlib"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"net/http"
	"path/filepath"
	"runtime/metrics"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/config"
	"github.com/switchyard/switchyard/internal/images"
)

// rawPart is one part of a hand-written form: disposition is the whole
// Content-Disposition value, so tests can put in it what multipart.Writer
// would escape.
type rawPart struct {
	disposition, ctype string
	data               []byte
}

func rawForm(parts []rawPart) (*bytes.Buffer, string) {
	const boundary = "hostile-boundary-1234"
	var b bytes.Buffer
	for _, p := range parts {
		fmt.Fprintf(&b, "--%s\r\nContent-Disposition: %s\r\n", boundary, p.disposition)
		if p.ctype != "" {
			fmt.Fprintf(&b, "Content-Type: %s\r\n", p.ctype)
		}
		b.WriteString("\r\n")
		b.Write(p.data)
		b.WriteString("\r\n")
	}
	fmt.Fprintf(&b, "--%s--\r\n", boundary)
	return &b, "multipart/form-data; boundary=" + boundary
}

func field(name, value string) rawPart {
	return rawPart{disposition: fmt.Sprintf(`form-data; name=%q`, name), data: []byte(value)}
}

// treeFiles lists the regular files under root, relative to it.
func treeFiles(t testing.TB, root string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			rel, _ := filepath.Rel(root, p)
			out = append(out, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("walk %s: %v", root, err)
	}
	return out
}

// newFiles is what after has that before had not, leaving out the
// database's files and the billing journal, which the node writes as it
// serves.
func newFiles(before, after []string) []string {
	var out []string
	for _, f := range after {
		own := strings.Contains(filepath.Base(f), "switchyard.db") || strings.Contains(filepath.ToSlash(f), "billing/journal-")
		if !slices.Contains(before, f) && !own {
			out = append(out, f)
		}
	}
	return out
}

// TestHostileImageFilenames: whatever file name a client gives, the
// upstream gets a base name without separators or control characters,
// and no file appears anywhere outside the spool (which is empty again
// afterwards).
func TestHostileImageFilenames(t *testing.T) {
	g, dataDir := imageGatewayData(t, nil)
	root := filepath.Dir(dataDir)
	img := pngBytes(t, 8, 8, 0)
	long := strings.Repeat("a", 5000) + ".png"
	tests := []struct {
		name, filename string // filename as written in the quoted-string
		want           string // what the upstream must get
		mayRefuse      bool   // a 400 is as good as sanitising
	}{
		{"relative traversal", `../../etc/passwd`, "passwd", false},
		{"absolute path", `/etc/passwd`, "passwd", false},
		{"windows traversal", `..\\..\\windows\\win.ini`, "win.ini", false},
		{"drive path", `C:\\Users\\x\\evil.png`, "evil.png", false},
		{"dot dot", `..`, "image.png", false},
		{"trailing slash", `../../tmp/`, "tmp", false},
		{"raw NUL", "a\x00b.png", "ab.png", true},
		{"NUL after a traversal", "../../x\x00.png", "x.png", true},
		{"escaped quote", `a\"b.png`, "ab.png", false},
		{"CR LF", "a\rb.png", "ab.png", true},
		{"very long", long, long[len(long)-200:], false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := treeFiles(t, root)
			recs := len(g.mock.Requests("img-1"))
			body, ctype := rawForm([]rawPart{field("model", "gpt-image-1"), field("prompt", "x"),
				{disposition: `form-data; name="image"; filename="` + tc.filename + `"`, ctype: "image/png", data: img}})
			resp, a := g.imagePost(t, "/v1/images/edits", testKey, ctype, body, nil)
			if left := spoolLeft(t, dataDir); len(left) != 0 {
				t.Errorf("spool holds %v", left)
			}
			if created := newFiles(before, treeFiles(t, root)); len(created) != 0 {
				t.Errorf("files created: %v", created)
			}
			if resp.StatusCode == http.StatusBadRequest && tc.mayRefuse {
				if n := len(g.mock.Requests("img-1")) - recs; n != 0 {
					t.Errorf("refused, yet %d upstream calls", n)
				}
				return
			}
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d: %+v", resp.StatusCode, a.Error)
			}
			up := g.mock.Requests("img-1")[recs:]
			if len(up) != 1 {
				t.Fatalf("%d upstream calls", len(up))
			}
			var got []string
			for _, p := range up[0].Parts {
				if p.FileName != "" {
					got = append(got, p.FileName)
					if p.SHA256 != sum(img) {
						t.Errorf("file %q: not the upload", p.FileName)
					}
				}
			}
			if len(got) != 1 || got[0] != tc.want {
				t.Errorf("upstream file names %q, want [%q]", got, tc.want)
			}
		})
	}
}

// pngBomb is a small PNG whose IHDR declares w×h RGBA pixels, with an
// IDAT of a megabyte of zeros compressed to about a kilobyte.
func pngBomb(w, h uint32) []byte {
	var z bytes.Buffer
	zw := zlib.NewWriter(&z)
	_, _ = zw.Write(make([]byte, 1<<20))
	_ = zw.Close()
	return rgbaPNG(w, h, 8, z.Bytes())
}

// rgbaPNG is a PNG file of w×h RGBA pixels of depth bits (no interlace)
// whose image data is the zlib stream idat, as given.
func rgbaPNG(w, h uint32, depth byte, idat []byte) []byte {
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	chunk := func(typ string, data []byte) {
		_ = binary.Write(&b, binary.BigEndian, uint32(len(data)))
		td := append([]byte(typ), data...)
		b.Write(td)
		_ = binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(td))
	}
	ihdr := binary.BigEndian.AppendUint32(nil, w)
	ihdr = binary.BigEndian.AppendUint32(ihdr, h)
	chunk("IHDR", append(ihdr, depth, 6, 0, 0, 0))
	chunk("IDAT", idat)
	chunk("IEND", nil)
	return b.Bytes()
}

// heapAllocated is the process's cumulative heap allocation, which the
// in-process gateway shares with the test.
func heapAllocated() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// TestHostileImageBomb: a PNG declaring more pixels than the limits is
// refused from its header, before a pixel buffer is allocated.
func TestHostileImageBomb(t *testing.T) {
	g := imageGateway(t, nil)
	const budget = 4 << 20
	for _, c := range []struct {
		name string
		w, h uint32
	}{
		{"over the side limit", 100_000, 100_000},
		{"under the side limits, over the pixel limit", 16_000, 16_000},
		{"one side huge", 1, 1 << 30},
	} {
		bomb := pngBomb(c.w, c.h)
		send := map[string]func() (*http.Response, imagesAnswer){
			"multipart": func() (*http.Response, imagesAnswer) {
				body, ctype := multipartBody(t, [][2]string{{"model", "gpt-image-1"}, {"prompt", "x"}},
					[]formFile{{"image", "bomb.png", "image/png", bomb}})
				return g.imagePost(t, "/v1/images/edits", testKey, ctype, body, nil)
			},
			"json data URL": func() (*http.Response, imagesAnswer) {
				body := fmt.Sprintf(`{"model":"gpt-image-1","prompt":"x","images":[{"image_url":"data:image/png;base64,%s"}]}`,
					base64.StdEncoding.EncodeToString(bomb))
				return g.imagePost(t, "/v1/images/edits", testKey, "application/json", strings.NewReader(body), nil)
			},
		}
		for how, do := range send {
			t.Run(c.name+"/"+how, func(t *testing.T) {
				recs := len(g.mock.Requests("img-1"))
				start := heapAllocated()
				resp, a := do()
				used := heapAllocated() - start
				if resp.StatusCode != http.StatusBadRequest || a.Error == nil || a.Error.Param != "image[0]" && a.Error.Param != "images[0]" {
					t.Fatalf("status %d %+v, want 400 naming the image", resp.StatusCode, a.Error)
				}
				if !strings.Contains(a.Error.Message, "pixels") {
					t.Errorf("message %q does not say the image has too many pixels", a.Error.Message)
				}
				if used > budget {
					t.Errorf("the request allocated %d bytes, more than %d", used, budget)
				}
				if n := len(g.mock.Requests("img-1")) - recs; n != 0 {
					t.Errorf("%d upstream calls", n)
				}
			})
		}
	}
}

// hostileLimits are the image limits of TestHostileImageLimits, small so
// that the cases stay small.
func hostileLimits(cfg *config.Config) {
	cfg.Images.MaxInputs = 2
	cfg.Images.MaxInputBytes = 64 << 10
	cfg.Server.MaxUploadBytes = 512 << 10
}

// TestHostileImageLimits: each limit on an edit is a 400 (or 413) in
// OpenAI's shape, before any upstream call, with the spool empty again.
func TestHostileImageLimits(t *testing.T) {
	g, dataDir := imageGatewayData(t, hostileLimits)
	small := pngBytes(t, 8, 8, 0)
	image := func(field string, data []byte) rawPart {
		return rawPart{disposition: fmt.Sprintf(`form-data; name=%q; filename="a.png"`, field), ctype: "image/png", data: data}
	}
	base := []rawPart{field("model", "gpt-image-1"), field("prompt", "x")}
	with := func(parts ...rawPart) []rawPart { return append(slices.Clone(base), parts...) }
	manyFields := func(n int) []rawPart {
		parts := with(image("image", small))
		for i := range n {
			parts = append(parts, field(fmt.Sprint("f", i), "v"))
		}
		return parts
	}
	bigFields := func(n, size int) []rawPart {
		parts := with(image("image", small))
		for i := range n {
			parts = append(parts, field(fmt.Sprint("x", i), strings.Repeat("y", size)))
		}
		return parts
	}
	tests := []struct {
		name   string
		parts  []rawPart
		json   string // a JSON edit instead of parts
		chunk  bool   // send the form without a Content-Length
		status int
		param  string
		inMsg  string // the message must contain it
	}{
		{name: "more images than max_inputs", parts: with(image("image[]", small), image("image[]", small), image("image[]", small)),
			status: 400, param: "image", inMsg: "At most 2"},
		{name: "more JSON images than max_inputs", status: 400, param: "images", inMsg: "At most 2",
			json: `{"model":"gpt-image-1","prompt":"x","images":[{"image_url":"https://a/1.png"},{"image_url":"https://a/2.png"},{"image_url":"https://a/3.png"}]}`},
		{name: "image over max_input_bytes", parts: with(image("image", pngBytes(t, 8, 8, 100<<10))), status: 400, param: "image[0]"},
		{name: "trailing bytes over max_input_bytes", parts: with(image("image", append(slices.Clone(small), make([]byte, 100<<10)...))),
			status: 400, param: "image[0]"},
		{name: "second image over max_input_bytes", parts: with(image("image[]", small), image("image[]", pngBytes(t, 8, 8, 100<<10))),
			status: 400, param: "image[1]"},
		{name: "mask over max_input_bytes", parts: with(image("image", small), image("mask", pngBytes(t, 8, 8, 100<<10))),
			status: 400, param: "mask"},
		{name: "form over max_upload_bytes", parts: bigFields(9, 63<<10), status: 413},
		// Declared, 10 000 fields are over max_upload_bytes before a part
		// is read; streamed, the part count stops them first.
		{name: "10000 tiny fields", parts: manyFields(10_000), status: 413},
		{name: "10000 tiny fields chunked", parts: manyFields(10_000), chunk: true, status: 400, inMsg: "parts"},
		{name: "70 KB prompt", parts: []rawPart{field("model", "gpt-image-1"), field("prompt", strings.Repeat("p", 70<<10)), image("image", small)},
			status: 400, param: "prompt", inMsg: `"prompt"`},
		{name: "70 KB pass-through field", parts: with(image("image", small), field("notes", strings.Repeat("n", 70<<10))),
			status: 400, param: "notes", inMsg: `"notes"`},
		{name: "data URL not base64", status: 400, param: "images[0]",
			json: `{"model":"gpt-image-1","prompt":"x","images":[{"image_url":"data:image/png,\u0089PNG\r\n"}]}`},
		{name: "data URL without a comma", status: 400, param: "images[0]",
			json: `{"model":"gpt-image-1","prompt":"x","images":[{"image_url":"data:image/png;base64"}]}`},
		{name: "mask data URL not base64", status: 400, param: "mask",
			json: `{"model":"gpt-image-1","prompt":"x","images":[{"image_url":"https://a/1.png"}],"mask":{"image_url":"data:text/plain,hello"}}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			recs := len(g.mock.Requests("img-1"))
			var resp *http.Response
			var a imagesAnswer
			if tc.json != "" {
				resp, a = g.imagePost(t, "/v1/images/edits", testKey, "application/json", strings.NewReader(tc.json), nil)
			} else {
				body, ctype := rawForm(tc.parts)
				var rd io.Reader = body
				if tc.chunk {
					rd = io.MultiReader(body) // a reader NewRequest cannot measure
				}
				resp, a = g.imagePost(t, "/v1/images/edits", testKey, ctype, rd, nil)
			}
			if resp.StatusCode != tc.status || a.Error == nil {
				t.Fatalf("status %d %+v, want %d", resp.StatusCode, a.Error, tc.status)
			}
			if a.Error.Param != tc.param || !strings.Contains(a.Error.Message, tc.inMsg) {
				t.Errorf("error %+v, want param %q and a message with %q", a.Error, tc.param, tc.inMsg)
			}
			if n := len(g.mock.Requests("img-1")) - recs; n != 0 {
				t.Errorf("%d upstream calls", n)
			}
			if left := spoolLeft(t, dataDir); len(left) != 0 {
				t.Errorf("spool holds %v", left)
			}
		})
	}
}

// TestHostileImageDataURLCorrupt: a data: URL that says base64 but is not
// is the client's error about that image.
func TestHostileImageDataURLCorrupt(t *testing.T) {
	g := imageGateway(t, nil)
	for _, data := range []string{"!!!!not base64!!!!", "iVBORw0KGgo=====", "iVBO\u00e9w0KGgo"} {
		body := `{"model":"gpt-image-1","prompt":"x","images":[{"image_url":"data:image/png;base64,` + data + `"}]}`
		resp, a := g.imagePost(t, "/v1/images/edits", testKey, "application/json", strings.NewReader(body), nil)
		if resp.StatusCode != http.StatusBadRequest || a.Error == nil {
			t.Fatalf("%q: status %d %+v, want 400", data, resp.StatusCode, a.Error)
		}
		if a.Error.Param != "images[0]" || strings.Contains(a.Error.Message, "multipart") {
			t.Errorf("%q: error %+v, want one naming images[0] (not the multipart body)", data, a.Error)
		}
	}
}

// TestHostileImageAsyncInvalid: Prefer: respond-async does not defer
// validation; an invalid request is a synchronous 400 and leaves no task,
// no stored input and no spool file.
func TestHostileImageAsyncInvalid(t *testing.T) {
	g, dataDir := imageGatewayData(t, nil)
	svg := []byte(`<svg xmlns="http://www.w3.org/2000/svg"/>`)
	tests := []struct {
		name, path string
		json       string
		parts      []rawPart
		param      string
	}{
		{name: "generation without a prompt", path: "/v1/images/generations", json: `{"model":"gpt-image-1"}`, param: "prompt"},
		{name: "generation with n=11", path: "/v1/images/generations", json: `{"model":"gpt-image-1","prompt":"x","n":11}`, param: "n"},
		{name: "generation not JSON", path: "/v1/images/generations", json: `{"model":`},
		{name: "JSON edit with a text data URL", path: "/v1/images/edits", param: "images[0]",
			json: `{"model":"gpt-image-1","prompt":"x","images":[{"image_url":"data:image/png;base64,aGVsbG8gd29ybGQ="}]}`},
		{name: "multipart edit with an SVG", path: "/v1/images/edits", param: "image[0]",
			parts: []rawPart{field("model", "gpt-image-1"), field("prompt", "x"),
				{disposition: `form-data; name="image"; filename="a.png"`, ctype: "image/png", data: svg}}},
		{name: "multipart edit, valid image, bad size", path: "/v1/images/edits", param: "size",
			parts: []rawPart{field("model", "gpt-image-1"), field("prompt", "x"), field("size", "big"),
				{disposition: `form-data; name="image"; filename="a.png"`, ctype: "image/png", data: pngBytes(t, 8, 8, 0)}}},
		{name: "multipart edit, async field, no prompt", path: "/v1/images/edits", param: "prompt",
			parts: []rawPart{field("model", "gpt-image-1"), field("async", "true"),
				{disposition: `form-data; name="image"; filename="a.png"`, ctype: "image/png", data: pngBytes(t, 8, 8, 0)}}},
	}
	storeDir := filepath.Join(dataDir, "images")
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			recs := len(g.mock.Requests("img-1"))
			stored := treeFiles(t, storeDir)
			var body io.Reader
			ctype := "application/json"
			if tc.parts != nil {
				body, ctype = rawForm(tc.parts)
			} else {
				body = strings.NewReader(tc.json)
			}
			start := time.Now()
			resp, a := g.imagePost(t, tc.path, testKey, ctype, body, map[string]string{"Prefer": "respond-async, wait=5"})
			if resp.StatusCode != http.StatusBadRequest || a.Error == nil {
				t.Fatalf("status %d %+v, want a synchronous 400", resp.StatusCode, a.Error)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("took %v", d)
			}
			if tc.param != "" && a.Error.Param != tc.param {
				t.Errorf("param %q, want %q", a.Error.Param, tc.param)
			}
			if task := resp.Header.Get("X-Switchyard-Task-Id"); task != "" {
				if r, b := get(t, g.base+"/v1/images/tasks/"+task, testKey); r.StatusCode != http.StatusNotFound {
					t.Errorf("a 400 left task %s: %d %s", task, r.StatusCode, b)
				}
			}
			if n := len(g.mock.Requests("img-1")) - recs; n != 0 {
				t.Errorf("%d upstream calls", n)
			}
			if created := newFiles(stored, treeFiles(t, storeDir)); len(created) != 0 {
				t.Errorf("stored %v", created)
			}
			if left := spoolLeft(t, dataDir); len(left) != 0 {
				t.Errorf("spool holds %v", left)
			}
		})
	}
}

// TestHostileImageStoreSymlink: a genuinely signed link whose task
// directory in the store is a symlink out of it is not served; os.Root
// keeps the read inside the store.
func TestHostileImageStoreSymlink(t *testing.T) {
	g, dataDir := imageGatewayData(t, nil)
	resp, a := g.generate(t, `{"model":"gpt-image-1","prompt":"x","response_format":"url","size":"64x64"}`)
	if resp.StatusCode != http.StatusOK || len(a.Data) != 1 {
		t.Fatalf("generate: %d %+v", resp.StatusCode, a.Error)
	}
	plantFiles(t, dataDir, resp.Header.Get("X-Switchyard-Task-Id"))
	link, err := images.NewSigner(g.app.Keyring()).URL(g.base, "escape", 0, time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	r, b := get(t, link, "")
	if r.StatusCode == http.StatusOK || bytes.Contains(b, []byte(plantedMarker)) {
		t.Fatalf("served through the symlink: %d %.100q", r.StatusCode, b)
	}
	var e struct {
		Error *openAIErr `json:"error"`
	}
	if err := json.Unmarshal(b, &e); err != nil || e.Error == nil {
		t.Errorf("status %d without an OpenAI error: %.300s", r.StatusCode, b)
	}
	t.Logf("symlinked task directory: status %d", r.StatusCode)
}
