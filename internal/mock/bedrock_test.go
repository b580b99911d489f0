package mock

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/eventstream"
	"github.com/switchyard/switchyard/internal/sigv4"
)

// bedrockPost sends body to op of model, signed for access key id with
// secret (AWSSecret(id) unless given).
func bedrockPost(t *testing.T, base, model, op, id, secret, body string, header map[string]string) *http.Response {
	t.Helper()
	if secret == "" {
		secret = AWSSecret(id)
	}
	req, err := http.NewRequest(http.MethodPost, base+"/model/"+sigv4.URIEncode(model, true)+"/"+op, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	sigv4.Signer{Service: "bedrock", Region: "us-west-2"}.Sign(req, sigv4.Credentials{AccessKeyID: id, SecretAccessKey: secret},
		sigv4.PayloadHash([]byte(body)), time.Now())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

const bedrockHello = `{"messages":[{"role":"user","content":[{"text":"Hello there"}]}]}`

func TestBedrockConverse(t *testing.T) {
	s, ts := newServer(t, Options{})
	resp := bedrockPost(t, ts.URL, "anthropic.claude-3-haiku-20240307-v1:0", "converse", "AKIDMOCK1", "", bedrockHello, nil)
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !bytes.Contains(b, []byte(`"text":"Mock reply to: Hello there`)) || !bytes.Contains(b, []byte(`"stopReason":"end_turn"`)) {
		t.Fatalf("converse: %d %s", resp.StatusCode, b)
	}
	if got := s.Requests("AKIDMOCK1"); len(got) != 1 || got[0].Path != "/model/anthropic.claude-3-haiku-20240307-v1:0/converse" {
		t.Errorf("recorded %+v", got)
	}

	resp = bedrockPost(t, ts.URL, "m", "converse", "AKIDMOCK1", "wrong", bedrockHello, nil)
	if resp.StatusCode != 403 || !strings.HasPrefix(resp.Header.Get("X-Amzn-ErrorType"), "InvalidSignatureException") {
		t.Errorf("wrong secret: %d %s", resp.StatusCode, resp.Header.Get("X-Amzn-ErrorType"))
	}

	s.SetFault("AKIDHOT", Fault{Status: 429})
	resp = bedrockPost(t, ts.URL, "m", "converse", "AKIDHOT", "", bedrockHello, nil)
	b, _ = io.ReadAll(resp.Body)
	if resp.StatusCode != 429 || !strings.HasPrefix(resp.Header.Get("X-Amzn-ErrorType"), "ThrottlingException:") || !bytes.Contains(b, []byte(`"message"`)) {
		t.Errorf("throttled: %d %s %s", resp.StatusCode, resp.Header.Get("X-Amzn-ErrorType"), b)
	}
	resp = bedrockPost(t, ts.URL, "m", "converse", "AKIDQ", "", bedrockHello, map[string]string{"X-Mock-Fault": "status=400 error_code=ServiceQuotaExceededException"})
	if resp.StatusCode != 400 || !strings.HasPrefix(resp.Header.Get("X-Amzn-ErrorType"), "ServiceQuotaExceededException") {
		t.Errorf("quota: %d %s", resp.StatusCode, resp.Header.Get("X-Amzn-ErrorType"))
	}
}

func readFrames(t *testing.T, r io.Reader) (names []string, payloads []string, err error) {
	rd := eventstream.NewReader(r, 0)
	for {
		m, err := rd.Next()
		if err == io.EOF {
			return names, payloads, nil
		}
		if err != nil {
			return names, payloads, err
		}
		name := m.Header(":event-type")
		if m.Header(":message-type") == "exception" {
			name = "exception:" + m.Header(":exception-type")
		}
		names = append(names, name)
		payloads = append(payloads, string(m.Payload))
	}
}

func TestBedrockConverseStream(t *testing.T) {
	_, ts := newServer(t, Options{})
	resp := bedrockPost(t, ts.URL, "m", "converse-stream", "AKIDS", "", bedrockHello, map[string]string{"X-Mock-Fault": "chunks=3"})
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != 200 || ct != "application/vnd.amazon.eventstream" {
		t.Fatalf("stream: %d %s", resp.StatusCode, ct)
	}
	names, payloads, err := readFrames(t, resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	want := "messageStart contentBlockDelta contentBlockDelta contentBlockDelta contentBlockStop messageStop metadata"
	if strings.Join(names, " ") != want || !strings.Contains(payloads[len(payloads)-1], `"outputTokens"`) {
		t.Errorf("events %v, last %s", names, payloads[len(payloads)-1])
	}

	tools := `{"messages":[{"role":"user","content":[{"text":"weather?"}]}],"toolConfig":{"tools":[{"toolSpec":{"name":"get_weather","inputSchema":{"json":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}}}]}}`
	resp = bedrockPost(t, ts.URL, "m", "converse-stream", "AKIDS", "", tools, nil)
	names, payloads, err = readFrames(t, resp.Body)
	if err != nil || names[1] != "contentBlockStart" || !strings.Contains(payloads[1], `"get_weather"`) || !strings.Contains(payloads[len(payloads)-2], "tool_use") {
		t.Errorf("tool stream: %v %v %v", err, names, payloads)
	}

	resp = bedrockPost(t, ts.URL, "m", "converse-stream", "AKIDS", "", bedrockHello, map[string]string{"X-Mock-Fault": "error_after=2 error_code=throttlingException"})
	names, _, _ = readFrames(t, resp.Body)
	if len(names) != 3 || names[2] != "exception:throttlingException" {
		t.Errorf("error_after: %v", names)
	}
}
