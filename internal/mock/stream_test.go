package mock

import (
	"bufio"
	"io"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestLongStreamConstantMemory streams 100 000 chunks. The client stops
// after the first event until the socket buffers are full and the server is
// blocked mid-stream; the server's heap must not have grown by anything like
// the stream's size (≈20 MB), which proves it is not built in memory.
func TestLongStreamConstantMemory(t *testing.T) {
	const chunks = 100_000
	_, ts := newServer(t, Options{DisableRecording: true})
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)

	resp, err := ts.Client().Do(req{path: "/v1/chat/completions", body: chatBody("[[mock chunks=100000]] long", true)}.build(t, ts.URL))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReaderSize(resp.Body, 64<<10)
	if _, err := br.ReadString('\n'); err != nil {
		t.Fatalf("first event: %v", err)
	}
	time.Sleep(300 * time.Millisecond) // the server writes until the socket blocks
	runtime.GC()
	var during runtime.MemStats
	runtime.ReadMemStats(&during)
	if grew := int64(during.HeapAlloc) - int64(before.HeapAlloc); grew > 8<<20 {
		t.Fatalf("heap grew %d bytes while the stream was paused; the stream is being buffered", grew)
	}

	n, err := readEvents(br)
	if err != io.EOF {
		t.Fatalf("stream ended with %v", err)
	}
	// role chunk + content chunks + finish chunk + [DONE], minus the one line already read.
	if want := chunks + 3 - 1; n != want {
		t.Fatalf("%d more events, want %d", n, want)
	}
}

// TestConcurrentCredentials hammers counters, fault rules and recording
// from many goroutines (run with -race).
func TestConcurrentCredentials(t *testing.T) {
	s, ts := newServer(t, Options{})
	s.SetFault("k0", Fault{Status: 429, Times: 10})
	var wg sync.WaitGroup
	const workers, each = 8, 25
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			key := "k" + string(rune('0'+w%4))
			for range each {
				resp, err := ts.Client().Do(req{key: key, path: "/v1/chat/completions", body: chatBody("x", w%2 == 0)}.build(t, ts.URL))
				if err != nil {
					t.Error(err)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}()
	}
	wg.Wait()
	c := s.Counters()
	if c.Total != workers*each || c.Status["429"] != 10 || c.Status["200"] != workers*each-10 || c.ByCredential["k1"] != 2*each {
		t.Fatalf("counters %+v", c)
	}
	if got := len(s.Requests("k2")); got != 2*each {
		t.Fatalf("k2 recorded %d", got)
	}
}

func benchChat(b *testing.B, stream bool) {
	_, ts := newServer(b, Options{DisableRecording: true})
	r := req{path: "/v1/chat/completions", body: chatBody(strings.Repeat("benchmark prompt ", 20), stream)}
	client := ts.Client()
	client.Transport.(interface{ CloseIdleConnections() }).CloseIdleConnections()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := client.Do(r.build(b, ts.URL))
			if err != nil {
				b.Error(err)
				return
			}
			if _, err := io.Copy(io.Discard, resp.Body); err != nil {
				b.Error(err)
			}
			resp.Body.Close()
		}
	})
}

// BenchmarkChatNonStream and BenchmarkChatStream measure the mock as the
// "floor" of gateway benchmarks: real loopback HTTP, client cost included.
func BenchmarkChatNonStream(b *testing.B) { benchChat(b, false) }
func BenchmarkChatStream(b *testing.B)    { benchChat(b, true) }
