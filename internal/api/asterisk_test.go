package api

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
)

// TestAsteriskForm: "GET *" reaches the handler (net/http answers only
// OPTIONS * itself) and gets an OpenAI-shaped 400, not ServeMux's bare one.
func TestAsteriskForm(t *testing.T) {
	e := newTestEnv(t, Options{}, nil)
	for _, method := range []string{"GET", "POST", "DELETE"} {
		conn, err := net.Dial("tcp", strings.TrimPrefix(e.srv.URL, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.WriteString(conn, method+" * HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		conn.Close()
		var oe openAIErr
		if resp.StatusCode != http.StatusBadRequest || json.Unmarshal(b, &oe) != nil || oe.Error.Code != "invalid_request_error" {
			t.Errorf("%s *: %d %q", method, resp.StatusCode, b)
		}
	}
}
