package openai

import (
	"encoding/json"
	"strings"
	"unicode/utf8"

	"github.com/switchyard/switchyard/internal/jsonw"
)

// ChatToResponsesStream turns chat completion chunks into the Responses
// event stream: response.created, response.in_progress, then per output
// item output_item.added … output_item.done (with content_part, text,
// reasoning summary or function-call argument events in between), and
// finally response.completed (or response.incomplete) with usage.
// sequence_number increases by one per event; item ids, output_index and
// content_index stay consistent between an item's events and the final
// response.
type ChatToResponsesStream struct {
	model   string
	id      string
	base    string
	created int64
	req     *ResponsesRequest

	seq     int
	started bool
	done    bool
	items   []OutputItem
	open    int // index in items of the open item, -1 when none
	tools   map[int]int
	finish  string
	usage   Usage
	textBuf strings.Builder
	buf     []byte
	// runes is the characters of chat content seen, msgStart those before
	// the open message item: chat annotations index the whole content, a
	// Responses message item's its own text.
	runes    int
	msgStart int
}

// NewChatToResponsesStream returns a translator for one stream. responseID
// is the id the client will see ("resp_…").
func NewChatToResponsesStream(model, responseID string) *ChatToResponsesStream {
	return &ChatToResponsesStream{
		model: model, id: responseID, base: strings.TrimPrefix(responseID, "resp_"),
		created: now().Unix(), open: -1, tools: map[int]int{}, buf: make([]byte, 0, 256),
	}
}

// SetRequest makes the lifecycle events echo the request's parameters.
func (s *ChatToResponsesStream) SetRequest(req *ResponsesRequest) { s.req = req }

// Feed translates one chunk. Payloads passed to emit are reused; they are
// valid only during the call.
func (s *ChatToResponsesStream) Feed(chunk *ChatChunk, emit func(eventName string, payload []byte) error) error {
	if !s.started {
		if err := s.start(emit); err != nil {
			return err
		}
	}
	if chunk.Usage != nil {
		s.usage = *chunk.Usage
	}
	for i := range chunk.Choices {
		c := &chunk.Choices[i]
		if c.Index != 0 {
			continue // a response has one output sequence
		}
		d := &c.Delta
		if d.ReasoningContent != nil && *d.ReasoningContent != "" {
			if err := s.reasoningDelta(*d.ReasoningContent, emit); err != nil {
				return err
			}
		}
		if d.ReasoningSignature != nil && *d.ReasoningSignature != "" {
			if err := s.reasoningSigned(ReasoningBlock{Signature: *d.ReasoningSignature}, emit); err != nil {
				return err
			}
		}
		if d.ReasoningRedacted != nil && *d.ReasoningRedacted != "" {
			if err := s.reasoningSigned(ReasoningBlock{Redacted: *d.ReasoningRedacted}, emit); err != nil {
				return err
			}
		}
		for k := range d.WebSearchCalls {
			if err := s.webSearch(&d.WebSearchCalls[k], emit); err != nil {
				return err
			}
		}
		if d.Content != nil && *d.Content != "" {
			if err := s.textDelta(*d.Content, emit); err != nil {
				return err
			}
			s.runes += utf8.RuneCountInString(*d.Content)
		}
		for k := range d.Annotations {
			if err := s.annotation(d.Annotations[k], emit); err != nil {
				return err
			}
		}
		if d.Refusal != nil && *d.Refusal != "" {
			if err := s.textDelta(*d.Refusal, emit); err != nil {
				return err
			}
		}
		for k := range d.ToolCalls {
			if err := s.toolDelta(&d.ToolCalls[k], emit); err != nil {
				return err
			}
		}
		if c.FinishReason != nil && *c.FinishReason != "" {
			s.finish = *c.FinishReason
			if err := s.closeItem(emit); err != nil {
				return err
			}
		}
	}
	return nil
}

type lifecycleEvent struct {
	Type           string    `json:"type"`
	SequenceNumber int       `json:"sequence_number"`
	Response       *Response `json:"response"`
}

type itemEvent struct {
	Type           string      `json:"type"`
	SequenceNumber int         `json:"sequence_number"`
	OutputIndex    int         `json:"output_index"`
	Item           *OutputItem `json:"item"`
}

type partEvent struct {
	Type           string          `json:"type"`
	SequenceNumber int             `json:"sequence_number"`
	ItemID         string          `json:"item_id"`
	OutputIndex    int             `json:"output_index"`
	ContentIndex   *int            `json:"content_index,omitempty"`
	SummaryIndex   *int            `json:"summary_index,omitempty"`
	Part           any             `json:"part,omitempty"`
	Text           *string         `json:"text,omitempty"`
	Logprobs       json.RawMessage `json:"logprobs,omitempty"`
	Name           string          `json:"name,omitempty"`
	Arguments      *string         `json:"arguments,omitempty"`
}

type annotationEvent struct {
	Type            string             `json:"type"`
	SequenceNumber  int                `json:"sequence_number"`
	ItemID          string             `json:"item_id"`
	OutputIndex     int                `json:"output_index"`
	ContentIndex    int                `json:"content_index"`
	AnnotationIndex int                `json:"annotation_index"`
	Annotation      responseAnnotation `json:"annotation"`
}

type webSearchEvent struct {
	Type           string `json:"type"`
	SequenceNumber int    `json:"sequence_number"`
	OutputIndex    int    `json:"output_index"`
	ItemID         string `json:"item_id"`
}

// webSearch adds a finished web search as a web_search_call item with its
// in_progress, searching and completed events.
func (s *ChatToResponsesStream) webSearch(ws *WebSearchCall, emit func(string, []byte) error) error {
	it := webSearchItem(*ws, "")
	if err := s.openItem(it, emit); err != nil {
		return err
	}
	id := s.items[s.open].ID
	for _, name := range []string{"response.web_search_call.in_progress", "response.web_search_call.searching", "response.web_search_call.completed"} {
		if err := s.send(name, webSearchEvent{name, s.next(), s.open, id}, emit); err != nil {
			return err
		}
	}
	s.items[s.open].Status = it.Status
	return s.closeItem(emit)
}

// annotation adds a url citation to the open message item, its indexes
// made relative to the item's text.
func (s *ChatToResponsesStream) annotation(a Annotation, emit func(string, []byte) error) error {
	if s.open < 0 || s.items[s.open].Type != "message" {
		return nil // a citation of no text this stream relayed
	}
	a.URLCitation.StartIndex = max(a.URLCitation.StartIndex-s.msgStart, 0)
	a.URLCitation.EndIndex = max(a.URLCitation.EndIndex-s.msgStart, 0)
	it := &s.items[s.open]
	it.Annotations = append(it.Annotations, a)
	return s.send("response.output_text.annotation.added", annotationEvent{Type: "response.output_text.annotation.added",
		SequenceNumber: s.next(), ItemID: it.ID, OutputIndex: s.open, AnnotationIndex: len(it.Annotations) - 1,
		Annotation: responseAnnotations([]Annotation{a})[0]}, emit)
}

var zero = 0

func (s *ChatToResponsesStream) send(name string, v any, emit func(string, []byte) error) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return emit(name, b)
}

func (s *ChatToResponsesStream) next() int { s.seq++; return s.seq - 1 }

func (s *ChatToResponsesStream) start(emit func(string, []byte) error) error {
	s.started = true
	r := newResponse(s.id, s.model, s.created, s.req)
	if err := s.send("response.created", lifecycleEvent{"response.created", s.next(), r}, emit); err != nil {
		return err
	}
	return s.send("response.in_progress", lifecycleEvent{"response.in_progress", s.next(), r}, emit)
}

// openItem closes any open item and adds a new one in progress.
func (s *ChatToResponsesStream) openItem(it OutputItem, emit func(string, []byte) error) error {
	if err := s.closeItem(emit); err != nil {
		return err
	}
	prefix := "msg"
	switch it.Type {
	case "reasoning":
		prefix = "rs"
	case "function_call":
		prefix = "fc"
	case "web_search_call":
		prefix = "ws"
	case "message":
		s.msgStart = s.runes
	}
	it.ID = itemID(prefix, s.base, len(s.items))
	it.Status = "in_progress"
	s.items = append(s.items, it)
	s.open = len(s.items) - 1
	s.textBuf.Reset()
	if err := s.send("response.output_item.added", itemEvent{"response.output_item.added", s.next(), s.open, &it}, emit); err != nil {
		return err
	}
	switch it.Type {
	case "message":
		return s.send("response.content_part.added", partEvent{Type: "response.content_part.added", SequenceNumber: s.next(),
			ItemID: it.ID, OutputIndex: s.open, ContentIndex: &zero, Part: outputText{"output_text", "", []responseAnnotation{}, noJSON}}, emit)
	case "reasoning":
		return s.send("response.reasoning_summary_part.added", partEvent{Type: "response.reasoning_summary_part.added", SequenceNumber: s.next(),
			ItemID: it.ID, OutputIndex: s.open, SummaryIndex: &zero, Part: summaryText{"summary_text", ""}}, emit)
	}
	return nil
}

func (s *ChatToResponsesStream) reasoningDelta(text string, emit func(string, []byte) error) error {
	if s.open < 0 || s.items[s.open].Type != "reasoning" {
		if err := s.openItem(OutputItem{Type: "reasoning"}, emit); err != nil {
			return err
		}
	}
	s.textBuf.WriteString(text)
	return s.delta("response.reasoning_summary_text.delta", `,"summary_index":0,"delta":`, text, emit)
}

// reasoningSigned ends the open reasoning item with its signature, or adds
// a redacted one, as its encrypted_content; the next reasoning text opens
// a new item, as each block must go back on its own.
func (s *ChatToResponsesStream) reasoningSigned(rb ReasoningBlock, emit func(string, []byte) error) error {
	if rb.Redacted != "" || s.open < 0 || s.items[s.open].Type != "reasoning" {
		if err := s.openItem(OutputItem{Type: "reasoning"}, emit); err != nil {
			return err
		}
	}
	s.items[s.open].EncryptedContent = encryptedReasoning(rb)
	return s.closeItem(emit)
}

func (s *ChatToResponsesStream) textDelta(text string, emit func(string, []byte) error) error {
	if s.open < 0 || s.items[s.open].Type != "message" {
		if err := s.openItem(OutputItem{Type: "message"}, emit); err != nil {
			return err
		}
	}
	s.textBuf.WriteString(text)
	return s.delta("response.output_text.delta", `,"content_index":0,"logprobs":[],"delta":`, text, emit)
}

// delta emits a per-token event built without json.Marshal: these are the
// bulk of a stream.
func (s *ChatToResponsesStream) delta(name, middle, text string, emit func(string, []byte) error) error {
	b := append(s.buf[:0], `{"type":"`...)
	b = append(b, name...)
	b = append(b, `","sequence_number":`...)
	b = jsonw.Int(b, s.next())
	b = append(b, `,"item_id":`...)
	b = jsonw.String(b, s.items[s.open].ID)
	b = append(b, `,"output_index":`...)
	b = jsonw.Int(b, s.open)
	b = append(b, middle...)
	b = jsonw.String(b, text)
	b = append(b, '}')
	s.buf = b
	return emit(name, b)
}

func (s *ChatToResponsesStream) toolDelta(tc *ToolCallDelta, emit func(string, []byte) error) error {
	idx, ok := s.tools[tc.Index]
	if !ok {
		ns, name := s.req.toolNames().client(tc.Function.Name)
		if err := s.openItem(OutputItem{Type: "function_call", CallID: tc.ID, Namespace: ns, Name: name}, emit); err != nil {
			return err
		}
		idx = s.open
		s.tools[tc.Index] = idx
	}
	if tc.Function.Arguments == "" {
		return nil
	}
	it := &s.items[idx]
	it.Args += tc.Function.Arguments
	b := append(s.buf[:0], `{"type":"response.function_call_arguments.delta","sequence_number":`...)
	b = jsonw.Int(b, s.next())
	b = append(b, `,"item_id":`...)
	b = jsonw.String(b, it.ID)
	b = append(b, `,"output_index":`...)
	b = jsonw.Int(b, idx)
	b = append(b, `,"delta":`...)
	b = jsonw.String(b, tc.Function.Arguments)
	b = append(b, '}')
	s.buf = b
	return emit("response.function_call_arguments.delta", b)
}

// closeItem emits the closing events of the open item, if any.
func (s *ChatToResponsesStream) closeItem(emit func(string, []byte) error) error {
	if s.open < 0 {
		return nil
	}
	idx := s.open
	s.open = -1
	it := &s.items[idx]
	if it.Status != "failed" {
		it.Status = "completed"
	}
	switch it.Type {
	case "message":
		it.Text = s.textBuf.String()
		if err := s.send("response.output_text.done", partEvent{Type: "response.output_text.done", SequenceNumber: s.next(),
			ItemID: it.ID, OutputIndex: idx, ContentIndex: &zero, Text: &it.Text, Logprobs: json.RawMessage("[]")}, emit); err != nil {
			return err
		}
		if err := s.send("response.content_part.done", partEvent{Type: "response.content_part.done", SequenceNumber: s.next(),
			ItemID: it.ID, OutputIndex: idx, ContentIndex: &zero, Part: outputText{"output_text", it.Text, responseAnnotations(it.Annotations), noJSON}}, emit); err != nil {
			return err
		}
	case "reasoning":
		it.Text = s.textBuf.String()
		it.Status = ""
		if err := s.send("response.reasoning_summary_text.done", partEvent{Type: "response.reasoning_summary_text.done", SequenceNumber: s.next(),
			ItemID: it.ID, OutputIndex: idx, SummaryIndex: &zero, Text: &it.Text}, emit); err != nil {
			return err
		}
		if err := s.send("response.reasoning_summary_part.done", partEvent{Type: "response.reasoning_summary_part.done", SequenceNumber: s.next(),
			ItemID: it.ID, OutputIndex: idx, SummaryIndex: &zero, Part: summaryText{"summary_text", it.Text}}, emit); err != nil {
			return err
		}
	case "function_call":
		if it.Args == "" {
			it.Args = "{}"
		}
		if err := s.send("response.function_call_arguments.done", partEvent{Type: "response.function_call_arguments.done", SequenceNumber: s.next(),
			ItemID: it.ID, OutputIndex: idx, Name: it.Name, Arguments: &it.Args}, emit); err != nil {
			return err
		}
	}
	return s.send("response.output_item.done", itemEvent{"response.output_item.done", s.next(), idx, it}, emit)
}

// Finish closes the open item and emits response.completed, or
// response.incomplete when the output was cut by the token limit or a
// content filter, with the final output and usage.
func (s *ChatToResponsesStream) Finish(emit func(eventName string, payload []byte) error) error {
	if s.done {
		return nil
	}
	s.done = true
	if !s.started {
		if err := s.start(emit); err != nil {
			return err
		}
	}
	if err := s.closeItem(emit); err != nil {
		return err
	}
	r := newResponse(s.id, s.model, s.created, s.req)
	r.Output = s.items
	r.finish(s.finish, s.usage, now().Unix())
	name := "response.completed"
	if r.Status == "incomplete" {
		name = "response.incomplete"
	}
	return s.send(name, lifecycleEvent{name, s.next(), r}, emit)
}

// Usage is the chat usage reported by the upstream so far.
func (s *ChatToResponsesStream) Usage() Usage { return s.usage }
