package openai_test

import (
	"bytes"
	"io"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/switchyard/switchyard/internal/config"
	"github.com/switchyard/switchyard/internal/mock"
	"github.com/switchyard/switchyard/internal/testenv"
)

// The benchmarks run the whole gateway (middleware, auth, relay, transport)
// on loopback against the mock; the numbers include the mock's own cost.

func benchGateway(b *testing.B) (*gateway, *http.Client) {
	g := startGatewayWith(b, mock.Options{DisableRecording: true}, func(cfg *config.Config) {
		cfg.Log.Level = "error"
	})
	tr := &http.Transport{MaxIdleConnsPerHost: 64}
	b.Cleanup(tr.CloseIdleConnections)
	return g, &http.Client{Transport: tr}
}

func benchPost(b *testing.B, g *gateway, c *http.Client, body string) {
	benchPostTo(b, c, g.base+"/v1/chat/completions", testKey, body)
}

func benchPostTo(b *testing.B, c *http.Client, url, key, body string) {
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	n, _ := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || n == 0 {
		b.Fatalf("status %d, %d bytes", resp.StatusCode, n)
	}
}

func BenchmarkChatNonStream(b *testing.B) {
	g, c := benchGateway(b)
	body := `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hello there, benchmark"}]}`
	benchNonStream(b, g, c, body)
}

// BenchmarkChatNonStreamBilled is BenchmarkChatNonStream with the model
// priced, the caller funded and its key limited (rpm, tpm and a daily
// count that never refuse): admission, reserve, settle, journal and usage
// row on every request, the drainer posting in the background.
func BenchmarkChatNonStreamBilled(b *testing.B) {
	g := startGatewayWith(b, mock.Options{DisableRecording: true}, func(cfg *config.Config) {
		cfg.Log.Level = "error"
		cfg.Pricing = map[string]config.Price{"gpt-4o-mini": {Input: 0.15, Output: 0.6}}
		cfg.Billing.NewUserCredit = 1e6
		limitKey(cfg)
	})
	tr := &http.Transport{MaxIdleConnsPerHost: 64}
	b.Cleanup(tr.CloseIdleConnections)
	c := &http.Client{Transport: tr}
	body := `{"model":"gpt-4o-mini","max_tokens":100,"messages":[{"role":"user","content":"Hello there, benchmark"}]}`
	benchNonStream(b, g, c, body)
}

// BenchmarkChatNonStreamBilledPGRedis is BenchmarkChatNonStreamBilled on
// PostgreSQL + Redis (hot state, limiter, leases and the journal in Redis).
func BenchmarkChatNonStreamBilledPGRedis(b *testing.B) {
	pg := testenv.FreshPostgresURL(b)
	rurl := testenv.RedisURL(b)
	g := startGatewayWith(b, mock.Options{DisableRecording: true}, func(cfg *config.Config) {
		cfg.Log.Level = "error"
		cfg.Database.URL = config.Secret(pg)
		cfg.SecretKey = config.Secret(strings.Repeat("ab", 32))
		cfg.Redis.URL = config.Secret(rurl)
		cfg.Redis.Prefix = testenv.RedisPrefix(b, rurl)
		cfg.Pricing = map[string]config.Price{"gpt-4o-mini": {Input: 0.15, Output: 0.6}}
		cfg.Billing.NewUserCredit = 1e6
		limitKey(cfg)
	})
	tr := &http.Transport{MaxIdleConnsPerHost: 64}
	b.Cleanup(tr.CloseIdleConnections)
	c := &http.Client{Transport: tr}
	body := `{"model":"gpt-4o-mini","max_tokens":100,"messages":[{"role":"user","content":"Hello there, benchmark"}]}`
	benchNonStream(b, g, c, body)
}

// limitKey gives the benchmarks' key limits that are checked on every
// request but never refuse.
func limitKey(cfg *config.Config) {
	for i := range cfg.Keys {
		if cfg.Keys[i].Key == testKey {
			cfg.Keys[i].RPM, cfg.Keys[i].TPM, cfg.Keys[i].DailyRequests = 1<<30, 1<<30, 1<<30
		}
	}
}

// benchNonStream posts body to the gateway b.N times from GOMAXPROCS
// goroutines and reports, besides the usual figures (which count the
// benchmark's client and the mock too), the gateway's own share:
//
//	gw-allocs/op, gw-B/op  the heap allocations of the gateway run minus
//	                       those of the same b.N requests, from the same
//	                       client code, sent straight to the mock in the
//	                       same benchmark run.
//
// What is left is what the gateway's server, handlers, relay, upstream
// transport and background work (journal, drainer, usage rows) allocate
// for those requests. Both counts come from runtime.MemStats (Mallocs,
// TotalAlloc), as -benchmem's do.
func benchNonStream(b *testing.B, g *gateway, c *http.Client, body string) {
	b.Helper()
	direct := func() { benchPostTo(b, c, g.up+"/v1/chat/completions", "oa-1", body) }
	gw := func() { benchPostTo(b, c, g.base+"/v1/chat/completions", testKey, body) }
	for range 16 { // connections and first-use state, outside both counts
		direct()
		gw()
	}
	mockAllocs, mockBytes := countAllocs(b.N, direct)
	b.ReportAllocs()
	b.ResetTimer()
	allocs, bytes := countAllocs(b.N, gw)
	b.StopTimer()
	b.ReportMetric(float64(allocs-mockAllocs)/float64(b.N), "gw-allocs/op")
	b.ReportMetric(float64(bytes-mockBytes)/float64(b.N), "gw-B/op")
}

// countAllocs runs fn n times from GOMAXPROCS goroutines and returns the
// heap objects and bytes allocated meanwhile, by the whole process.
func countAllocs(n int, fn func()) (allocs, bytes int64) {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for next.Add(1) <= int64(n) {
				fn()
			}
		})
	}
	wg.Wait()
	runtime.ReadMemStats(&after)
	return int64(after.Mallocs - before.Mallocs), int64(after.TotalAlloc - before.TotalAlloc)
}

func BenchmarkChatStream(b *testing.B) {
	for _, model := range []string{"gpt-4o-mini", "claude-test"} {
		b.Run(model, func(b *testing.B) {
			g, c := benchGateway(b)
			body := `{"model":"` + model + `","stream":true,"messages":[{"role":"user","content":"Hello there [[mock chunks=64]]"}]}`
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					benchPost(b, g, c, body)
				}
			})
		})
	}
}

// BenchmarkImageB64 relays a 2.7 MB base64 image answer, priced per
// image, through the whole gateway (task record included).
func BenchmarkImageB64(b *testing.B) {
	g := imageGateway(b, func(cfg *config.Config) {
		cfg.Log.Level = "error"
		cfg.Pricing = map[string]config.Price{"gpt-image-1": {PerImage: map[string]float64{"default": 0.04}}}
		cfg.Billing.NewUserCredit = 1e6
	})
	tr := &http.Transport{MaxIdleConnsPerHost: 64}
	b.Cleanup(tr.CloseIdleConnections)
	c := &http.Client{Transport: tr}
	body := `{"model":"gpt-image-1","prompt":"bench [[mock image_bytes=2000000]]","response_format":"b64_json"}`
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, _ := http.NewRequest(http.MethodPost, g.base+"/v1/images/generations", strings.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+testKey)
			req.Header.Set("Content-Type", "application/json")
			resp, err := c.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			n, _ := io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || n < 2_000_000 {
				b.Fatalf("status %d, %d bytes", resp.StatusCode, n)
			}
		}
	})
}

// BenchmarkImageEdit10MB uploads a 10 MiB image (small pixels, padded) as
// a multipart edit through the whole gateway.
func BenchmarkImageEdit10MB(b *testing.B) {
	g := imageGateway(b, func(cfg *config.Config) { cfg.Log.Level = "error" })
	body, ctype := multipartBody(b, [][2]string{{"model", "gpt-image-1"}, {"prompt", "bench"}},
		[]formFile{{"image", "big.png", "image/png", pngBytes(b, 256, 256, 10<<20)}})
	raw := body.Bytes()
	c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 8}}
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		req, _ := http.NewRequest(http.MethodPost, g.base+"/v1/images/edits", bytes.NewReader(raw))
		req.Header.Set("Authorization", "Bearer "+testKey)
		req.Header.Set("Content-Type", ctype)
		resp, err := c.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("status %d", resp.StatusCode)
		}
	}
}
