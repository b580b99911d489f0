package openai_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/app/apptest"
	"github.com/switchyard/switchyard/internal/billing"
	"github.com/switchyard/switchyard/internal/config"
	"github.com/switchyard/switchyard/internal/mock"
)

// usageRowsOf are request id's usage rows as "status:cost", by status, once
// there are at least want of them (the meter writes them after the answer).
func usageRowsOf(t *testing.T, g *gateway, balance func() billing.Micros, id string, want int) []string {
	t.Helper()
	if id == "" {
		t.Fatal("the answer carries no X-Request-Id")
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		_ = balance()
		if rows := readUsageRows(t, g, id); len(rows) >= want || time.Now().After(deadline) {
			return rows
		}
	}
}

func readUsageRows(t *testing.T, g *gateway, id string) []string {
	t.Helper()
	db := g.app.DB()
	rows, err := db.Read().QueryContext(context.Background(), db.Dialect().Rebind(
		"SELECT status, cost_micros FROM usage_logs WHERE request_id = ? ORDER BY status, cost_micros"), id)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var status int
		var cost int64
		if err := rows.Scan(&status, &cost); err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprintf("%d:%d", status, cost))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

const vertexSA = "images@proj.iam.gserviceaccount.com"

// vertexNode is a node with a vertex channel on the mock (which is also
// its token endpoint) serving a Gemini image model, Imagen and two text
// embedding models, all priced, and the payer's key.
func vertexNode(t *testing.T) (*gateway, *mock.Server, func() billing.Micros) {
	t.Helper()
	m := mock.New(mock.Options{})
	up := httptest.NewServer(m)
	t.Cleanup(up.Close)
	cfg := apptest.Config(t)
	cfg.Channels = []config.Channel{{Name: "vx", Type: "vertex", Project: "proj", Location: "us-central1", BaseURL: up.URL,
		TokenURL: up.URL + mock.VertexTokenPath,
		Models:   []string{"gemini-2.5-flash-image", "imagen-4.0-generate-001", "text-embedding-005", "gemini-embedding-001"},
		Credentials: []config.Credential{{ServiceAccount: config.Secret(
			mock.VertexServiceAccount(vertexSA, "https://oauth2.googleapis.com/token"))}}}}
	cfg.Keys = []config.Key{{Name: "all", Key: testKey}}
	pricedImages(cfg)
	cfg.Pricing["gemini-2.5-flash-image"] = config.Price{PerImage: map[string]float64{"default": 0.039}}
	cfg.Pricing["imagen-4.0-generate-001"] = config.Price{PerImage: map[string]float64{"default": 0.04}}
	cfg.Pricing["text-embedding-005"] = config.Price{Input: 3}
	cfg.Pricing["gemini-embedding-001"] = config.Price{Input: 5}
	g, _ := runNode(t, cfg)
	g.mock = m
	return g, m, apptest.Balance(t, g.app, "payer@example.com")
}

// TestVertexImages: the images API over a vertex channel, as over a gemini
// one but at the publisher model's :generateContent and :predict with the
// service account's token: generations (fanned out for an image-output
// model, sampleCount for Imagen), edits from JSON and multipart, each
// image charged once with its usage row.
func TestVertexImages(t *testing.T) {
	g, m, balance := vertexNode(t)
	ref := base64.StdEncoding.EncodeToString(uniformPNG(8, 8, 8))
	cases := []struct {
		name, path, body string
		images           int
		cost             billing.Micros
		rows             string
		method           string   // the upstream call's :method
		upstream         []string // in the last upstream body
	}{
		{"image model, fanned out", "/v1/images/generations",
			`{"model":"gemini-2.5-flash-image","prompt":"a lighthouse","size":"1536x1024","n":2}`, 2, 78_000, "200:39000 200:39000",
			":generateContent", []string{`"responseModalities":["TEXT","IMAGE"]`, `"aspectRatio":"3:2"`}},
		{"imagen", "/v1/images/generations",
			`{"model":"imagen-4.0-generate-001","prompt":"a lighthouse","size":"1792x1024","n":3}`, 3, 120_000, "200:120000",
			":predict", []string{`"sampleCount":3`, `"aspectRatio":"16:9"`, `"prompt":"a lighthouse"`}},
		{"edit with a reference image", "/v1/images/edits",
			`{"model":"gemini-2.5-flash-image","prompt":"make it night","images":[{"image_url":"data:image/png;base64,` + ref + `"}]}`,
			1, 39_000, "200:39000", ":generateContent", []string{`"inlineData":{"mimeType":"image/png"`, `"text":"make it night"`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			since := len(m.Requests(vertexSA)) // not m.Reset, which forgets the issued tokens
			before := balance()
			resp, a := g.imagePost(t, c.path, payerKey, "application/json", strings.NewReader(c.body), nil)
			if resp.StatusCode != http.StatusOK || len(a.Data) != c.images || a.Data[0].B64JSON == "" {
				t.Fatalf("status %d, %d images: %+v", resp.StatusCode, len(a.Data), a.Error)
			}
			if got := before - balance(); got != c.cost {
				t.Errorf("charged %d micro-USD, want %d", got, c.cost)
			}
			if got := strings.Join(usageRowsOf(t, g, balance, resp.Header.Get("X-Request-Id"), strings.Count(c.rows, " ")+1), " "); got != c.rows {
				t.Errorf("usage rows (status:cost) %s, want %s", got, c.rows)
			}
			reqs := m.Requests(vertexSA)[since:]
			if len(reqs) == 0 {
				t.Fatal("no upstream request")
			}
			last := reqs[len(reqs)-1]
			model := strings.SplitN(strings.TrimPrefix(c.body, `{"model":"`), `"`, 2)[0]
			if want := "/v1/projects/proj/locations/us-central1/publishers/google/models/" + model + c.method; last.Path != want || last.Status != 200 {
				t.Errorf("upstream %s answered %d, want %s", last.Path, last.Status, want)
			}
			for _, want := range c.upstream {
				if !strings.Contains(last.Body, want) {
					t.Errorf("upstream body lacks %s:\n%.400s", want, last.Body)
				}
			}
		})
	}

	t.Run("multipart edit", func(t *testing.T) {
		since := len(m.Requests(vertexSA))
		before := balance()
		body, ctype := multipartBody(t, [][2]string{{"model", "gemini-2.5-flash-image"}, {"prompt", "merge them"}},
			[]formFile{{"image[]", "a.png", "image/png", pngBytes(t, 32, 32, 0)}, {"image[]", "b.png", "image/png", pngBytes(t, 16, 16, 0)}})
		resp, a := g.imagePost(t, "/v1/images/edits", payerKey, ctype, body, nil)
		if resp.StatusCode != http.StatusOK || len(a.Data) != 1 {
			t.Fatalf("status %d, %d images: %+v", resp.StatusCode, len(a.Data), a.Error)
		}
		if got := before - balance(); got != 39_000 {
			t.Errorf("charged %d, want 39000", got)
		}
		if n := strings.Count(m.Requests(vertexSA)[since].Body, `"inlineData"`); n != 2 {
			t.Errorf("upstream body has %d reference images, want 2", n)
		}
	})

	t.Run("refused imagen edit", func(t *testing.T) {
		before := balance()
		resp, a := g.imagePost(t, "/v1/images/edits", payerKey, "application/json", strings.NewReader(
			`{"model":"imagen-4.0-generate-001","prompt":"x","images":[{"image_url":"data:image/png;base64,`+ref+`"}]}`), nil)
		if resp.StatusCode != http.StatusBadRequest || a.Error == nil || a.Error.Param != "image" {
			t.Fatalf("status %d: %+v", resp.StatusCode, a.Error)
		}
		if got := before - balance(); got != 0 {
			t.Errorf("charged %d for a refused request", got)
		}
	})
}

// TestVertexEmbeddings: OpenAI embeddings over a vertex channel go to the
// model's :predict, one instance per input; Vertex's token count is the
// usage and is charged; a gemini-embedding batch, which Vertex takes one
// input at a time, is refused before any upstream call.
func TestVertexEmbeddings(t *testing.T) {
	g, m, balance := vertexNode(t)
	post := func(t *testing.T, body string) (*http.Response, []byte) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, g.base+"/v1/embeddings", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+payerKey)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, b
	}
	type answer struct {
		Data []struct {
			Index     int             `json:"index"`
			Embedding json.RawMessage `json:"embedding"`
		} `json:"data"`
		Model string `json:"model"`
		Usage struct {
			PromptTokens int `json:"prompt_tokens"`
		} `json:"usage"`
		Error *struct {
			Param string `json:"param"`
		} `json:"error"`
	}
	cases := []struct {
		name, body string
		vectors    int
		dims       int // of a float answer; 0 for base64
		tokens     int // the mock counts len/4, at least 1, per input
		cost       billing.Micros
		upstream   []string
	}{
		{"batch as base64", `{"model":"text-embedding-005","input":["alpha beta gamma","delta"],"encoding_format":"base64"}`,
			2, 0, 4 + 1, 15, []string{`"instances":[{"content":"alpha beta gamma"},{"content":"delta"}]`}},
		{"one input, fewer dimensions", `{"model":"gemini-embedding-001","input":"how far is the lighthouse","dimensions":256}`,
			1, 256, 6, 30, []string{`"outputDimensionality":256`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			since := len(m.Requests(vertexSA))
			before := balance()
			resp, b := post(t, c.body)
			var a answer
			if err := json.Unmarshal(b, &a); err != nil || resp.StatusCode != http.StatusOK || len(a.Data) != c.vectors {
				t.Fatalf("status %d: %.300s", resp.StatusCode, b)
			}
			if a.Usage.PromptTokens != c.tokens {
				t.Errorf("prompt_tokens %d, want Vertex's count %d", a.Usage.PromptTokens, c.tokens)
			}
			for i, d := range a.Data {
				if d.Index != i {
					t.Errorf("data[%d].index = %d", i, d.Index)
				}
				if c.dims == 0 {
					var s string
					raw, err := base64.StdEncoding.DecodeString(func() string { _ = json.Unmarshal(d.Embedding, &s); return s }())
					if err != nil || len(raw) != 4*768 {
						t.Errorf("data[%d]: %d base64 bytes (%v), want 768 float32s", i, len(raw), err)
					}
				} else {
					var v []float32
					if err := json.Unmarshal(d.Embedding, &v); err != nil || len(v) != c.dims {
						t.Errorf("data[%d]: %d floats (%v), want %d", i, len(v), err, c.dims)
					}
				}
			}
			if got := before - balance(); got != c.cost {
				t.Errorf("charged %d micro-USD, want %d", got, c.cost)
			}
			want := fmt.Sprintf("200:%d", c.cost)
			if got := strings.Join(usageRowsOf(t, g, balance, resp.Header.Get("X-Request-Id"), 1), " "); got != want {
				t.Errorf("usage rows %s, want %s", got, want)
			}
			reqs := m.Requests(vertexSA)[since:]
			if len(reqs) != 1 || !strings.HasSuffix(reqs[0].Path, ":predict") {
				t.Fatalf("upstream requests: %+v", reqs)
			}
			for _, w := range c.upstream {
				if !strings.Contains(reqs[0].Body, w) {
					t.Errorf("upstream body lacks %s: %.300s", w, reqs[0].Body)
				}
			}
		})
	}

	t.Run("gemini-embedding batch refused", func(t *testing.T) {
		since := len(m.Requests(vertexSA))
		before := balance()
		resp, b := post(t, `{"model":"gemini-embedding-001","input":["a","b"]}`)
		var a answer
		_ = json.Unmarshal(b, &a)
		if resp.StatusCode != http.StatusBadRequest || a.Error == nil || a.Error.Param != "input" {
			t.Fatalf("status %d: %s", resp.StatusCode, b)
		}
		if n := len(m.Requests(vertexSA)) - since; n != 0 {
			t.Errorf("%d upstream calls for a refused request", n)
		}
		if got := before - balance(); got != 0 {
			t.Errorf("charged %d", got)
		}
	})
}
