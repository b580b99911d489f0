package tokens

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"image"
	"image/png"
	"testing"
)

// The cookbook's example conversation; OpenAI's API reported 129 prompt
// tokens for it on gpt-4/gpt-3.5-turbo and 124 on gpt-4o/gpt-4o-mini.
const cookbookMessages = `[
  {"role": "system", "content": "You are a helpful, pattern-following assistant that translates corporate jargon into plain English."},
  {"role": "system", "name": "example_user", "content": "New synergies will help drive top-line growth."},
  {"role": "system", "name": "example_assistant", "content": "Things working well together will increase revenue."},
  {"role": "system", "name": "example_user", "content": "Let's circle back when we have more bandwidth to touch base on opportunities for increased leverage."},
  {"role": "system", "name": "example_assistant", "content": "Let's talk later when we're less busy about how to do better."},
  {"role": "user", "content": "This late pivot means we don't have time to boil the ocean for the client deliverable."}
]`

// The cookbook's tools example; the API reported 105 prompt tokens on
// gpt-4/gpt-3.5-turbo and 101 on gpt-4o/gpt-4o-mini.
const (
	cookbookToolMessages = `[
  {"role": "system", "content": "You are a helpful assistant that can answer to questions about the weather."},
  {"role": "user", "content": "What's the weather like in San Francisco?"}
]`
	cookbookTools = `[{
  "type": "function",
  "function": {
    "name": "get_current_weather",
    "description": "Get the current weather in a given location",
    "parameters": {
      "type": "object",
      "properties": {
        "location": {"type": "string", "description": "The city and state, e.g. San Francisco, CA"},
        "unit": {"type": "string", "description": "The unit of temperature to return", "enum": ["celsius", "fahrenheit"]}
      },
      "required": ["location"]
    }
  }
}]`
)

func TestCountChatJSONPublished(t *testing.T) {
	tests := []struct {
		name            string
		messages, tools string
		model           string
		want            int
	}{
		{"messages gpt-4", cookbookMessages, "", "gpt-4", 129},
		{"messages gpt-3.5", cookbookMessages, "", "gpt-3.5-turbo", 129},
		{"messages gpt-4o", cookbookMessages, "", "gpt-4o", 124},
		{"messages gpt-4o-mini", cookbookMessages, "null", "gpt-4o-mini", 124},
		{"tools gpt-4", cookbookToolMessages, cookbookTools, "gpt-4", 105},
		{"tools gpt-4o", cookbookToolMessages, cookbookTools, "gpt-4o", 101},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var tools json.RawMessage
			if tt.tools != "" {
				tools = json.RawMessage(tt.tools)
			}
			got, err := ForModel(tt.model).CountChatJSON(json.RawMessage(tt.messages), tools)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("CountChatJSON = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestCountChatStructMatchesJSON(t *testing.T) {
	enc := O200k()
	msgs := []Message{
		{Role: "system", Text: []string{"Be brief."}},
		{Role: "user", Name: "alice", Text: []string{"What is in this image?", "Answer in French."},
			Images: []Image{{URL: "https://example.com/cat.png", Detail: "low"}}},
		{Role: "assistant", ToolCalls: []ToolCall{{Name: "lookup", Arguments: `{"q":"cat"}`}}},
		{Role: "tool", Text: []string{"a cat"}},
	}
	raw := `[
	  {"role":"system","content":"Be brief."},
	  {"role":"user","name":"alice","content":[
	    {"type":"text","text":"What is in this image?"},
	    {"type":"image_url","image_url":{"url":"https://example.com/cat.png","detail":"low"}},
	    {"type":"text","text":"Answer in French."}]},
	  {"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"lookup","arguments":"{\"q\":\"cat\"}"}}]},
	  {"role":"tool","tool_call_id":"call_1","content":"a cat"}
	]`
	fromJSON, err := enc.CountChatJSON(json.RawMessage(raw), nil)
	if err != nil {
		t.Fatal(err)
	}
	fromStruct := enc.CountChat(msgs, nil)
	if fromJSON != fromStruct {
		t.Errorf("CountChatJSON = %d, CountChat = %d", fromJSON, fromStruct)
	}
	// Independent arithmetic: 4 messages × 3 + roles + name (+1) + texts +
	// low-detail image + tool call text + 3 for the reply.
	want := 4*3 + enc.Count("system") + enc.Count("user") + enc.Count("assistant") + enc.Count("tool") +
		1 + enc.Count("alice") + enc.Count("Be brief.") + enc.Count("What is in this image?") +
		enc.Count("Answer in French.") + 85 + enc.Count("lookup") + enc.Count(`{"q":"cat"}`) + enc.Count("a cat") + 3
	if fromStruct != want {
		t.Errorf("CountChat = %d, want %d", fromStruct, want)
	}
}

func TestCountChatJSONErrors(t *testing.T) {
	tests := []struct{ name, messages, tools string }{
		{"messages not an array", `{"role":"user"}`, ""},
		{"content a number", `[{"role":"user","content":5}]`, ""},
		{"tools not an array", `[]`, `{"type":"function"}`},
	}
	for _, tt := range tests {
		var tools json.RawMessage
		if tt.tools != "" {
			tools = json.RawMessage(tt.tools)
		}
		if _, err := O200k().CountChatJSON(json.RawMessage(tt.messages), tools); err == nil {
			t.Errorf("%s: no error", tt.name)
		}
	}
}

func pngDataURL(t *testing.T, w, h int) string {
	t.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, image.NewGray(image.Rect(0, 0, w, h))); err != nil {
		t.Fatal(err)
	}
	return "data:image/png;base64," + base64.StdEncoding.EncodeToString(buf.Bytes())
}

// Tile counts follow OpenAI's vision guide examples: 1024×1024 high → 765,
// 2048×4096 high → 1105 (scaled to 768×1536, 6 tiles), low → 85.
func TestImageTokens(t *testing.T) {
	tests := []struct {
		name string
		img  Image
		want int
	}{
		{"low detail", Image{URL: pngDataURL(t, 4000, 4000), Detail: "low"}, 85},
		{"1024 square high", Image{URL: pngDataURL(t, 1024, 1024), Detail: "high"}, 765},
		{"2048x4096 high", Image{URL: pngDataURL(t, 2048, 4096), Detail: "high"}, 1105},
		{"small auto", Image{URL: pngDataURL(t, 300, 200)}, 85 + 170},
		{"remote URL", Image{URL: "https://example.com/x.png", Detail: "high"}, 765},
		{"bad base64", Image{URL: "data:image/png;base64,!!!!", Detail: "high"}, 765},
		{"not base64", Image{URL: "data:image/svg+xml,<svg/>"}, 765},
	}
	for _, tt := range tests {
		if got := ImageTokens(tt.img); got != tt.want {
			t.Errorf("%s: ImageTokens = %d, want %d", tt.name, got, tt.want)
		}
	}
}
