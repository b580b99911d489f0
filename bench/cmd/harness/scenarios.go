package main

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/switchyard/switchyard/bench/load"
)

// scenario is one request shape, sent the same way to every target.
type scenario struct {
	Name string
	Path string
	Body []byte
	Tail []byte // what every good answer ends with; nil = not checked
	// Rate is the open loop's default arrival rate, requests per second.
	// It sits well under what the slowest target sustains closed loop on
	// a 2-core machine, so the open loop measures latency at a load and
	// not a queue (-rates overrides it).
	Rate float64
}

// streamChunks is how many content chunks the stream scenario asks the mock
// for, with a [[mock …]] directive in the prompt: the directive survives the
// gateway's request handling, where a header would not reach the mock.
const streamChunks = 200

// embedInputBytes is the embeddings scenario's input size.
const embedInputBytes = 50 << 10

func scenarios() []scenario {
	return []scenario{
		{
			Name: "chat",
			Path: "/v1/chat/completions",
			Body: []byte(`{"model":"` + chatModel + `","max_tokens":64,` +
				`"messages":[{"role":"user","content":"Say hello in one short sentence."}]}`),
			Rate: 1000,
		},
		{
			Name: "stream-200",
			Path: "/v1/chat/completions",
			Body: []byte(fmt.Sprintf(`{"model":"%s","max_tokens":1024,"stream":true,`+
				`"messages":[{"role":"user","content":"[[mock chunks=%d]] Tell me a story."}]}`, chatModel, streamChunks)),
			Tail: []byte("data: [DONE]"),
			Rate: 100,
		},
		{
			Name: "embed-50k",
			Path: "/v1/embeddings",
			Body: []byte(`{"model":"` + embedModel + `","input":"` + filler(embedInputBytes) + `"}`),
			Rate: 100,
		},
	}
}

// setRates overrides scenarios' open-loop rates from "name=rate,…".
func setRates(scs []scenario, spec string) error {
	if spec == "" {
		return nil
	}
	for _, kv := range strings.Split(spec, ",") {
		name, v, ok := strings.Cut(kv, "=")
		rate, err := strconv.ParseFloat(v, 64)
		if !ok || err != nil || rate <= 0 {
			return fmt.Errorf("-rates %q: want name=requests-per-second, comma-separated", kv)
		}
		i := slices.IndexFunc(scs, func(s scenario) bool { return s.Name == name })
		if i < 0 {
			return fmt.Errorf("-rates: no scenario %q", name)
		}
		scs[i].Rate = rate
	}
	return nil
}

// filler is n bytes of plain words, no characters JSON would escape.
func filler(n int) string {
	const words = "the quick brown fox jumps over the lazy dog while a gateway counts tokens "
	return strings.Repeat(words, n/len(words)+1)[:n]
}

// request is sc addressed to t.
func (sc scenario) request(t *target) load.Request {
	return load.Request{URL: t.Base + sc.Path, Header: t.header(), Body: sc.Body, Tail: sc.Tail}
}
