package load

import (
	"context"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestHistogramQuantilesWithinOnePercent(t *testing.T) {
	var h Histogram
	vals := make([]int64, 100_000)
	for i := range vals {
		// Log-uniform from 1 µs to 10 s, the range a benchmark sees.
		vals[i] = int64(1000 * math.Pow(1e7, rand.Float64()))
		h.Record(time.Duration(vals[i]))
	}
	slices.Sort(vals)
	for _, q := range []float64{0.5, 0.9, 0.99, 0.999} {
		want := vals[int(q*float64(len(vals))+0.999999)-1]
		got := int64(h.Quantile(q))
		if got < want || float64(got-want) > float64(want)/subCount {
			t.Errorf("q%v = %d, want %d within 1/%d above", q, got, want, subCount)
		}
	}
	if h.Max() != time.Duration(vals[len(vals)-1]) || h.Quantile(1) != h.Max() {
		t.Errorf("max %v, q1 %v, want %v", h.Max(), h.Quantile(1), vals[len(vals)-1])
	}
}

func TestBucketsAreContiguous(t *testing.T) {
	prevHi := int64(-1)
	for i := range numBuckets {
		lo, hi := bucketBounds(i)
		if lo != prevHi+1 || hi < lo {
			t.Fatalf("bucket %d = [%d,%d], previous ended at %d", i, lo, hi, prevHi)
		}
		if bucketOf(lo) != i || bucketOf(hi) != i {
			t.Fatalf("bucket %d bounds map to %d and %d", i, bucketOf(lo), bucketOf(hi))
		}
		prevHi = hi
	}
}

func TestCheckLoopback(t *testing.T) {
	ctx := context.Background()
	for _, u := range []string{"http://127.0.0.1:1/x", "http://[::1]:1/", "http://localhost:8080/v1"} {
		if err := CheckLoopback(ctx, u); err != nil {
			t.Errorf("%s: %v", u, err)
		}
	}
	for _, u := range []string{"http://10.0.0.1/", "https://127.0.0.1/", "http://example.com/", "http://0.0.0.0:80/"} {
		if err := CheckLoopback(ctx, u); err == nil {
			t.Errorf("%s accepted", u)
		}
	}
}

func testServer(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		if r.URL.Path == "/fail" {
			http.Error(w, "nope", http.StatusTeapot)
			return
		}
		_, _ = io.WriteString(w, strings.Repeat("x", 100)+"data: [DONE]\n\n")
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestClosedLoopStopsAtRequestCount(t *testing.T) {
	srv := testServer(t)
	req := Request{URL: srv.URL + "/ok", Body: []byte("{}"), Tail: []byte("[DONE]")}
	res, err := Run(t.Context(), Client(4), req, Config{Mode: Closed, Workers: 4, Requests: 200})
	if err != nil {
		t.Fatal(err)
	}
	if res.OK != 200 || res.Errors != 0 || res.Latency.Count != 200 {
		t.Fatalf("ok %d errors %d count %d %v", res.OK, res.Errors, res.Latency.Count, res.ErrorSamples)
	}
}

func TestOpenLoopKeepsRateAndCountsErrors(t *testing.T) {
	srv := testServer(t)
	req := Request{URL: srv.URL + "/fail", Body: []byte("{}")}
	res, err := Run(t.Context(), Client(16), req, Config{Mode: Open, Rate: 500, Duration: 400 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	// 500/s for 0.4 s is 200 starts; allow the edges of the window.
	if n := res.Errors + res.Missed; n < 180 || n > 201 || res.OK != 0 {
		t.Fatalf("errors %d missed %d ok %d", res.Errors, res.Missed, res.OK)
	}
	if len(res.ErrorSamples) != 1 || !strings.Contains(res.ErrorSamples[0], "418") {
		t.Fatalf("samples %q", res.ErrorSamples)
	}
}

func TestTailMismatchIsAnError(t *testing.T) {
	srv := testServer(t)
	req := Request{URL: srv.URL + "/ok", Tail: []byte("never there")}
	res, err := Run(t.Context(), Client(1), req, Config{Mode: Closed, Workers: 1, Requests: 3})
	if err != nil {
		t.Fatal(err)
	}
	if res.OK != 0 || res.Errors != 3 {
		t.Fatalf("ok %d errors %d", res.OK, res.Errors)
	}
}

func TestTailWriterKeepsLastBytes(t *testing.T) {
	var w tailWriter
	for _, s := range []string{strings.Repeat("a", 100), "bc", strings.Repeat("d", 70), "END"} {
		_, _ = w.Write([]byte(s))
	}
	want := strings.Repeat("d", 61) + "END"
	if got := string(w.bytes()); got != want {
		t.Fatalf("tail %q, want %q", got, want)
	}
}

// Live sees the same answers the Result counts, across runs sharing it.
func TestLiveCountsAcrossRuns(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/bad" {
			http.Error(w, "no", http.StatusTeapot)
			return
		}
		io.WriteString(w, "ok")
	}))
	defer srv.Close()
	var live Live
	var ok, errs int64
	for _, path := range []string{"/good", "/bad"} {
		res, err := Run(context.Background(), Client(4), Request{URL: srv.URL + path},
			Config{Mode: Closed, Workers: 2, Requests: 20, Live: &live})
		if err != nil {
			t.Fatal(err)
		}
		ok += res.OK
		errs += res.Errors
	}
	if ok != 20 || errs != 20 || live.OK.Load() != ok || live.Errors.Load() != errs {
		t.Fatalf("results ok %d errors %d, live ok %d errors %d; want 20 and 20 in both",
			ok, errs, live.OK.Load(), live.Errors.Load())
	}
}
