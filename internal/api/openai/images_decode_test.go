package openai_test

import (
	"bytes"
	"compress/flate"
	"context"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/config"
	"github.com/switchyard/switchyard/internal/images"
)

// uniformPNG is a valid w×h PNG of RGBA pixels of depth bits (8 or 16),
// all zero, built without compressing w×h×8 bytes: one row is deflated once and its
// self-contained blocks repeated h times, then closed with an empty final
// block and the Adler-32 of that many zeros. 7000×7000 is about 500 KB of
// file and 392 MB decoded.
func uniformPNG(w, h uint32, depth byte) []byte {
	row := make([]byte, 1+int(w)*int(depth)/2) // filter byte, then 4 channels

	var blk bytes.Buffer
	fw, _ := flate.NewWriter(&blk, flate.BestCompression)
	_, _ = fw.Write(row)
	_ = fw.Flush() // byte-aligned, and nothing refers back before the row
	var z bytes.Buffer
	z.WriteString("\x78\xda")
	for range h {
		z.Write(blk.Bytes())
	}
	z.Write([]byte{1, 0, 0, 0xff, 0xff}) // final empty stored block
	n := uint64(len(row)) * uint64(h)
	z.Write(binary.BigEndian.AppendUint32(nil, uint32(n%65521)<<16|1)) // Adler-32 of n zeros
	return rgbaPNG(w, h, depth, z.Bytes())
}

var (
	heavyPNG = sync.OnceValue(func() []byte { return uniformPNG(7000, 7000, 16) })
	// 64 MB decoded: under images.max_decode_bytes.
	mediumPNG = sync.OnceValue(func() []byte { return uniformPNG(4000, 4000, 8) })
)

const (
	brokeKey = "sk-test-broke-0123456789"
	payerKey = "sk-test-payer-0123456789"
)

// pricedImages prices gpt-image-1 and adds a user without credit and one
// with some, each with a key.
func pricedImages(cfg *config.Config) {
	cfg.Pricing = map[string]config.Price{"*": {Free: true}, "gpt-image-1": {PerImage: map[string]float64{"default": 0.04}}}
	cfg.Users = append(cfg.Users, config.User{Email: "broke@example.com"}, config.User{Email: "payer@example.com", Credit: 10})
	cfg.Keys = append(cfg.Keys, config.Key{Name: "broke", User: "broke@example.com", Key: brokeKey},
		config.Key{Name: "payer", User: "payer@example.com", Key: payerKey})
}

// decodeBudget is more than a refused request allocates (the spool's
// buffers, the multipart reader) and far less than one decode of
// heavyPNG (392 MB).
const decodeBudget = 32 << 20

// TestHostileImageDecodeAfterReserve: a 500 KB PNG that decodes to 392 MB
// costs the node no decode when the key has no credit (429), and is
// refused from its header by the decode byte limit when it has (400
// naming the image), whatever the concurrency.
func TestHostileImageDecodeAfterReserve(t *testing.T) {
	g, dataDir := imageGatewayData(t, pricedImages)
	heavy := heavyPNG()
	send := func(key string) (*http.Response, imagesAnswer) {
		body, ctype := rawForm([]rawPart{field("model", "gpt-image-1"), field("prompt", "x"),
			{disposition: `form-data; name="image"; filename="a.png"`, ctype: "image/png", data: heavy}})
		return g.imagePost(t, "/v1/images/edits", key, ctype, body, nil)
	}
	t.Run("no credit, 8 at once", func(t *testing.T) {
		recs := len(g.mock.Requests("img-1"))
		start := heapAllocated()
		var wg sync.WaitGroup
		status := make([]int, 8)
		for i := range status {
			wg.Go(func() {
				resp, _ := send(brokeKey)
				status[i] = resp.StatusCode
			})
		}
		wg.Wait()
		used := heapAllocated() - start
		for i, s := range status {
			if s != http.StatusTooManyRequests {
				t.Errorf("request %d: status %d, want 429", i, s)
			}
		}
		if used > decodeBudget {
			t.Errorf("8 refused requests allocated %d MB", used>>20)
		}
		if n := len(g.mock.Requests("img-1")) - recs; n != 0 {
			t.Errorf("%d upstream calls", n)
		}
	})
	// An image the decode limit lets through is not decoded either when
	// the key cannot pay: as an async task (the runner reserves, then would
	// decode) and as a JSON data: URL.
	t.Run("no credit, async, under the decode limit", func(t *testing.T) {
		start := heapAllocated()
		body, ctype := rawForm([]rawPart{field("model", "gpt-image-1"), field("prompt", "x"), field("async", "true"),
			{disposition: `form-data; name="image"; filename="a.png"`, ctype: "image/png", data: mediumPNG()}})
		resp, a := g.imagePost(t, "/v1/images/edits", brokeKey, ctype, body, nil)
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("submit: %d %+v", resp.StatusCode, a.Error)
		}
		id := resp.Header.Get("X-Switchyard-Task-Id")
		tasks := images.NewTasks(g.app.DB(), time.Now)
		var tk images.Task
		for deadline := time.Now().Add(10 * time.Second); !tk.Finished(); time.Sleep(20 * time.Millisecond) {
			var err error
			if tk, err = tasks.Get(context.Background(), id); err != nil || time.Now().After(deadline) {
				t.Fatalf("task %s: %+v %v", id, tk, err)
			}
		}
		used := heapAllocated() - start
		if tk.Status != images.StatusFailed || tk.ErrorCode != "insufficient_quota" {
			t.Errorf("task %s %s, want failed insufficient_quota", tk.Status, tk.ErrorCode)
		}
		if used > decodeBudget {
			t.Errorf("submitting and running the task allocated %d MB", used>>20)
		}
	})
	t.Run("no credit, JSON data URL, under the decode limit", func(t *testing.T) {
		body := `{"model":"gpt-image-1","prompt":"x","images":[{"image_url":"data:image/png;base64,` +
			base64.StdEncoding.EncodeToString(mediumPNG()) + `"}]}`
		start := heapAllocated()
		resp, a := g.imagePost(t, "/v1/images/edits", brokeKey, "application/json", strings.NewReader(body), nil)
		used := heapAllocated() - start
		if resp.StatusCode != http.StatusTooManyRequests {
			t.Errorf("status %d %+v, want 429", resp.StatusCode, a.Error)
		}
		if used > decodeBudget {
			t.Errorf("the refused request allocated %d MB", used>>20)
		}
	})
	t.Run("credit, over the decode byte limit", func(t *testing.T) {
		start := heapAllocated()
		resp, a := send(payerKey)
		used := heapAllocated() - start
		if resp.StatusCode != http.StatusBadRequest || a.Error == nil || a.Error.Param != "image[0]" {
			t.Fatalf("status %d %+v, want 400 naming image[0]", resp.StatusCode, a.Error)
		}
		if !strings.Contains(a.Error.Message, "decode") || !strings.Contains(a.Error.Message, "16-bit") {
			t.Errorf("message %q does not say the decode would be too large", a.Error.Message)
		}
		if used > decodeBudget {
			t.Errorf("the refused request allocated %d MB", used>>20)
		}
	})
	if left := spoolLeft(t, dataDir); len(left) != 0 {
		t.Errorf("spool holds %v", left)
	}
}

// TestHostileImageModelAfterImage: the form's order is the client's; with
// the model part after the image, an unknown key, a model the key may not
// use, or one that does not exist, is refused without the image being
// decoded, and a model it may use works as with the model first.
func TestHostileImageModelAfterImage(t *testing.T) {
	g, dataDir := imageGatewayData(t, nil)
	heavy := heavyPNG()
	tests := []struct {
		name, key, model string
		status           int
	}{
		{"unknown key", "sk-test-nobody-0123456789", "gpt-image-1", http.StatusUnauthorized},
		{"model the key may not use", limitedKey, "gpt-image-1", http.StatusForbidden},
		{"unknown model", testKey, "no-such-image-model", http.StatusNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			body, ctype := rawForm([]rawPart{field("prompt", "x"),
				{disposition: `form-data; name="image"; filename="a.png"`, ctype: "image/png", data: heavy},
				field("model", tc.model)})
			start := heapAllocated()
			resp, a := g.imagePost(t, "/v1/images/edits", tc.key, ctype, body, nil)
			used := heapAllocated() - start
			if resp.StatusCode != tc.status || a.Error == nil {
				t.Fatalf("status %d %+v, want %d", resp.StatusCode, a.Error, tc.status)
			}
			if used > decodeBudget {
				t.Errorf("the refused request allocated %d MB", used>>20)
			}
		})
	}
	t.Run("allowed model last", func(t *testing.T) {
		recs := len(g.mock.Requests("img-1"))
		body, ctype := rawForm([]rawPart{field("prompt", "x"),
			{disposition: `form-data; name="image"; filename="a.png"`, ctype: "image/png", data: pngBytes(t, 8, 8, 0)},
			field("model", "gpt-image-1")})
		resp, a := g.imagePost(t, "/v1/images/edits", testKey, ctype, body, nil)
		if resp.StatusCode != http.StatusOK || len(a.Data) != 1 {
			t.Fatalf("status %d %+v", resp.StatusCode, a.Error)
		}
		up := g.mock.Requests("img-1")[recs:]
		if len(up) != 1 {
			t.Fatalf("%d upstream calls", len(up))
		}
		for _, p := range up[0].Parts {
			if p.FileName != "" && p.ContentType != "image/png" {
				t.Errorf("upstream part %q has content type %q", p.FileName, p.ContentType)
			}
		}
	})
	if left := spoolLeft(t, dataDir); len(left) != 0 {
		t.Errorf("spool holds %v", left)
	}
}

// TestHostileImageDuplicateFields: a field the gateway reads for
// authorization or price, given twice, is refused: the upstream might
// read the first where the gateway read the last.
func TestHostileImageDuplicateFields(t *testing.T) {
	g := imageGateway(t, nil)
	img := rawPart{disposition: `form-data; name="image"; filename="a.png"`, ctype: "image/png", data: pngBytes(t, 8, 8, 0)}
	for _, name := range []string{"model", "n", "size", "quality"} {
		t.Run(name, func(t *testing.T) {
			values := map[string][2]string{"model": {"dall-e-2", "gpt-image-1"}, "n": {"1", "8"},
				"size": {"256x256", "1024x1024"}, "quality": {"low", "high"}}[name]
			parts := []rawPart{field("prompt", "x"), field(name, values[0]), img, field(name, values[1])}
			if name != "model" {
				parts = append(parts, field("model", "gpt-image-1"))
			}
			recs := len(g.mock.Requests("img-1"))
			body, ctype := rawForm(parts)
			resp, a := g.imagePost(t, "/v1/images/edits", testKey, ctype, body, nil)
			if resp.StatusCode != http.StatusBadRequest || a.Error == nil || a.Error.Param != name {
				t.Fatalf("status %d %+v, want 400 naming %s", resp.StatusCode, a.Error, name)
			}
			if !strings.Contains(a.Error.Message, fmt.Sprintf("%q", name)) {
				t.Errorf("message %q", a.Error.Message)
			}
			if n := len(g.mock.Requests("img-1")) - recs; n != 0 {
				t.Errorf("%d upstream calls", n)
			}
		})
	}
}
