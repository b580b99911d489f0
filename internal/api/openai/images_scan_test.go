package openai

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
)

// decodeCount is what the full decode says of an answer.
func decodeCount(b []byte) (images int, allB64, ok bool) {
	var top map[string]json.RawMessage
	var data []map[string]json.RawMessage
	if json.Unmarshal(b, &top) != nil || top["data"] == nil || json.Unmarshal(top["data"], &data) != nil || data == nil {
		return 0, false, false
	}
	allB64 = true
	for _, d := range data {
		v, has := d["b64_json"]
		allB64 = allB64 && has && len(v) > 0 && v[0] == '"'
	}
	return len(data), allB64, true
}

func TestScanImageAnswer(t *testing.T) {
	big := base64.StdEncoding.EncodeToString(make([]byte, 300_000))
	cases := []struct {
		body   string
		ok     bool
		images int
		allB64 bool
		usage  string
	}{
		{`{"created":1,"data":[{"b64_json":"` + big + `"},{"b64_json":"QUJD","revised_prompt":"a \"cat\"\n"}],"usage":{"input_tokens":3,"output_tokens":9}}`, true, 2, true, `{"input_tokens":3,"output_tokens":9}`},
		{` { "data" : [ { "url" : "https://x/y.png" } ] } `, true, 1, false, ""},
		{`{"data":[]}`, true, 0, true, ""},
		{`{"data":[{"b64_json":null}]}`, true, 1, false, ""},
		{`{"data":[{"b64_json":"QUJD"}],"extra":[1,2.5e3,true,false,null,{"a":[]}]}`, true, 1, true, ""},
		{`{"created":1}`, false, 0, false, ""},                              // no data
		{`{"data":[{"b64_json":"QUJD"}]`, false, 0, false, ""},              // truncated
		{`{"data":[{"b64_json":"QU` + "\n" + `JD"}]}`, false, 0, false, ""}, // raw control character
		{`{"data":[{"b64_json":"QUJD"},]}`, false, 0, false, ""},            // trailing comma
		{`{"data":[{"b64_json":"\q"}]}`, false, 0, false, ""},               // bad escape
		{`{"data":[{"b64_json":"QUJD"}]} x`, false, 0, false, ""},           // trailing data
		{`{"data":[{"b64_json":"QUJD"}],"n":01}`, false, 0, false, ""},      // bad number
		{`[1]`, false, 0, false, ""},
		{`{"data":[{"b64_json":"QUJD"}],"data":[{"b64_json":"QUJD"}]}`, false, 0, false, ""}, // repeated data
		{`{"data":[{"b64_json":"QUJD","b64_json":null}]}`, true, 1, false, ""},               // the last one counts
		{strings.Repeat("[", 100) + strings.Repeat("]", 100), false, 0, false, ""},
	}
	for _, c := range cases {
		s, ok := scanImageAnswer([]byte(c.body))
		if ok != c.ok || (ok && (s.images != c.images || s.allB64 != c.allB64 || string(s.usage) != c.usage)) {
			name := c.body
			if len(name) > 80 {
				name = name[:80]
			}
			t.Errorf("%s: got %+v ok=%v, want images=%d allB64=%v usage=%q ok=%v", name, s, ok, c.images, c.allB64, c.usage, c.ok)
		}
		if ok {
			n, all, dok := decodeCount([]byte(c.body))
			if !dok || n != s.images || all != s.allB64 {
				t.Errorf("scan and encoding/json disagree on %.60s", c.body)
			}
		}
	}
}

// FuzzScanImageAnswer: whatever the scan accepts, encoding/json accepts
// too and counts the same images, so a body passed through as is is
// valid JSON with the images the bill counts.
func FuzzScanImageAnswer(f *testing.F) {
	for _, s := range []string{
		`{"created":1,"data":[{"b64_json":"QUJD"},{"b64_json":"REVG","revised_prompt":"x\u00e9\"y"}],"usage":{"input_tokens":3}}`,
		`{"data":[{"url":"https://example.com/a.png"}]}`,
		`{"data":[],"usage":null}`,
		`{"data":[{"b64_json":"QUJD"}],"x":[[],{},-1.5e-3,true]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		s, ok := scanImageAnswer(b)
		if !ok {
			return
		}
		if !json.Valid(b) {
			t.Fatalf("scan accepted invalid JSON %q", b)
		}
		n, all, dok := decodeCount(b)
		if !dok || n != s.images || all != s.allB64 {
			t.Fatalf("scan says %d images (allB64 %v), encoding/json %d (%v, ok %v): %q", s.images, s.allB64, n, all, dok, b)
		}
	})
}

// BenchmarkImageAnswer compares the scan with the full decode on a 2.7 MB
// answer, the cost the passthrough path used to pay.
func BenchmarkImageAnswer(b *testing.B) {
	body := []byte(`{"created":1,"data":[{"b64_json":"` + base64.StdEncoding.EncodeToString(make([]byte, 2_000_000)) +
		`"}],"usage":{"input_tokens":3,"output_tokens":1056}}`)
	b.Run("scan", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			if _, ok := scanImageAnswer(body); !ok {
				b.Fatal("scan failed")
			}
		}
	})
	b.Run("decode", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			if _, _, ok := decodeCount(body); !ok {
				b.Fatal("decode failed")
			}
		}
	})
}

func TestHasControl(t *testing.T) {
	for n := range 40 {
		for pos := range n {
			for _, c := range []byte{0x00, 0x09, 0x1f, 0x20, 0x7f, 0x80, 0xff} {
				b := []byte(strings.Repeat("A", n))
				b[pos] = c
				if got, want := hasControl(b), c < 0x20; got != want {
					t.Fatalf("len %d, %#x at %d: %v, want %v", n, c, pos, got, want)
				}
			}
		}
	}
}
