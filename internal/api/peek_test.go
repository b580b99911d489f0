package api_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"strconv"
	"strings"
	"testing"

	"github.com/switchyard/switchyard/internal/api"
	"github.com/switchyard/switchyard/internal/apierror"
	oaup "github.com/switchyard/switchyard/internal/provider/openai"
)

var peekMembers = []api.Judged{
	{Name: "model", Kind: api.KindString},
	{Name: "max_tokens", Kind: api.KindInt, Min: 1, Max: math.MaxInt32},
	{Name: "stream", Kind: api.KindBool},
	{Name: "stream_options", Kind: api.KindObject},
	{Name: "messages", Kind: api.KindAny},
}

// TestPeekJSON: the strict reader's rules, each case with the param the 400
// names ("" for an accepted body).
func TestPeekJSON(t *testing.T) {
	tests := []struct {
		name, body string
		param      string // the 400's param; "-" for accepted
		model      string
		maxTokens  int64
	}{
		{"plain", `{"model":"m","max_tokens":5,"stream":true,"stream_options":{}}`, "-", "m", 5},
		{"whitespace and other members", " {\n\"a\":[1,{\"model\":2}], \"model\" : \"m\" ,\"b\":\"x\\\"model\\\"\"}\t", "-", "m", 0},
		{"nulls are absent", `{"model":null,"max_tokens":null,"stream":null,"stream_options":null}`, "-", "", 0},
		{"escapes in a value", `{"model":"a\u00e9\ud83d\ude00\n"}`, "-", "aé😀\n", 0},
		{"escapes in another name", `{"mod\u0065":1,"model":"m"}`, "-", "m", 0},
		{"other case-insensitive lookalikes are other names", `{"model_":1,"mode":2,"models":3,"model":"m"}`, "-", "m", 0},

		{"duplicate", `{"model":"a","model":"b"}`, "model", "", 0},
		{"duplicate with null", `{"model":"a","model":null}`, "model", "", 0},
		{"escaped name", `{"mod\u0065l":"a"}`, "model", "", 0},
		{"escaped duplicate", `{"model":"a","mod\u0065l":"b"}`, "model", "", 0},
		{"upper case", `{"model":"a","MODEL":"b"}`, "MODEL", "", 0},
		{"upper case alone", `{"MODEL":"b"}`, "MODEL", "", 0},
		{"mixed case", `{"Max_Tokens":5}`, "Max_Tokens", "", 0},
		{"escaped upper case", `{"\u004dODEL":"b"}`, "MODEL", "", 0},
		{"long s folds to s", `{"ſtream":true}`, "ſtream", "", 0},
		{"Kelvin sign folds to k", `{"max_to` + "\u212a" + `ens":5}`, "max_to\u212aens", "", 0},
		{"dotless i folds to I", `{"stream_optıons":{}}`, "stream_optıons", "", 0},

		{"model a number", `{"model":5}`, "model", "", 0},
		{"model invalid UTF-8", "{\"model\":\"a\xffb\"}", "model", "", 0},
		{"model lone surrogate", `{"model":"a\ud800b"}`, "model", "", 0},
		{"model reversed surrogates", `{"model":"\ude00\ud83d"}`, "model", "", 0},
		{"max_tokens string", `{"max_tokens":"100000"}`, "max_tokens", "", 0},
		{"max_tokens float", `{"max_tokens":100.0}`, "max_tokens", "", 0},
		{"max_tokens exponent", `{"max_tokens":1e3}`, "max_tokens", "", 0},
		{"max_tokens bool", `{"max_tokens":true}`, "max_tokens", "", 0},
		{"max_tokens array", `{"max_tokens":[1]}`, "max_tokens", "", 0},
		{"max_tokens zero", `{"max_tokens":0}`, "max_tokens", "", 0},
		{"max_tokens negative", `{"max_tokens":-5}`, "max_tokens", "", 0},
		{"max_tokens beyond int32", `{"max_tokens":2147483648}`, "max_tokens", "", 0},
		{"max_tokens beyond int64", `{"max_tokens":99999999999999999999999}`, "max_tokens", "", 0},
		{"stream a string", `{"stream":"true"}`, "stream", "", 0},
		{"stream a number", `{"stream":1}`, "stream", "", 0},
		{"stream_options an array", `{"stream_options":[]}`, "stream_options", "", 0},

		{"not an object", `[{"model":"m"}]`, "", "", 0},
		{"not JSON", `{"model":"m"`, "", "", 0},
		{"invalid name UTF-8", "{\"a\xff\":1}", "", "", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := make([]api.Peeked, len(peekMembers))
			err := api.PeekJSON([]byte(tc.body), peekMembers, out)
			if tc.param == "-" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if out[0].Str != tc.model || out[1].Int != tc.maxTokens {
					t.Errorf("model %q max_tokens %d, want %q %d", out[0].Str, out[1].Int, tc.model, tc.maxTokens)
				}
				return
			}
			ae, ok := errors.AsType[*apierror.Error](err)
			if !ok || ae.Status != 400 {
				t.Fatalf("want a 400, got %v", err)
			}
			if ae.Param != tc.param {
				t.Errorf("param %q, want %q (%s)", ae.Param, tc.param, ae.Message)
			}
		})
	}
}

// FuzzPeekJSON: whenever the strict reader accepts a body, every other way
// of reading a judged member agrees with it: encoding/json into a struct
// (case-insensitive, last wins; the translators), into a map (exact, last
// wins) and FindMember (exact, first wins; the byte-level edits).
func FuzzPeekJSON(f *testing.F) {
	for _, s := range []string{
		`{"model":"m","max_tokens":5,"stream":true,"stream_options":{"include_usage":true}}`,
		`{"model":"premium","MODEL":"allowed"}`,
		`{"max_tokens":5000,"MAX_TOKENS":1}`,
		`{"max_tokens":"100000"}`,
		`{"max_tokens":100.0}`,
		`{"model":"a","mod\u0065l":"b"}`,
		`{"\u004dODEL":"b","model":"a"}`,
		`{"ſtream":false,"stream":true}`,
		`{"model":"a\ud800"}`,
		`{"model":null,"n":3,"messages":[{"model":"x"}]}`,
		`{"stream_options":null,"Stream_Options":{}}`,
		`{"messages":[{"role":"user","content":"long"}],"MESSAGES":[]}`,
		`{"messages":"a","mess\u0061ges":"b"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		out := make([]api.Peeked, len(peekMembers))
		if err := api.PeekJSON(body, peekMembers, out); err != nil {
			if _, ok := errors.AsType[*apierror.Error](err); !ok {
				t.Fatalf("%q: not an apierror: %v", body, err)
			}
			return // refused: nothing reads it
		}
		var st struct {
			Model         *json.RawMessage `json:"model"`
			MaxTokens     *json.RawMessage `json:"max_tokens"`
			Stream        *json.RawMessage `json:"stream"`
			StreamOptions *json.RawMessage `json:"stream_options"`
			Messages      *json.RawMessage `json:"messages"`
		}
		if err := json.Unmarshal(body, &st); err != nil {
			t.Fatalf("%q accepted, but encoding/json fails: %v", body, err)
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(body, &m); err != nil {
			t.Fatalf("%q accepted, but not an object to encoding/json: %v", body, err)
		}
		for j, got := range []*json.RawMessage{st.Model, st.MaxTokens, st.Stream, st.StreamOptions, st.Messages} {
			name, p := peekMembers[j].Name, out[j]
			var structRaw []byte
			if got != nil {
				structRaw = *got
			}
			mapRaw, inMap := m[name]
			if string(mapRaw) == "null" {
				mapRaw = nil
			}
			s, e, found, err := oaup.FindMember(body, name)
			var firstRaw []byte
			if err == nil && found && string(body[s:e]) != "null" {
				firstRaw = body[s:e]
			}
			if !bytes.Equal(p.Raw, structRaw) || !bytes.Equal(p.Raw, mapRaw) || !bytes.Equal(p.Raw, firstRaw) {
				t.Fatalf("%q: %s peeked %q; struct %q, map %q (%v), first %q", body, name, p.Raw, structRaw, mapRaw, inMap, firstRaw)
			}
		}
		if out[0].Present() {
			var s string
			if err := json.Unmarshal(out[0].Raw, &s); err != nil || s != out[0].Str {
				t.Fatalf("%q: model %q, encoding/json %q (%v)", body, out[0].Str, s, err)
			}
		}
		if out[1].Present() {
			var n int64
			if err := json.Unmarshal(out[1].Raw, &n); err != nil || n != out[1].Int || n < 1 {
				t.Fatalf("%q: max_tokens %d, encoding/json %d (%v)", body, out[1].Int, n, err)
			}
		}
		if out[2].Present() && string(out[2].Raw) != strconv.FormatBool(out[2].Bool) {
			t.Fatalf("%q: stream %v from %q", body, out[2].Bool, out[2].Raw)
		}
	})
}

// BenchmarkPeekJSON compares the strict peek with what it replaced: an
// encoding/json struct peek plus the duplicate and escape checks of the
// model member (CountMember, FindMember).
func BenchmarkPeekJSON(b *testing.B) {
	small := []byte(`{"model":"gpt-4o-mini","max_tokens":100,"stream":true,"stream_options":{"include_usage":true},` +
		`"messages":[{"role":"system","content":"You are terse."},{"role":"user","content":"Hello there, benchmark"}],"temperature":0.2}`)
	large := []byte(`{"model":"gpt-4o-mini","max_tokens":100,"messages":[{"role":"user","content":[{"type":"text","text":"what is this?"},` +
		`{"type":"image_url","image_url":{"url":"data:image/png;base64,` + strings.Repeat("iVBORw0KGgoAAAANSUhEUgAA", 1<<15) + `"}}]}]}`)
	for _, body := range []struct {
		name string
		b    []byte
	}{{"small", small}, {"1MB", large}} {
		b.Run("strict/"+body.name, func(b *testing.B) {
			out := make([]api.Peeked, len(peekMembers))
			b.SetBytes(int64(len(body.b)))
			b.ReportAllocs()
			for b.Loop() {
				if err := api.PeekJSON(body.b, peekMembers, out); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("encoding-json/"+body.name, func(b *testing.B) {
			b.SetBytes(int64(len(body.b)))
			b.ReportAllocs()
			for b.Loop() {
				var p struct {
					Model         string `json:"model"`
					Stream        bool   `json:"stream"`
					StreamOptions *struct {
						IncludeUsage bool `json:"include_usage"`
					} `json:"stream_options"`
					MaxTokens           json.RawMessage `json:"max_tokens"`
					MaxCompletionTokens json.RawMessage `json:"max_completion_tokens"`
					MaxOutputTokens     json.RawMessage `json:"max_output_tokens"`
				}
				if err := json.Unmarshal(body.b, &p); err != nil {
					b.Fatal(err)
				}
				if n, err := oaup.CountMember(body.b, "model"); err != nil || n != 1 {
					b.Fatal(n, err)
				}
				if _, _, ok, _ := oaup.FindMember(body.b, "model"); !ok {
					b.Fatal("no model")
				}
			}
		})
	}
}
