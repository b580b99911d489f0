package jsonscan

import (
	"encoding/json"
	"strings"
	"testing"
)

var cases = []string{
	``, ` `, `0`, `-0`, `-`, `01`, `1.`, `1.5`, `1e`, `1e+`, `1E-7`, `-12.5e+3`, `.5`, `+1`, `1 2`,
	`true`, `tru`, `truex`, `false`, `null`, `nul`, `NaN`,
	`""`, `"`, `"a\"b"`, `"\u00e9"`, `"\u00g9"`, `"\u12"`, `"\x"`, "\"a\tb\"", "\"\xff\xfe\"", `"\/"`,
	`{}`, `{ }`, `{`, `}`, `{"a":1}`, `{"a":1,}`, `{"a" : [1, 2, {"b":null}] }`, `{"a"}`, `{"a":}`, `{a:1}`,
	`{"a":1 "b":2}`, `[]`, `[ ]`, `[1,]`, `[,1]`, `[1 2]`, `[[[]]]`, `[[[]]`, `[}`, `{]`,
	" \t\n\r[1]\r\n", "[1]\x00", `{"choices":[{"delta":{"content":"hi"},"finish_reason":null}],"model":"m"}`,
	strings.Repeat("[", 10000) + strings.Repeat("]", 10000),
	strings.Repeat("[", 10001) + strings.Repeat("]", 10001),
	strings.Repeat(`{"a":`, 10000) + "1" + strings.Repeat("}", 10000),
	strings.Repeat(`{"a":`, 10001) + "1" + strings.Repeat("}", 10001),
}

func TestValidMatchesEncodingJSON(t *testing.T) {
	for _, c := range cases {
		if got, want := Valid([]byte(c)), json.Valid([]byte(c)); got != want {
			t.Errorf("Valid(%.40q) = %v, encoding/json says %v", c, got, want)
		}
	}
}

func FuzzValid(f *testing.F) {
	for _, c := range cases {
		if len(c) < 200 {
			f.Add([]byte(c))
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if got, want := Valid(b), json.Valid(b); got != want {
			t.Fatalf("Valid(%q) = %v, encoding/json says %v", b, got, want)
		}
	})
}

func TestValidDoesNotAllocate(t *testing.T) {
	b := []byte(`{"id":"x","choices":[{"index":0,"delta":{"content":"hello \"there\""},"finish_reason":null}],"usage":{"n":[1,2.5e3,-0]}}`)
	if n := testing.AllocsPerRun(100, func() { Valid(b) }); n != 0 {
		t.Fatalf("%v allocations per call, want 0", n)
	}
}

var chunk = []byte(`{"id":"chatcmpl-123","object":"chat.completion.chunk","created":1694268190,"model":"gpt-4o-mini","system_fingerprint":"fp_44709d6fcb","choices":[{"index":0,"delta":{"content":" story"},"logprobs":null,"finish_reason":null}]}`)

func BenchmarkValid(b *testing.B) {
	b.SetBytes(int64(len(chunk)))
	for b.Loop() {
		Valid(chunk)
	}
}

func BenchmarkEncodingJSONValid(b *testing.B) {
	b.SetBytes(int64(len(chunk)))
	for b.Loop() {
		json.Valid(chunk)
	}
}
