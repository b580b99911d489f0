package tokens

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"image"
	_ "image/gif" // registered for image.DecodeConfig of data: URLs
	_ "image/jpeg"
	_ "image/png"
	"io"
	"strings"
)

// Per-message overhead of the chat format, as documented in OpenAI's
// "How to count tokens with tiktoken" cookbook and confirmed there against
// the API (129 prompt tokens on gpt-4, 124 on gpt-4o for its example).
const (
	tokensPerMessage = 3 // <|start|>{role}<|message|>…<|end|>
	tokensPerName    = 1
	replyPriming     = 3 // <|start|>assistant<|message|>
)

// Image token costs of the gpt-4o family, from OpenAI's vision guide.
const (
	imageBase    = 85
	imagePerTile = 170
	// imageUnknown is charged for a high/auto-detail image whose size cannot
	// be read without fetching it (an http URL, a format the standard
	// library cannot decode): a 1024×1024 image, 4 tiles, the common case.
	imageUnknown = imageBase + 4*imagePerTile
)

// Message is the part of a chat message that costs prompt tokens.
type Message struct {
	Role string
	Name string
	// Text is the string content, or each text part of an array content.
	Text      []string
	Images    []Image
	ToolCalls []ToolCall // an assistant message's earlier tool calls
}

// Image is an image_url content part.
type Image struct {
	URL    string // https URL or data: URL
	Detail string // "low", "high", "auto" or ""
}

// ToolCall is a function call recorded in an assistant message.
type ToolCall struct {
	Name      string
	Arguments string
}

// Function is a tool definition of type "function".
type Function struct {
	Name        string
	Description string
	Parameters  json.RawMessage // JSON Schema object
}

// CountChat returns the prompt tokens of a chat completion request with the
// given messages and tools.
//
// Messages follow the cookbook formula: 3 per message, every string value
// (role, name, content) tokenized, 1 more for a name, 3 for priming the
// reply. Text parts of array content are tokenized one by one. Tool calls in
// history are counted as the text of their name and arguments (the cookbook
// has no formula for them). Images: 85 for low detail; for high/auto detail
// 85 + 170 per 512 px tile after OpenAI's scaling when the image is an inline
// data: URL whose size can be read (PNG, JPEG, GIF), else a flat 765 (a
// 1024×1024 image). Tool definitions use the cookbook's function formula,
// which matched the API exactly for its example; schemas richer than flat
// properties have their extra parts counted as compact JSON text.
func (e Encoding) CountChat(messages []Message, tools []Function) int {
	n := 0
	for _, m := range messages {
		n += tokensPerMessage + e.Count(m.Role)
		if m.Name != "" {
			n += tokensPerName + e.Count(m.Name)
		}
		for _, t := range m.Text {
			n += e.Count(t)
		}
		for _, img := range m.Images {
			n += ImageTokens(img)
		}
		for _, tc := range m.ToolCalls {
			n += e.Count(tc.Name) + e.Count(tc.Arguments)
		}
	}
	n += replyPriming
	if len(tools) > 0 {
		n += e.countTools(tools)
	}
	return n
}

// CountChatJSON is CountChat for the raw "messages" and "tools" arrays of a
// request body; either may be nil. Only the fields that cost tokens are
// decoded.
func (e Encoding) CountChatJSON(messages, tools json.RawMessage) (int, error) {
	msgs, err := decodeMessages(messages)
	if err != nil {
		return 0, err
	}
	fns, err := decodeTools(tools)
	if err != nil {
		return 0, err
	}
	return e.CountChat(msgs, fns), nil
}

type wireMessage struct {
	Role      string          `json:"role"`
	Name      string          `json:"name"`
	Content   json.RawMessage `json:"content"`
	ToolCalls []struct {
		Function struct {
			Name      string `json:"name"`
			Arguments string `json:"arguments"`
		} `json:"function"`
	} `json:"tool_calls"`
}

type wirePart struct {
	Type     string `json:"type"`
	Text     string `json:"text"`
	ImageURL struct {
		URL    string `json:"url"`
		Detail string `json:"detail"`
	} `json:"image_url"`
}

func decodeMessages(raw json.RawMessage) ([]Message, error) {
	if isNull(raw) {
		return nil, nil
	}
	var wire []wireMessage
	if err := json.Unmarshal(raw, &wire); err != nil {
		return nil, fmt.Errorf("decode chat messages: %w", err)
	}
	msgs := make([]Message, len(wire))
	for i, w := range wire {
		m := Message{Role: w.Role, Name: w.Name}
		switch content := bytes.TrimSpace(w.Content); {
		case isNull(content):
		case content[0] == '"':
			var s string
			if err := json.Unmarshal(content, &s); err != nil {
				return nil, fmt.Errorf("decode content of message %d: %w", i, err)
			}
			m.Text = []string{s}
		default:
			var parts []wirePart
			if err := json.Unmarshal(content, &parts); err != nil {
				return nil, fmt.Errorf("decode content parts of message %d: %w", i, err)
			}
			for _, p := range parts {
				switch p.Type {
				case "text":
					m.Text = append(m.Text, p.Text)
				case "image_url":
					m.Images = append(m.Images, Image{URL: p.ImageURL.URL, Detail: p.ImageURL.Detail})
				}
				// Audio and file parts are not estimated: their cost
				// depends on the media's length, which needs decoding.
			}
		}
		for _, tc := range w.ToolCalls {
			m.ToolCalls = append(m.ToolCalls, ToolCall{Name: tc.Function.Name, Arguments: tc.Function.Arguments})
		}
		msgs[i] = m
	}
	return msgs, nil
}

func decodeTools(raw json.RawMessage) ([]Function, error) {
	if isNull(raw) {
		return nil, nil
	}
	var wire []struct {
		Type     string   `json:"type"`
		Function Function `json:"function"`
	}
	if err := json.Unmarshal(raw, &wire); err != nil {
		return nil, fmt.Errorf("decode chat tools: %w", err)
	}
	fns := make([]Function, 0, len(wire))
	for _, w := range wire {
		if w.Type == "function" || w.Type == "" {
			fns = append(fns, w.Function)
		}
	}
	return fns, nil
}

// Tool formula constants from the cookbook; only function-start differs
// between the two encodings' model families.
const (
	toolPropInit  = 3
	toolPropKey   = 3
	toolEnumInit  = -3
	toolEnumItem  = 3
	toolFuncEnd   = 12
	toolFuncInitO = 7  // gpt-4o family (o200k)
	toolFuncInitC = 10 // gpt-4 / gpt-3.5 (cl100k)
)

type wireSchema struct {
	Properties map[string]json.RawMessage `json:"properties"`
}

// countTools follows the cookbook's num_tokens_for_tools: per function a
// start cost and "name:description"; per property "key:type:description"
// and its enum values.
func (e Encoding) countTools(fns []Function) int {
	funcInit := toolFuncInitO
	if e.vocab() == cl100kBase {
		funcInit = toolFuncInitC
	}
	n := 0
	for _, f := range fns {
		n += funcInit + e.Count(f.Name+":"+strings.TrimSuffix(f.Description, "."))
		var schema wireSchema
		if !isNull(f.Parameters) {
			if err := json.Unmarshal(f.Parameters, &schema); err != nil {
				// Not an object schema: still charge for its text.
				n += e.Count(compactJSON(f.Parameters))
				continue
			}
		}
		if len(schema.Properties) == 0 {
			continue
		}
		n += toolPropInit
		for key, raw := range schema.Properties {
			n += toolPropKey + e.countProperty(key, raw)
		}
	}
	return n + toolFuncEnd
}

func (e Encoding) countProperty(key string, raw json.RawMessage) int {
	var prop map[string]json.RawMessage
	if err := json.Unmarshal(raw, &prop); err != nil {
		return e.Count(key + ":" + compactJSON(raw))
	}
	n := 0
	typ := jsonString(prop["type"])
	desc := strings.TrimSuffix(jsonString(prop["description"]), ".")
	if enumRaw, ok := prop["enum"]; ok {
		var items []json.RawMessage
		if json.Unmarshal(enumRaw, &items) == nil {
			n += toolEnumInit
			for _, it := range items {
				n += toolEnumItem + e.Count(jsonString(it))
			}
		}
	}
	n += e.Count(key + ":" + typ + ":" + desc)
	// Nested schemas (items, properties, anyOf, …) are outside the
	// cookbook's formula; their JSON text is a fair, slightly high estimate.
	for k, v := range prop {
		switch k {
		case "type", "description", "enum":
		default:
			n += e.Count(k) + e.Count(compactJSON(v))
		}
	}
	return n
}

// ImageTokens estimates the prompt tokens of one image (gpt-4o family
// costs): 85 for low detail; otherwise 85 + 170 per 512 px tile after the
// image is fitted into 2048×2048 and its short side scaled down to 768, when
// the size can be read from an inline data: URL, else 765.
func ImageTokens(img Image) int {
	if strings.EqualFold(img.Detail, "low") {
		return imageBase
	}
	w, h, ok := dataURLSize(img.URL)
	if !ok {
		return imageUnknown
	}
	return imageBase + imagePerTile*tiles(w, h)
}

func tiles(w, h int) int {
	if w <= 0 || h <= 0 {
		return 0
	}
	fw, fh := float64(w), float64(h)
	if fw > 2048 || fh > 2048 {
		s := 2048 / max(fw, fh)
		fw, fh = fw*s, fh*s
	}
	if short := min(fw, fh); short > 768 {
		s := 768 / short
		fw, fh = fw*s, fh*s
	}
	return ceilDiv(fw, 512) * ceilDiv(fh, 512)
}

func ceilDiv(x, d float64) int {
	n := int(x / d)
	if float64(n)*d < x {
		n++
	}
	return n
}

// dataURLSize reads the dimensions of a base64 data: URL image. Only the
// image header is decoded, so a large inline image costs little.
func dataURLSize(url string) (w, h int, ok bool) {
	rest, found := strings.CutPrefix(url, "data:")
	if !found {
		return 0, 0, false
	}
	meta, payload, found := strings.Cut(rest, ",")
	if !found || !strings.HasSuffix(meta, ";base64") {
		return 0, 0, false
	}
	dec := base64.NewDecoder(base64.StdEncoding, strings.NewReader(payload))
	cfg, _, err := image.DecodeConfig(io.LimitReader(dec, 1<<20))
	if err != nil {
		return 0, 0, false
	}
	return cfg.Width, cfg.Height, true
}

func isNull(raw []byte) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) == 0 || string(raw) == "null"
}

// jsonString returns raw as a string: a JSON string is unquoted, anything
// else (an array of types, a number) is kept as its compact JSON.
func jsonString(raw json.RawMessage) string {
	if isNull(raw) {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	return compactJSON(raw)
}

func compactJSON(raw json.RawMessage) string {
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return string(raw)
	}
	return buf.String()
}
