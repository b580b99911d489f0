package faults_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"
)

// readEvents reads n data lines of a stream.
func readEvents(t *testing.T, rd *bufio.Reader, n int) {
	t.Helper()
	for seen := 0; seen < n; {
		line, err := rd.ReadString('\n')
		if err != nil {
			t.Fatalf("read stream: %v", err)
		}
		if strings.HasPrefix(line, "data: ") {
			seen++
		}
	}
}

// Case 7: the client leaves mid-stream; the upstream call must end with it.
func TestClientDisconnects(t *testing.T) {
	n := startNode(t, nil)
	const chunks = 200
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	resp, err := n.client.Do(n.request(ctx, fmt.Sprintf("[[mock chunks=%d chunk_delay=20ms]] tell me a long story", chunks), true))
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		t.Fatalf("stream: %d %s", resp.StatusCode, b)
	}
	readEvents(t, bufio.NewReader(resp.Body), 6)
	finished := n.up.finished.Load()
	left := time.Now()
	cancel()
	resp.Body.Close()

	// The mock's handler ends when its request context does: the gateway
	// must have cancelled the upstream call, not let it run its 4 s out.
	deadline := time.Now().Add(3 * time.Second)
	for n.up.finished.Load() == finished {
		if time.Now().After(deadline) {
			t.Fatal("the upstream request still runs 3 s after the client left")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if took := time.Unix(0, n.up.lastEnd.Load()).Sub(left); took > time.Second {
		t.Errorf("the upstream request ended %v after the client left, want promptly", took)
	}
	n.wantRelayedOnly(n.settle(1)[0], 499, chunks)
	n.audit()
	n.checkLeaks()
}

func heapInuse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// Case 8: a client that reads slowly. The gateway must pass the pressure
// back to the upstream (stop reading it) rather than buffer the answer,
// and deliver all of it once the client reads again.
func TestSlowReader(t *testing.T) {
	n := startNode(t, nil)
	// Small socket buffers at both ends that the test owns, so that what
	// the kernel holds is mostly the gateway's own sockets' buffers.
	n.up.sndBuf.Store(32 << 10)
	n.rcvBuf.Store(32 << 10)
	// About 180 bytes an event: a 16 MB answer, four times what the
	// gateway's own socket buffers took in trials (4 MB).
	const chunks = 90_000
	// A short stream first, so that what the stream path loads once (the
	// tokenizer's tables, several MB) is in the baseline, not the growth.
	warm := n.up.finished.Load()
	if a := n.send("warm up the stream path", true); a.status != 200 {
		t.Fatalf("warm-up stream: %d %s", a.status, a.body)
	}
	// The mock's handler returns a moment after its client read [DONE]:
	// wait for it, or its count would pass for the slow answer finishing.
	for deadline := time.Now().Add(10 * time.Second); n.up.finished.Load() == warm; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the warm-up stream's mock handler never returned")
		}
	}
	before := heapInuse()
	finished := n.up.finished.Load()
	wrote := n.up.written.Load()
	// Not n.client: its 20 s timeout covers reading the body, and the pause
	// plus 16 MB read under -race on a loaded CI machine can take longer.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	resp, err := (&http.Client{Transport: n.tr}).Do(n.request(ctx, fmt.Sprintf("[[mock chunks=%d]] a very long answer", chunks), true))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("stream: %d %s", resp.StatusCode, b)
	}
	rd := bufio.NewReaderSize(resp.Body, 4096)
	readEvents(t, rd, 10)

	// Paused: the mock fills the buffers, then blocks.
	var paused int64
	for deadline := time.Now().Add(15 * time.Second); ; {
		w := n.up.written.Load()
		time.Sleep(200 * time.Millisecond)
		if n.up.written.Load() == w {
			paused = w - wrote
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the mock never stopped writing while the client read nothing")
		}
	}
	grown := int64(heapInuse()) - int64(before)
	if n.up.finished.Load() != finished {
		t.Fatalf("the mock finished a %d-chunk answer while the client read nothing: the gateway buffered it", chunks)
	}
	t.Logf("while the client paused the mock wrote %d KB and the heap grew %d KB", paused>>10, grown>>10)
	if grown > 4<<20 {
		t.Errorf("heap grew by %d MB while the client paused: the gateway buffers the stream", grown>>20)
	}

	// Resumed: everything arrives.
	rest, err := io.ReadAll(rd)
	if err != nil {
		t.Fatalf("read the rest: %v", err)
	}
	if !strings.HasSuffix(strings.TrimSpace(string(rest)), "data: [DONE]") {
		t.Fatalf("resumed stream did not complete: ends with %q", rest[max(0, len(rest)-200):])
	}
	if got := strings.Count(string(rest), "data: ") + 10; got < chunks+2 {
		t.Fatalf("resumed stream carried %d events, want at least %d", got, chunks+2)
	}
	if total := n.up.written.Load() - wrote; paused > total/2 {
		t.Errorf("the mock wrote %d of %d KB while the client read nothing: the gateway reads far ahead of its client", paused>>10, total>>10)
	}
	rows := n.settle(2) // the stream warm-up's and the slow reader's
	r := rows[0]
	if rows[1].CompletionTokens > r.CompletionTokens {
		r = rows[1]
	}
	if r.Status != 200 || r.CompletionTokens < chunks {
		t.Fatalf("slow reader's request logged as status %d with %d completion tokens", r.Status, r.CompletionTokens)
	}
	n.audit()
	n.checkLeaks()
}
