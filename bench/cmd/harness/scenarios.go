package main

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/switchyard/switchyard/bench/load"
)

// scenario is one request shape, sent the same way to every target.
type scenario struct {
	Name string
	Path string
	Body []byte
	// ContentType is the body's type; "" is application/json.
	ContentType string
	Tail        []byte // what every good answer ends with; nil = not checked
	// Rate is the open loop's default arrival rate, requests per second.
	// It sits well under what the slowest target sustains closed loop on
	// a 2-core machine, so the open loop measures latency at a load and
	// not a queue (-rates overrides it).
	Rate float64
	// Phase and QuickPhase, when set, are this scenario's phase lengths
	// in a full and a quick run unless -d is given. The image scenarios
	// run shorter than the rest in a full run, so that the whole benchmark
	// stays under ten minutes, and longer in a quick one, where 2 s is
	// hardly more than one gateway answer's latency under load.
	Phase, QuickPhase time.Duration

	// Sustain asks for the rate sustained at a p99 under sustainP99 (see
	// sustain). The image scenarios have none: a 2.7 MB answer or a 10 MiB
	// upload takes longer than that from the mock directly.
	Sustain bool

	// Held, when above zero, makes this a held-streams scenario instead of
	// the closed and open loops: Held streams of Body are started at once
	// and the target's memory is read while all of them are open.
	Held int
	// About says in words what a held scenario's streams are, for the report.
	About string
	// WarmBody is a held scenario's warm-up request: a short stream of the
	// same shape, sent closed loop before the idle memory is read.
	WarmBody []byte
}

// streamChunks is how many content chunks the stream scenario asks the mock
// for, with a [[mock …]] directive in the prompt: the directive survives the
// gateway's request handling, where a header would not reach the mock.
const streamChunks = 200

// embedInputBytes is the embeddings scenario's input size.
const embedInputBytes = 50 << 10

// imageBytes is the size the mock pads a generated image to: its answer
// carries it base64-encoded, about 2.7 MB of JSON.
const imageBytes = 2_000_000

// The edit scenario's upload: a 10 MiB PNG of few pixels, since the gateway
// decodes uploads and the point is the bytes moved, not a huge image.
const (
	editUploadBytes = 10 << 20
	editPixels      = 256
)

// The held-streams scenario: heldStreams streams at once, each sending one
// chunk per heldChunkDelay, heldChunks of them (12 s; 8 s in a quick run),
// long enough that all are open together well after the last one started.
const (
	heldStreams      = 1000
	heldChunkDelay   = 100 * time.Millisecond
	heldChunks       = 120
	heldChunksQuick  = 80
	heldWarmChunks   = 5
	heldOpenTimeout  = 5 * time.Second
	heldSampleEvery  = 250 * time.Millisecond
	heldSampleTimes  = 4
	imagePhase       = 5 * time.Second
	imagePhaseQuick  = 3 * time.Second
	imageRateDefault = 5
	editRateDefault  = 4
)

// scenarioNames lists every scenario, for flag help and errors.
const scenarioNames = "held,chat,stream-200,embed-50k,image,edit10mb"

// scenarios returns every scenario in the order they run. The held streams
// go first, while the targets' heaps are still small: after the image
// scenarios a gateway holds (and slowly returns) tens of MiB of freed heap,
// which would blur the idle-to-held difference it is measured by.
func scenarios(quick bool) ([]scenario, error) {
	upload, err := paddedPNG(editPixels, editPixels, editUploadBytes)
	if err != nil {
		return nil, err
	}
	editBody, editType, err := multipartBody([][2]string{
		{"model", imageModel}, {"prompt", "Add a small red hat."}, {"n", "1"}, {"response_format", "b64_json"},
	}, "image", "input.png", "image/png", upload)
	if err != nil {
		return nil, err
	}
	heldBody := func(chunks int) []byte {
		return []byte(fmt.Sprintf(`{"model":"%s","max_tokens":1024,"stream":true,`+
			`"messages":[{"role":"user","content":"[[mock chunks=%d chunk_delay=%v]] Tell me a slow story."}]}`,
			chatModel, chunks, heldChunkDelay))
	}
	return []scenario{
		{
			Name:     "held",
			Path:     "/v1/chat/completions",
			Body:     heldBody(pick(quick, heldChunksQuick, heldChunks)),
			WarmBody: heldBody(heldWarmChunks),
			About: fmt.Sprintf("a chat stream of %d chunks %v apart ([[mock chunks=%d chunk_delay=%v]])",
				pick(quick, heldChunksQuick, heldChunks), heldChunkDelay, pick(quick, heldChunksQuick, heldChunks), heldChunkDelay),
			Tail: []byte("data: [DONE]"),
			Held: heldStreams,
		},
		{
			Name: "chat",
			Path: "/v1/chat/completions",
			Body: []byte(`{"model":"` + chatModel + `","max_tokens":64,` +
				`"messages":[{"role":"user","content":"Say hello in one short sentence."}]}`),
			Rate:    1000,
			Sustain: true,
		},
		{
			Name: "stream-200",
			Path: "/v1/chat/completions",
			Body: []byte(fmt.Sprintf(`{"model":"%s","max_tokens":1024,"stream":true,`+
				`"messages":[{"role":"user","content":"[[mock chunks=%d]] Tell me a story."}]}`, chatModel, streamChunks)),
			Tail:    []byte("data: [DONE]"),
			Rate:    100,
			Sustain: true,
		},
		{
			Name:    "embed-50k",
			Path:    "/v1/embeddings",
			Body:    []byte(`{"model":"` + embedModel + `","input":"` + filler(embedInputBytes) + `"}`),
			Rate:    100,
			Sustain: true,
		},
		{
			Name: "image",
			Path: "/v1/images/generations",
			Body: []byte(fmt.Sprintf(`{"model":"%s","n":1,"response_format":"b64_json",`+
				`"prompt":"[[mock image_bytes=%d]] A lighthouse at dusk."}`, imageModel, imageBytes)),
			Rate:       imageRateDefault,
			Phase:      imagePhase,
			QuickPhase: imagePhaseQuick,
		},
		{
			Name:        "edit10mb",
			Path:        "/v1/images/edits",
			Body:        editBody,
			ContentType: editType,
			Rate:        editRateDefault,
			Phase:       imagePhase,
			QuickPhase:  imagePhaseQuick,
		},
	}, nil
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

// request is sc addressed to t. Every request reads the scenario's one
// body slice (load sends it through a fresh bytes.Reader), so a 10 MiB
// upload is built once, not per request.
func (sc scenario) request(t *target) load.Request {
	return load.Request{URL: t.Base + sc.Path, Header: t.header(sc.ContentType), Body: sc.Body, Tail: sc.Tail}
}
