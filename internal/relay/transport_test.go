package relay

import (
	"testing"

	"github.com/switchyard/switchyard/internal/config"
)

// Every upstream connection keeps its write buffer for life, and a held
// stream keeps its connection: the default 4 KiB would come back per
// stream. The buffer only ever holds a request's head.
func TestUpstreamWriteBufferSmall(t *testing.T) {
	for _, proxy := range []string{"", "http://127.0.0.1:3128"} {
		tr, err := newTransport(config.Upstream{}, proxy)
		if err != nil {
			t.Fatal(err)
		}
		if tr.WriteBufferSize <= 0 || tr.WriteBufferSize > 1<<10 {
			t.Errorf("proxy %q: WriteBufferSize %d, want 1..1024 (0 means net/http's 4 KiB)", proxy, tr.WriteBufferSize)
		}
	}
}
