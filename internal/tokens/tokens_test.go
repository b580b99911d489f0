package tokens

import (
	"slices"
	"strings"
	"sync"
	"testing"
)

// Published counts and token IDs are from OpenAI's "How to count tokens with
// tiktoken" cookbook, produced by the Python tiktoken, not by this package.
func TestCountPublished(t *testing.T) {
	tests := []struct {
		text          string
		o200k, cl100k int
	}{
		{"hello world", 2, 2},
		{"tiktoken is great!", 6, 6},
		{"antidisestablishmentarianism", 6, 6},
		{"2 + 2 = 4", 7, 7},
		{"お誕生日おめでとう", 8, 9}, // o200k merges 生日 into one token
		{"", 0, 0},
	}
	for _, tt := range tests {
		if got := O200k().Count(tt.text); got != tt.o200k {
			t.Errorf("o200k Count(%q) = %d, want %d", tt.text, got, tt.o200k)
		}
		if got := Cl100k().Count(tt.text); got != tt.cl100k {
			t.Errorf("cl100k Count(%q) = %d, want %d", tt.text, got, tt.cl100k)
		}
	}
}

// The IDs pin the vocabulary itself, not just the split: a wrong or shifted
// vocabulary could still produce the right number of tokens.
func TestTokenIDsPublished(t *testing.T) {
	tests := []struct {
		enc  Encoding
		text string
		ids  []uint
	}{
		{O200k(), "tiktoken is great!", []uint{83, 8251, 2488, 382, 2212, 0}},
		{O200k(), "antidisestablishmentarianism", []uint{493, 129901, 376, 160388, 21203, 2367}},
		{Cl100k(), "antidisestablishmentarianism", []uint{519, 85342, 34500, 479, 8997, 2191}},
		{O200k(), "2 + 2 = 4", []uint{17, 659, 220, 17, 314, 220, 19}},
		{Cl100k(), "2 + 2 = 4", []uint{17, 489, 220, 17, 284, 220, 19}},
	}
	for _, tt := range tests {
		var ids []uint
		err := tt.enc.vocab().get().encode(tt.text, func(r uint32, _ string) { ids = append(ids, uint(r)) })
		if err != nil {
			t.Fatalf("%s Encode(%q): %v", tt.enc.Name(), tt.text, err)
		}
		if !slices.Equal(ids, tt.ids) {
			t.Errorf("%s Encode(%q) = %v, want %v", tt.enc.Name(), tt.text, ids, tt.ids)
		}
	}
}

// o200k's larger vocabulary should need fewer tokens on non-English text and
// the same or fewer on English; a swapped encoding would invert this.
func TestEncodingsDiffer(t *testing.T) {
	texts := []string{
		"网关在转发请求之前需要估算输入的令牌数量，以便检查余额。",
		"Проверка баланса перед отправкой запроса вышестоящему провайдеру.",
		"बैलेंस की जाँच करने के लिए टोकन की गिनती आवश्यक है।",
	}
	for _, s := range texts {
		o, c := O200k().Count(s), Cl100k().Count(s)
		if o >= c {
			t.Errorf("Count(%q): o200k %d, cl100k %d; want o200k < cl100k", s, o, c)
		}
	}
}

func TestForModel(t *testing.T) {
	tests := []struct {
		model string
		want  string
	}{
		{"gpt-4o", "o200k_base"},
		{"gpt-4o-mini-2024-07-18", "o200k_base"},
		{"gpt-4.1-nano", "o200k_base"},
		{"gpt-5", "o200k_base"},
		{"o1-preview", "o200k_base"},
		{"o3-mini", "o200k_base"},
		{"o4-mini", "o200k_base"},
		{"chatgpt-4o-latest", "o200k_base"},
		{"GPT-4O", "o200k_base"},
		{"openai/gpt-4o", "o200k_base"},
		{"gpt-4", "cl100k_base"},
		{"gpt-4-turbo", "cl100k_base"},
		{"gpt-4-0613", "cl100k_base"},
		{"gpt-3.5-turbo", "cl100k_base"},
		{"gpt-35-turbo", "cl100k_base"},
		{"ft:gpt-3.5-turbo-0125:acme::abc", "cl100k_base"},
		{"text-embedding-3-small", "cl100k_base"},
		{"text-embedding-ada-002", "cl100k_base"},
		{"claude-sonnet-4-5", "o200k_base"},
		{"gemini-2.5-pro", "o200k_base"},
		{"some-local-llama", "o200k_base"},
		{"", "o200k_base"},
	}
	for _, tt := range tests {
		if got := ForModel(tt.model).Name(); got != tt.want {
			t.Errorf("ForModel(%q) = %s, want %s", tt.model, got, tt.want)
		}
	}
	if got := (Encoding{}).Name(); got != "o200k_base" {
		t.Errorf("zero Encoding = %s, want o200k_base", got)
	}
}

// The pair rules must agree with the real tokenizer: for every safe pair,
// counting the two halves separately equals counting the whole, with a
// variety of text on either side.
func TestSplitsBetweenAgreesWithTokenizer(t *testing.T) {
	samples := []string{"a", "Z", "é", "字", "7", "٣", " ", "\t", "\n", "\r\n", "'", ".", ",", "!", "/", "=", "\u0301", "\u00a0", "\u3000", "s", "t", "ll", "re"}
	contexts := []string{"", "x", " ", "  ", "hello", "HELLO", "42", "1234", "..", "'s", "\n\n", "—", "日本"}
	for _, enc := range []Encoding{O200k(), Cl100k()} {
		v := enc.vocab()
		for _, a := range samples {
			for _, b := range samples {
				ra, rb := lastRune(a), []rune(b)[0]
				if !v.splitsBetween(ra, rb) {
					continue
				}
				for _, pre := range contexts {
					for _, post := range contexts {
						left, right := pre+a, b+post
						if whole, parts := enc.Count(left+right), enc.Count(left)+enc.Count(right); whole != parts {
							t.Errorf("%s: splitsBetween(%q, %q) but Count(%q)=%d != Count(%q)+Count(%q)=%d",
								enc.Name(), ra, rb, left+right, whole, left, right, parts)
						}
					}
				}
			}
		}
	}
}

func lastRune(s string) rune {
	r := []rune(s)
	return r[len(r)-1]
}

func TestCountConcurrent(t *testing.T) {
	text := strings.Repeat(sampleText, 2)
	want := map[string]int{"o200k_base": O200k().Count(text), "cl100k_base": Cl100k().Count(text)}
	var wg sync.WaitGroup
	errs := make(chan string, 16)
	for i := range 16 {
		enc := O200k()
		if i%2 == 1 {
			enc = Cl100k()
		}
		wg.Go(func() {
			for range 5 {
				if got := enc.Count(text); got != want[enc.Name()] {
					errs <- enc.Name()
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for name := range errs {
		t.Errorf("%s: concurrent Count disagreed with sequential Count", name)
	}
}

// sampleText mixes prose, code, numbers, contractions, markdown and non-Latin
// scripts: the kind of text a completion streams.
const sampleText = `Sure! Here's how you'd reverse a linked list in Go — it's O(n) time and O(1) space.

` + "```go" + `
func reverse(head *Node) *Node {
	var prev *Node
	for cur := head; cur != nil; {
		next := cur.Next
		cur.Next, prev, cur = prev, cur, next
	}
	return prev
}
` + "```" + `

1. We keep three pointers: prev, cur and next.
2. Each step flips one link; after 1,000,000 nodes we've done 1000000 flips.
3. The API returned {"id": "chatcmpl-9xYz", "usage": {"prompt_tokens": 129}} at 12:34:56.789.

I can't stress enough: don't forget the edge case where head == nil!!!   Also:
    - tabs	and   runs of   spaces
    - URLs like https://example.com/a/b?c=d&e=f#frag
    - emoji 🙂👍🏽 and accents: naïve café, résumé, Ångström.
网关在转发请求之前需要估算输入的令牌数量，以便检查余额。日本語の文章もあります。
Привет, мир! Это тест подсчёта токенов.
`
